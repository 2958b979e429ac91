package hostfd

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// Batched datagram I/O (recvmmsg, sendmmsg) on imported datagram and
// seqpacket sockets, for embedders that move packets. A Batch holds the
// message headers and iovecs, reused from call to call (no allocation once
// it has grown to the largest batch). A call blocks until it moves at
// least one message or stop is closed; with a nil stop it blocks until
// then (or fails at once with EAGAIN when the File is O_NONBLOCK).

// ErrStopped is returned when the stop channel closes first.
var ErrStopped = errors.New("hostfd: stopped")

// Batch is reusable scratch for RecvMmsg and SendMmsg; one goroutine at a
// time.
type Batch struct {
	hdrs []unix.Mmsghdr
	iovs []unix.Iovec
	wake chanWaker
	ent  waiter.Entry
}

// chanWaker posts a token on a channel.
type chanWaker chan struct{}

func (c chanWaker) Wake(waiter.EventMask) bool {
	select {
	case c <- struct{}{}:
	default:
	}
	return true
}

func (b *Batch) prepare(bufs [][]byte) {
	if cap(b.hdrs) < len(bufs) {
		b.hdrs = make([]unix.Mmsghdr, len(bufs))
		b.iovs = make([]unix.Iovec, len(bufs))
	}
	b.hdrs, b.iovs = b.hdrs[:len(bufs)], b.iovs[:len(bufs)]
	for i, buf := range bufs {
		b.iovs[i] = unix.Iovec{}
		if len(buf) > 0 {
			b.iovs[i].Base = &buf[0]
			b.iovs[i].SetLen(len(buf))
		}
		b.hdrs[i] = unix.Mmsghdr{}
		b.hdrs[i].Hdr.Iov = &b.iovs[i]
		b.hdrs[i].Hdr.SetIovlen(1)
	}
}

// RecvMmsg receives up to len(bufs) datagrams into bufs, writing each
// one's length to sizes (len(sizes) >= len(bufs)), and returns how many
// arrived. A datagram longer than its buffer is truncated, as recvmmsg
// does.
func (b *Batch) RecvMmsg(f *fs.File, bufs [][]byte, sizes []int, stop <-chan struct{}) (int, error) {
	_, h := hostOf(f)
	if h == nil || h.kind != KindSocket {
		return 0, unix.ENOTSOCK
	}
	if len(bufs) == 0 {
		return 0, nil
	}
	if len(sizes) < len(bufs) || len(bufs) > 1024 {
		return 0, unix.EINVAL
	}
	b.prepare(bufs)
	for {
		h.peer.begin(gOut)
		r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(h.fd), uintptr(unsafe.Pointer(&b.hdrs[0])),
			uintptr(len(b.hdrs)), unix.MSG_DONTWAIT, 0, 0)
		mode := endNone
		if e == 0 && r > 0 {
			mode = endVerify
		}
		h.peer.end(gOut, keySockOut, mode, false)
		h.afterOp(gIn, e)
		if e == 0 {
			for i := 0; i < int(r); i++ {
				sizes[i] = int(b.hdrs[i].Len)
			}
			return int(r), nil
		}
		if e != unix.EAGAIN || f.Nonblocking() {
			return 0, e
		}
		if err := b.wait(f, h, waiter.EventIn|waiter.EventErr|waiter.EventHUp, stop); err != nil {
			return 0, err
		}
	}
}

// SendMmsg sends bufs as datagrams and returns how many were sent.
func (b *Batch) SendMmsg(f *fs.File, bufs [][]byte, stop <-chan struct{}) (int, error) {
	_, h := hostOf(f)
	if h == nil || h.kind != KindSocket {
		return 0, unix.ENOTSOCK
	}
	if len(bufs) == 0 {
		return 0, nil
	}
	if len(bufs) > 1024 {
		return 0, unix.EINVAL
	}
	b.prepare(bufs)
	for {
		h.peer.begin(gIn | gPri)
		r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(h.fd), uintptr(unsafe.Pointer(&b.hdrs[0])),
			uintptr(len(b.hdrs)), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, 0, 0)
		mode := endNone
		if e == 0 && r > 0 {
			mode = endNotify
		}
		h.peer.end(gIn|gPri, keySockIn, mode, false)
		h.afterOp(gOut, e)
		if e == 0 {
			return int(r), nil
		}
		if e != unix.EAGAIN || f.Nonblocking() {
			return 0, e
		}
		if err := b.wait(f, h, waiter.EventOut|waiter.EventErr|waiter.EventHUp, stop); err != nil {
			return 0, err
		}
	}
}

// wait blocks until f reports one of mask, a wakeup arrives, or stop
// closes.
func (b *Batch) wait(f *fs.File, h *hostFile, mask waiter.EventMask, stop <-chan struct{}) error {
	if b.wake == nil {
		b.wake = make(chanWaker, 1)
		b.ent.Init(b.wake, false, false)
	}
	select {
	case <-b.wake:
	default:
	}
	f.EventRegister(&b.ent)
	defer f.EventUnregister(&b.ent)
	if h.readiness()&mask != 0 {
		return nil
	}
	select {
	case <-b.wake:
		return nil
	case <-stop:
		return ErrStopped
	}
}
