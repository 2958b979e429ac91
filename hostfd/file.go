package hostfd

import (
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// Event groups: the unit of arming (doc.go, "The bridge"). A group is
// reported once, then stays disarmed until its level is seen low.
const (
	gIn     = waiter.EventIn | waiter.EventRdNorm
	gPri    = waiter.EventPri | waiter.EventRdBand
	gOut    = waiter.EventOut | waiter.EventWrNorm | waiter.EventWrBand
	gRdHUp  = waiter.EventRdHUp
	gHUpErr = waiter.EventHUp | waiter.EventErr
	gMsg    = waiter.EventMsg
	gAll    = gIn | gPri | gOut | gRdHUp | gHUpErr | gMsg
)

// groupsOf returns the union of the groups that m touches.
func groupsOf(m waiter.EventMask) waiter.EventMask {
	var g waiter.EventMask
	for _, x := range [...]waiter.EventMask{gIn, gPri, gOut, gRdHUp, gHUpErr, gMsg} {
		if m&x != 0 {
			g |= x
		}
	}
	return g
}

// Wakeup keys, as Linux's files pass them to their wait queues.
const (
	keyPipeIn   = waiter.EventIn | waiter.EventRdNorm
	keyPipeOut  = waiter.EventOut | waiter.EventWrNorm
	keySockIn   = waiter.EventIn | waiter.EventPri | waiter.EventRdNorm | waiter.EventRdBand
	keySockOut  = waiter.EventOut | waiter.EventWrNorm | waiter.EventWrBand
	keyEventIn  = waiter.EventIn
	keyEventOut = waiter.EventOut
)

// Kind is what an imported host fd is.
type Kind int

// The kinds of host fds the bridge knows. KindOther is any other fd: a
// pollable one if Linux's epoll accepts it (a tty, an epoll fd,
// /proc/self/mounts), else a non-pollable one (a regular file, a
// directory, /dev/null: no fs.Pollable, doc.go "Pollability").
const (
	KindOther Kind = iota
	KindPipe
	KindSocket
	KindEventfd
	KindTimerfd
)

func (k Kind) String() string {
	return [...]string{"other", "pipe", "socket", "eventfd", "timerfd"}[k]
}

// hostFile is the state every imported fd has; the Impl types of
// impls.go embed it.
type hostFile struct {
	b        *Bridge
	kind     Kind
	sockType int // SOCK_STREAM etc. for KindSocket

	// fd is the host fd. Set at import; set to -1 by release under mu.
	// Operations of the owner (callers holding a File reference) read it
	// without mu, because release cannot run while they hold one; anyone
	// else (a peer's operation, the poller) reads it under mu and checks
	// closed.
	fd int32

	queue waiter.Queue

	// hostFL is the O_APPEND|O_DIRECT part of the status flags last set on
	// the host fd (the guest changes them with F_SETFL on the File; a
	// write applies them first).
	hostFL atomic.Uint32

	// peer is the other end of a pipe or socketpair this package created,
	// nil for an fd imported alone. Immutable.
	peer *hostFile

	// shard and slot place the fd in one poller. Immutable.
	shard *shard
	slot  int32

	// rdMu serialises the message reads of the model that size their
	// buffer by a peek (seqio.go, readMessage).
	rdMu sync.Mutex

	mu sync.Mutex
	// armed holds the groups the poller may report.
	// +checklocks:mu
	armed waiter.EventMask
	// waiters counts EventRegister calls not yet undone.
	// +checklocks:mu
	waiters int
	// life is where the file is between import and close (lifecycle).
	// +checklocks:mu
	life lifecycle
	// ops counts the embedder's operations in flight (Do).
	// +checklocks:mu
	ops int
	// pollable: Linux's epoll accepts the fd (epoll_ctl ADD does not say
	// EPERM). A file that is not has no poller slot. Immutable.
	pollable bool
	// busy holds the groups that operations in flight (busyN of them)
	// will report themselves: the poller leaves them alone meanwhile, so
	// that one host event is never reported twice.
	// +checklocks:mu
	busy waiter.EventMask
	// +checklocks:mu
	busyN int
	// everFast: the fast shard has watched the fd (bridge.go). Set under
	// mu and the home shard's mu; read under mu.
	everFast bool

	// Edge mode only (Options.Notifier NotifyEpoll, edge.go).
	// echo holds the gEvery groups the model reported itself (end) whose
	// host wakeup the edge poller has not harvested yet; missed holds the
	// groups of host edges harvested while an operation had them busy.
	// +checklocks:mu
	echo waiter.EventMask
	// +checklocks:mu
	missed waiter.EventMask
	// eslot is the file's slot in the edge poller. Immutable.
	eslot int32
}

// lifecycle is where an imported fd is between Import and its close.
type lifecycle uint8

const (
	// lifeOpen: the File holds references; the fd is open.
	lifeOpen lifecycle = iota
	// lifeReleasing: the last reference was dropped while embedder
	// operations (Do) were running on the fd; the last of them to end
	// closes it (as Linux keeps a file open until the system calls that
	// hold it return).
	lifeReleasing
	// lifeClosed: released; the fd is closed, or being closed by the
	// one call that moved the file here.
	lifeClosed
)

// Errors of Import.
var (
	ErrBridgeClosed = errors.New("hostfd: bridge closed")
	ErrBadFD        = errors.New("hostfd: not an open host fd")
)

// ImportOptions adjust Import.
type ImportOptions struct {
	// Flags, when non-zero, replace the File's access mode and status
	// flags (O_RDONLY/O_WRONLY/O_RDWR, O_NONBLOCK, O_APPEND, O_DIRECT);
	// by default they are the host fd's own F_GETFL.
	Flags uint32
}

// Import makes host fd an fs.File of the model and takes ownership of it:
// from this call on, fd belongs to the bridge, which closes it exactly once,
// when the File's last reference is dropped. On error fd is closed too, so
// the caller never closes an fd it passed to Import.
//
// The File's access mode and status flags are the host fd's as Import
// found them (or opts.Flags); the host fd itself is made non-blocking and
// close-on-exec, whatever the File's O_NONBLOCK says.
func (b *Bridge) Import(fd int, opts ImportOptions) (*fs.File, error) {
	if fd < 0 || fd > 1<<31-1 {
		return nil, ErrBadFD
	}
	fl, e := getFL(int32(fd))
	if e != 0 {
		if e == unix.EBADF {
			return nil, ErrBadFD // not ours to close
		}
		closeFD(int32(fd))
		return nil, e
	}
	kind, sockType, err := classify(int32(fd))
	if err != nil {
		closeFD(int32(fd))
		return nil, err
	}
	if opts.Flags != 0 {
		fl = opts.Flags
	}
	return b.adopt(int32(fd), kind, sockType, fl&(fs.AccessModeMask|fs.StatusFlagsSettable), nil)
}

// classify finds what kind of file fd is.
func classify(fd int32) (Kind, int, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(fd), &st); err != nil {
		return 0, 0, err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFIFO:
		return KindPipe, 0, nil
	case unix.S_IFSOCK:
		t, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TYPE)
		if err != nil {
			return 0, 0, err
		}
		return KindSocket, t, nil
	}
	link, err := os.Readlink("/proc/self/fd/" + itoa(int(fd)))
	if err == nil {
		switch {
		case strings.HasPrefix(link, "anon_inode:[eventfd"):
			return KindEventfd, 0, nil
		case strings.HasPrefix(link, "anon_inode:[timerfd"):
			return KindTimerfd, 0, nil
		}
	}
	return KindOther, 0, nil
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// adopt wraps an owned host fd in a File with status flags fl. It closes fd
// on error.
func (b *Bridge) adopt(fd int32, kind Kind, sockType int, fl uint32, peer *hostFile) (*fs.File, error) {
	h, err := b.newHost(fd, kind, sockType, fl)
	if err != nil {
		return nil, err
	}
	h.peer = peer
	return h.file(fl), nil
}

