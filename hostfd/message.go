package hostfd

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// sendto and recvfrom with flags on host sockets (fs.MessageIO): the
// host's sendto and recvfrom, through the staging of seqio.go, with the
// caller's MSG_OOB and MSG_PEEK (and any other flag) passed on, always
// with MSG_DONTWAIT (blocking is the syscall layer's) and, for sends,
// MSG_NOSIGNAL (the model raises no SIGPIPE). A receive with MSG_OOB
// consumes PRI, any other IN; a send consumes OUT. The local peer gets the
// wakeups of a read or write.
//
// A stream receive with MSG_PEEK peeks at most one staging buffer
// (64 KiB), where Linux peeks up to the guest's length.

// messageOp is one sendto or recvfrom: a hostImpl whose readv and writev
// are recvfrom and sendto with the call's flags and address, so that
// readSeq and writeSeq stage it as they stage a read or write.
type messageOp struct {
	socketImpl
	flags int
	to    []byte // sendto's destination sockaddr; nil: none
	from  []byte // recvfrom's sender, nil when unbound or unnamed
}

// messageOps recycles messageOps: a sendto or recvfrom allocates nothing
// (but a sender's name).
var messageOps = sync.Pool{New: func() any { return new(messageOp) }}

func newMessageOp(s socketImpl, flags int, to []byte) *messageOp {
	op := messageOps.Get().(*messageOp)
	*op = messageOp{socketImpl: s, flags: flags, to: to}
	return op
}

func (m *messageOp) free() {
	*m = messageOp{}
	messageOps.Put(m)
}

// SendSeq implements fs.MessageIO.
func (s socketImpl) SendSeq(f *fs.File, src fs.IOSequence, flags int, addr []byte) (int, error) {
	op := newMessageOp(s, flags, addr)
	defer op.free()
	return writeSeq(op, f, src)
}

// RecvSeq implements fs.MessageIO.
func (s socketImpl) RecvSeq(f *fs.File, dst fs.IOSequence, flags int) (int, []byte, error) {
	op := newMessageOp(s, flags, nil)
	defer op.free()
	var n int
	var err error
	if flags&unix.MSG_PEEK != 0 && !s.h.dgram() && dst.Len() > 0 {
		// One peek: readSeq's loop would peek the same bytes again.
		stage := stagePool.Get().(*[stageSize]byte)
		n, err = readMessage(op, f, dst, stage[:])
		stagePool.Put(stage)
	} else {
		n, err = readSeq(op, f, dst)
	}
	return n, op.from, err
}

// consumed is the group a receive lowers: PRI for MSG_OOB, else IN.
func (m *messageOp) consumed() waiter.EventMask {
	if m.flags&unix.MSG_OOB != 0 {
		return gPri
	}
	return gIn
}

func (m *messageOp) readv(f *fs.File, dst []byte, _ [][]byte) (int, error) {
	h := m.h
	h.peer.begin(gOut)
	var sa unix.RawSockaddrUnix
	salen := uint32(unsafe.Sizeof(sa))
	var p unsafe.Pointer
	if len(dst) > 0 {
		p = unsafe.Pointer(&dst[0])
	}
	r, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(h.fd), uintptr(p), uintptr(len(dst)),
		uintptr(m.flags|unix.MSG_DONTWAIT), uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&salen)))
	h.afterOp(m.consumed(), e)
	n := int(r)
	mode := endNone
	if e == 0 && m.flags&unix.MSG_PEEK == 0 && (n > 0 || h.sockType != unix.SOCK_STREAM) {
		mode = endVerify
	}
	h.peer.end(gOut, keySockOut, mode, false)
	if e == unix.EAGAIN && h.sockType != unix.SOCK_STREAM && !f.Nonblocking() &&
		m.flags&unix.MSG_DONTWAIT == 0 && poll0(h.fd)&waiter.EventRdHUp != 0 {
		return 0, nil // as socketImpl.readv: a blocking read of a shut socket
	}
	if e != 0 {
		return 0, e
	}
	m.from = sunPath(&sa, salen)
	return n, nil
}

func (m *messageOp) writev(f *fs.File, src []byte, _ [][]byte) (int, error) {
	h := m.h
	h.syncFlags(f)
	h.peer.begin(gIn | gPri)
	h.begin(gOut)
	var p, to unsafe.Pointer
	var tolen uintptr
	if len(src) > 0 {
		p = unsafe.Pointer(&src[0])
	}
	var sa [128]byte // sockaddr_storage; the syscall layer caps the length
	if m.to != nil {
		n := copy(sa[:], m.to)
		to, tolen = unsafe.Pointer(&sa[0]), uintptr(n)
	}
	r, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(h.fd), uintptr(p), uintptr(len(src)),
		uintptr(m.flags|unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL), uintptr(to), tolen)
	h.afterOp(gOut, e)
	n := int(r)
	mode := endNone
	if e == 0 && (n > 0 || h.sockType != unix.SOCK_STREAM) {
		mode = endNotify
	}
	h.peer.end(gIn|gPri, keySockIn, mode, false)
	mode = endNone
	if e == unix.ECONNREFUSED {
		mode = endNotify // as socketImpl.writev
	}
	h.end(gOut, keySockOut, mode, false)
	if e != 0 {
		return 0, e
	}
	return n, nil
}
