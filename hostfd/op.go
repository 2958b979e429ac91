package hostfd

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// Do runs op, the embedder's own operation on the host fd of the imported
// file f (accept4 on a listener, recvmsg with control data, sendmsg, an
// ioctl: anything the model's read and write do not cover), and keeps the
// bridge's view of f's readiness right, as the model's own reads and
// writes do. It returns op's error unchanged.
//
// hostFD is open for the whole of op: Do holds f's fd open even if f's
// last reference is dropped meanwhile (the close then happens when op
// returns, as Linux closes a file only once the system calls using it have
// returned). op must not close hostFD, dup it into something that outlives
// op, or change its O_NONBLOCK (host fds stay non-blocking); a blocking
// operation belongs to the syscall layer, which sleeps on f's queue.
//
// consumes names the readiness op may lower, that is the groups whose
// EAGAIN (or EWOULDBLOCK) from op proves them low:
//
//   - waiter.ReadableEvents (IN) for an operation that takes input:
//     accept4, recvmsg, recvmmsg, read;
//   - waiter.WritableEvents (OUT) for one that gives output: sendmsg,
//     sendmmsg, write;
//   - waiter.EventPri for recv with MSG_OOB;
//   - 0 for one that changes no readiness (a query ioctl, getsockopt).
//
// After op, for each named group, an error that is (or wraps) EAGAIN
// re-arms the group, exactly as a model read or write that sees EAGAIN
// does, so that the next rise reaches f's queue (an edge-triggered guest
// that accepts until EAGAIN through Do gets the next connection's edge);
// any other result, with someone waiting, checks the level with a
// readiness query. Changes op makes to groups it does not name (an
// eventfd read raising OUT) reach the queue as host changes do, through
// the poller.
// When f is one end of a pipe or socketpair this package created, op's
// effect on the other end is reported to that end's queue when it ends,
// as the model's read (IN) and write (OUT) report theirs.
//
// The caller holds a reference on f. Do panics if f is not an imported
// host fd, if f was already released, or if op is nil.
func Do(f *fs.File, consumes waiter.EventMask, op func(hostFD int) error) (err error) {
	_, h := hostOf(f)
	if h == nil {
		panic("hostfd.Do: the file is not an imported host fd")
	}
	if op == nil {
		panic("hostfd.Do: nil operation")
	}
	fd := h.beginOp()
	defer h.endOp()
	groups := groupsOf(consumes) & (gIn | gPri | gOut)
	h.peer.begin(peerGroups(groups))
	returned := false
	defer func() {
		if !returned { // op panicked: end what began, report nothing
			h.endPeer(groups, false)
		}
	}()
	err = op(int(fd))
	returned = true
	e := errnoOf(err)
	for _, g := range [...]waiter.EventMask{gIn, gPri, gOut} {
		if groups&g != 0 {
			h.afterOp(g, e)
		}
	}
	h.endPeer(groups, err == nil)
	return err
}

// peerGroups returns the groups of a local peer that an operation
// consuming groups may raise: input taken frees the writer's space, output
// given is the reader's input.
func peerGroups(groups waiter.EventMask) waiter.EventMask {
	var p waiter.EventMask
	if groups&(gIn|gPri) != 0 {
		p |= gOut
	}
	if groups&gOut != 0 {
		p |= gIn | gPri
	}
	return p
}

// endPeer ends what Do's peer.begin started: when op succeeded, the local
// peer's raised groups are reported with the keys the model's read and
// write of this kind use, if they are ready now.
func (h *hostFile) endPeer(groups waiter.EventMask, ok bool) {
	p := h.peer
	if p == nil {
		return
	}
	mode := endNone
	if ok {
		mode = endVerify
	}
	keyIn, keyOut := keySockIn, keySockOut
	if h.kind == KindPipe {
		keyIn, keyOut = keyPipeIn, keyPipeOut
	}
	if groups&(gIn|gPri) != 0 {
		p.end(gOut, keyOut, mode, false)
	}
	if groups&gOut != 0 {
		p.end(gIn|gPri, keyIn, mode, false)
	}
}

// errnoOf returns the errno in err (err itself, without allocating, or
// one it wraps), or 0.
func errnoOf(err error) unix.Errno {
	switch e := err.(type) {
	case nil:
		return 0
	case unix.Errno:
		return e
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

// beginOp counts an embedder operation in flight and returns the open fd.
func (h *hostFile) beginOp() int32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.life != lifeOpen {
		panic("hostfd.Do: the file was already released (the caller must hold a reference)")
	}
	h.ops++
	return h.fd
}

// endOp ends an operation begun by beginOp; the last one to end after
// the file's release closes the fd.
func (h *hostFile) endOp() {
	h.mu.Lock()
	h.ops--
	last := h.ops == 0 && h.life == lifeReleasing
	if last {
		h.life = lifeClosed
	}
	everFast := h.everFast
	h.mu.Unlock()
	if last {
		h.teardown(everFast)
	}
}