// newHost sets up the bridge state of an owned host fd: non-blocking,
// close-on-exec, placed in a poller. It closes fd on error.
func (b *Bridge) newHost(fd int32, kind Kind, sockType int, fl uint32) (*hostFile, error) {
	hostFL := unix.O_NONBLOCK | fl&(unix.O_APPEND|unix.O_DIRECT)
	if e := setFL(fd, hostFL); e != 0 {
		closeFD(fd)
		return nil, e
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		closeFD(fd)
		return nil, err
	}
	// Armed: the groups that are low now. Whoever starts waiting checks
	// the level itself, so a group that is already high needs no report.
	h := &hostFile{b: b, kind: kind, sockType: sockType, fd: fd, pollable: kind != KindOther}
	h.armed = gAll &^ groupsOf(poll0(fd))
	h.hostFL.Store(fl & (unix.O_APPEND | unix.O_DIRECT))
	if err := b.attach(h); err != nil {
		closeFD(fd)
		return nil, err
	}
	return h, nil
}

// file returns the File of h with status flags fl.
func (h *hostFile) file(fl uint32) *fs.File { return fs.New(newImpl(h), fl) }

// release is the File's last reference going: it closes the host fd,
// exactly once, after the poller has stopped using its number. While the
// embedder's operations (Do) run on the fd, the close waits for the last
// of them, which calls teardown itself.
func (h *hostFile) release() {
	h.mu.Lock()
	if h.life != lifeOpen {
		h.mu.Unlock()
		return
	}
	if h.ops > 0 {
		h.life = lifeReleasing
		h.mu.Unlock()
		return
	}
	h.life = lifeClosed
	everFast := h.everFast
	h.mu.Unlock()
	h.teardown(everFast)
}

// teardown takes the fd out of its poller, closes it and gives the local
// peer the wakeups Linux's close gives. Called once, by whoever moved the
// file to lifeClosed; h.fd is still the open fd.
func (h *hostFile) teardown(everFast bool) {
	fd := h.fd
	h.b.detach(h, everFast)
	if h.kind == KindSocket {
		// unix_release_sock wakes the connects waiting for room.
		defer h.b.listeners.forget(h)
	}
	// Unread socket data is dropped by the close: Linux frees those skbs,
	// and each one wakes its sender if it is writable.
	unread := h.kind == KindSocket && ioctlInt(fd, unix.SIOCINQ) > 0

	p := h.peer
	p.begin(gAll)
	h.mu.Lock()
	h.fd = -1
	h.mu.Unlock()
	closeFD(fd)
	h.b.live.Add(-1)

	switch {
	case p == nil:
	case h.kind == KindPipe:
		// pipe_release wakes both queues of the pipe with key 0.
		p.end(gAll, 0, endNotify, true)
	case h.kind == KindSocket && h.sockType != unix.SOCK_DGRAM:
		p.end(gAll, 0, endNotify, true)
		if unread {
			p.event(gOut, keySockOut, endVerify, false)
		}
	case unread:
		p.end(gOut, keySockOut, endVerify, false)
	default:
		p.end(gAll, 0, endNone, false)
	}
}

// begin announces an operation that will report a change of groups of h
// itself (with end): until end, the poller does not report those groups,
// so the same host change is never reported twice. h may be nil.
func (h *hostFile) begin(groups waiter.EventMask) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.busy |= groups
	h.busyN++
	h.mu.Unlock()
}

// Modes of end.
const (
	endNone   = iota // the operation changed nothing: report nothing
	endNotify        // report unconditionally (Linux wakes whatever the level)
	endVerify        // report if some bit of groups is ready now
	endArmed         // report if the groups were armed and are ready now
)

// end finishes what begin started: depending on mode it disarms groups
// and notifies h's queue with key, synchronously, as Linux wakes the queue
// inside the system call. all selects NotifyAll (state changes, key 0).
func (h *hostFile) end(groups, key waiter.EventMask, mode int, all bool) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.busyN--
	if h.busyN == 0 {
		h.busy = 0
	}
	notify := h.life == lifeOpen && mode != endNone
	if notify && (mode == endVerify || mode == endArmed) {
		notify = h.waiters > 0 && (mode != endArmed || h.armed&groups != 0) &&
			poll0(h.fd)&groups != 0
	}
	if notify {
		// The host's own wakeup for this change is an echo for the
		// edge poller (edge.go).
		h.echo |= groups & gEvery
		if h.armed&groups != 0 {
			h.armed &^= groups
			h.pushLocked()
		}
	}
	var late waiter.EventMask
	if h.busyN == 0 && h.missed != 0 {
		late = h.lateLocked(groups, notify)
	}
	h.mu.Unlock()
	if late&gHUpErr != 0 {
		h.queue.NotifyAll(late)
	} else if late != 0 {
		h.queue.Notify(late)
	}
	if !notify {
		return
	}
	if all {
		h.queue.NotifyAll(key)
	} else {
		h.queue.Notify(key)
	}
}

// lateLocked returns the host edges the edge poller harvested while
// operations had their groups busy (h.missed) and that the operations did
// not report (notified says whether they reported groups): those still
// ready are reported now, so that no host edge is lost.
//
// +checklocks:h.mu
func (h *hostFile) lateLocked(groups waiter.EventMask, notified bool) waiter.EventMask {
	left := h.missed
	h.missed = 0
	if notified {
		left &^= groups
	}
	if left == 0 || h.life != lifeOpen {
		return 0
	}
	late := poll0(h.fd) & left
	h.armed &^= groupsOf(late)
	return late
}

// event is begin and end at once, for a change already made.
func (h *hostFile) event(groups, key waiter.EventMask, mode int, all bool) {
	h.begin(groups)
	h.end(groups, key, mode, all)
}

// readiness is Pollable.Readiness: a zero-timeout ppoll. It also re-arms
// every group that is low, so a later rise reaches the queue.
func (h *hostFile) readiness() waiter.EventMask {
	m := poll0(h.fd)
	h.rearmLow(m)
	return m
}

// rearmLow arms the groups that are not in m (the fd's readiness now).
func (h *hostFile) rearmLow(m waiter.EventMask) {
	low := gAll &^ groupsOf(m)
	h.mu.Lock()
	if h.life == lifeOpen && h.armed&low != low {
		h.armed |= low
		h.pushLocked()
	}
	h.mu.Unlock()
}

// afterOp keeps the arming right after the owner's read (g = gIn) or write
// (g = gOut), or an embedder's operation (Do): an EAGAIN proves the level
// low, so the group is armed, waiters or not (a waiter that registers
// later is then served by the poller as soon as the level rises); after a
// success the level is unknown, and a disarmed group is checked with a
// readiness query when someone waits.
func (h *hostFile) afterOp(g waiter.EventMask, e unix.Errno) {
	h.mu.Lock()
	if h.armed&g == g {
		h.mu.Unlock()
		return
	}
	if e == unix.EAGAIN {
		h.armed |= g
		h.pushLocked()
		h.mu.Unlock()
		return
	}
	waiting := h.waiters > 0
	h.mu.Unlock()
	if waiting {
		h.readiness()
	}
}

// pushLocked tells the poller what h now needs.
//
// +checklocks:h.mu
func (h *hostFile) pushLocked() {
	if h.shard != nil {
		h.shard.update(h.slot, h.wantLocked())
	}
}

// wantLocked is the pollfd the poller should watch for h: the events of
// the armed groups (none: HUP and ERR only), or nothing (fd -1) when
// nobody waits or HUP/ERR was reported (ppoll would report them again at once,
// and both are final states of pipes and sockets).
//
// +checklocks:h.mu
func (h *hostFile) wantLocked() unix.PollFd {
	if h.life != lifeOpen || h.waiters == 0 || h.armed&gHUpErr == 0 {
		return unix.PollFd{Fd: -1}
	}
	return unix.PollFd{Fd: h.fd, Events: int16(h.armed &^ gHUpErr)}
}

// polled is the poller's report that ppoll found revents on h.
func (h *hostFile) polled(revents waiter.EventMask) {
	h.mu.Lock()
	if h.life != lifeOpen {
		h.mu.Unlock()
		return
	}
	d := revents & h.armed &^ h.busy
	if revents&waiter.EventNVal != 0 {
		// Cannot happen while the bridge owns the fd; stop watching it.
		h.armed = 0
	}
	h.armed &^= groupsOf(d)
	if revents&gHUpErr&^h.busy != 0 {
		h.armed &^= gHUpErr
	}
	h.pushLocked()
	h.mu.Unlock()
	if d == 0 {
		return
	}
	if d&gHUpErr != 0 {
		h.queue.NotifyAll(d)
	} else {
		h.queue.Notify(d)
	}
}

// register hooks e on the file's queue. The first waiter makes the poller
// watch the fd; when a group is disarmed then (reported, and not seen low
// since, because nobody waited), a readiness query re-arms the groups that
// are low now, so that a waiter is woken by the next rise even if it did
// not check the level itself.
func (h *hostFile) register(e *waiter.Entry) {
	h.queue.Register(e)
	h.mu.Lock()
	h.waiters++
	check := false
	if h.waiters == 1 {
		h.pushLocked()
		check = h.armed != gAll
	}
	h.mu.Unlock()
	if check {
		h.readiness()
	}
}

func (h *hostFile) unregister(e *waiter.Entry) {
	h.queue.Unregister(e)
	h.mu.Lock()
	h.waiters--
	if h.waiters == 0 {
		h.pushLocked()
	}
	h.mu.Unlock()
}

// syncFlags applies the File's O_APPEND and O_DIRECT to the host fd before
// a write, when F_SETFL changed them.
func (h *hostFile) syncFlags(f *fs.File) {
	want := f.StatusFlags() & (unix.O_APPEND | unix.O_DIRECT)
	if h.hostFL.Load() != want {
		if setFL(h.fd, unix.O_NONBLOCK|want) == 0 {
			h.hostFL.Store(want)
		}
	}
}

// read is the non-blocking read every kind shares: of dst, or of vec when
// it is not nil (readv).
func (h *hostFile) read(dst []byte, vec [][]byte) (int, unix.Errno) {
	var n int
	var e unix.Errno
	if vec != nil {
		n, e = rawVec(unix.SYS_READV, h.fd, vec)
	} else {
		n, e = rawRead(h.fd, dst)
	}
	h.afterOp(gIn, e)
	return n, e
}

// write is the non-blocking write every kind shares (writev with vec).
func (h *hostFile) write(f *fs.File, src []byte, vec [][]byte) (int, unix.Errno) {
	h.syncFlags(f)
	var n int
	var e unix.Errno
	if vec != nil {
		n, e = rawVec(unix.SYS_WRITEV, h.fd, vec)
	} else {
		n, e = rawWrite(h.fd, src)
	}
	h.afterOp(gOut, e)
	return n, e
}
