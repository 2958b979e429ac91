package hostfd

import (
	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// The fs.Impl of each kind. They share hostFile and differ in the
// interfaces the syscall layer looks for (fs.Socket for sockets,
// fs.TimerFile for timerfds, fs.FixedSizeIO for eventfds and timerfds) and in the wakeups an
// operation owes a local peer or the file itself.

func newImpl(h *hostFile) fs.Impl {
	if !h.pollable {
		return &plainImpl{base{h}}
	}
	switch h.kind {
	case KindPipe:
		return &pipeImpl{common{base{h}}}
	case KindSocket:
		return &socketImpl{common{base{h}}}
	case KindEventfd:
		return &eventfdImpl{common{base{h}}}
	case KindTimerfd:
		return &timerfdImpl{common{base{h}}}
	}
	return &otherImpl{common{base{h}}}
}

// base holds the methods every imported file has.
type base struct{ h *hostFile }

// common adds the poll operations (fs.Pollable) of every pollable kind.
type common struct{ base }

func (c base) Release(*fs.File) { c.h.release() }

func (c common) Readiness(_ *fs.File, _ waiter.EventMask) waiter.EventMask {
	return c.h.readiness()
}

func (c common) EventRegister(_ *fs.File, e *waiter.Entry)   { c.h.register(e) }
func (c common) EventUnregister(_ *fs.File, e *waiter.Entry) { c.h.unregister(e) }

// CanDirectIO implements fs.DirectIO: the host decides (its
// FMODE_CAN_ODIRECT), asked by setting O_DIRECT on the host fd and putting
// the flags back; the next write applies what the File says.
func (c base) CanDirectIO(*fs.File) bool {
	cur := c.h.hostFL.Load()
	if setFL(c.h.fd, unix.O_NONBLOCK|cur|unix.O_DIRECT) != 0 {
		return false
	}
	setFL(c.h.fd, unix.O_NONBLOCK|cur)
	return true
}

// host returns the bridge state (see File).
func (c base) host() *hostFile { return c.h }

// otherImpl is a pollable fd of no kind the bridge knows (a tty, an epoll
// fd, /proc/self/mounts).
type otherImpl struct{ common }

func (o otherImpl) Read(f *fs.File, dst []byte) (int, error) { return o.readv(f, dst, nil) }

func (o otherImpl) Write(f *fs.File, src []byte) (int, error) { return o.writev(f, src, nil) }

// ReadSeq implements fs.SequenceIO.
func (o otherImpl) ReadSeq(f *fs.File, dst fs.IOSequence) (int, error) { return readSeq(o, f, dst) }

// WriteSeq implements fs.SequenceIO.
func (o otherImpl) WriteSeq(f *fs.File, src fs.IOSequence) (int, error) { return writeSeq(o, f, src) }

func (o otherImpl) readv(_ *fs.File, dst []byte, vec [][]byte) (int, error) {
	n, e := o.h.read(dst, vec)
	return n, errOf(e)
}

func (o otherImpl) writev(f *fs.File, src []byte, vec [][]byte) (int, error) {
	n, e := o.h.write(f, src, vec)
	return n, errOf(e)
}

// pipeImpl is one end of a host pipe (or a FIFO). It is an fs.SequenceIO
// (seqio.go), not an fs.BlockingIO: the syscall layer retries after
// waiting, as for the other host kinds, and a blocked task waits on the
// queue as a plain waiter, not an exclusive one as on a Linux pipe (doc.go,
// "Blocking").
type pipeImpl struct{ common }

// ReadSeq implements fs.SequenceIO.
func (p pipeImpl) ReadSeq(f *fs.File, dst fs.IOSequence) (int, error) { return readSeq(p, f, dst) }

// WriteSeq implements fs.SequenceIO.
func (p pipeImpl) WriteSeq(f *fs.File, src fs.IOSequence) (int, error) { return writeSeq(p, f, src) }

// Read reads from the pipe. A read wakes the writer when the writer had
// seen the pipe full (Linux: when the read frees a slot of a full pipe).
func (p pipeImpl) Read(f *fs.File, dst []byte) (int, error) { return p.readv(f, dst, nil) }

// Write writes to the pipe: what fits (all or nothing up to PIPE_BUF), as
// a non-blocking pipe_write; a blocking caller waits on the queue and
// writes the rest. Each write that wrote something wakes the reader.
func (p pipeImpl) Write(f *fs.File, src []byte) (int, error) { return p.writev(f, src, nil) }

func (p pipeImpl) readv(_ *fs.File, dst []byte, vec [][]byte) (int, error) {
	peer := p.h.peer
	peer.begin(gOut)
	n, e := p.h.read(dst, vec)
	mode := endNone
	if n > 0 {
		mode = endArmed
	}
	peer.end(gOut, keyPipeOut, mode, false)
	return n, errOf(e)
}

func (p pipeImpl) writev(f *fs.File, src []byte, vec [][]byte) (int, error) {
	peer := p.h.peer
	peer.begin(gIn)
	n, e := p.h.write(f, src, vec)
	mode := endNone
	if n > 0 {
		mode = endNotify
	}
	peer.end(gIn, keyPipeIn, mode, false)
	return n, errOf(e)
}

// socketImpl is a host socket.
type socketImpl struct{ common }

// ReadSeq implements fs.SequenceIO.
func (s socketImpl) ReadSeq(f *fs.File, dst fs.IOSequence) (int, error) { return readSeq(s, f, dst) }

// WriteSeq implements fs.SequenceIO.
func (s socketImpl) WriteSeq(f *fs.File, src fs.IOSequence) (int, error) { return writeSeq(s, f, src) }

// Read reads from the socket; consuming data wakes the local peer (the
// sender) if it is writable, as freeing an skb does.
func (s socketImpl) Read(f *fs.File, dst []byte) (int, error) { return s.readv(f, dst, nil) }

func (s socketImpl) readv(f *fs.File, dst []byte, vec [][]byte) (int, error) {
	h := s.h
	h.peer.begin(gOut)
	n, e := h.read(dst, vec)
	mode := endNone
	if e == 0 && (n > 0 || h.sockType != unix.SOCK_STREAM) {
		mode = endVerify
	}
	h.peer.end(gOut, keySockOut, mode, false)
	if e == unix.EAGAIN && h.sockType != unix.SOCK_STREAM && !f.Nonblocking() &&
		poll0(h.fd)&waiter.EventRdHUp != 0 {
		// A blocking datagram read on a socket shut for reading returns
		// 0; the host fd is non-blocking and says EAGAIN.
		return 0, nil
	}
	return n, errOf(e)
}

// Write writes to the socket; data wakes the local peer (the receiver).
func (s socketImpl) Write(f *fs.File, src []byte) (int, error) { return s.writev(f, src, nil) }

func (s socketImpl) writev(f *fs.File, src []byte, vec [][]byte) (int, error) {
	h := s.h
	h.peer.begin(gIn | gPri)
	h.begin(gOut)
	n, e := h.write(f, src, vec)
	mode := endNone
	if e == 0 && (n > 0 || h.sockType != unix.SOCK_STREAM) {
		mode = endNotify
	}
	h.peer.end(gIn|gPri, keySockIn, mode, false)
	mode = endNone
	if e == unix.ECONNREFUSED {
		// A datagram send that finds its peer gone disconnects and wakes
		// its own queue.
		mode = endNotify
	}
	h.end(gOut, keySockOut, mode, false)
	return n, errOf(e)
}

// Shutdown implements fs.Shutdowner.
func (s socketImpl) Shutdown(_ *fs.File, how int) error {
	h := s.h
	peer := h.peer
	if h.sockType == unix.SOCK_DGRAM {
		peer = nil
	}
	h.begin(gAll)
	peer.begin(gAll)
	err := unix.Shutdown(int(h.fd), how)
	mode := endNotify
	if err != nil {
		mode = endNone
	}
	h.end(gAll, 0, mode, true)
	peer.end(gAll, 0, mode, true)
	return err
}

// Type implements fs.Socket.
func (s socketImpl) Type() int { return s.h.sockType }

// Outq implements fs.Socket (SIOCOUTQ).
func (s socketImpl) Outq() int { return ioctlInt(s.h.fd, unix.SIOCOUTQ) }

// Inq implements fs.Socket (SIOCINQ).
func (s socketImpl) Inq() int { return ioctlInt(s.h.fd, unix.SIOCINQ) }

// eventfdImpl is a host eventfd.
type eventfdImpl struct{ common }

func (e eventfdImpl) Read(f *fs.File, dst []byte) (int, error) { return e.readv(f, dst, nil) }

// IOSize implements fs.FixedSizeIO: eventfd reads and writes a uint64.
func (e eventfdImpl) IOSize() int { return 8 }

func (e eventfdImpl) readv(_ *fs.File, dst []byte, vec [][]byte) (int, error) {
	e.h.begin(gOut)
	n, er := e.h.read(dst, vec)
	mode := endNone
	if er == 0 {
		mode = endNotify
	}
	e.h.end(gOut, keyEventOut, mode, false)
	return n, errOf(er)
}

func (e eventfdImpl) Write(f *fs.File, src []byte) (int, error) { return e.writev(f, src, nil) }

func (e eventfdImpl) writev(f *fs.File, src []byte, vec [][]byte) (int, error) {
	e.h.begin(gIn)
	n, er := e.h.write(f, src, vec)
	mode := endNone
	if er == 0 {
		mode = endNotify
	}
	e.h.end(gIn, keyEventIn, mode, false)
	return n, errOf(er)
}

// timerfdImpl is a host timerfd. timerfd_settime and timerfd_gettime go
// to the host.
type timerfdImpl struct{ common }

func (t timerfdImpl) Read(f *fs.File, dst []byte) (int, error) { return t.readv(f, dst, nil) }

func (t timerfdImpl) Write(f *fs.File, src []byte) (int, error) { return t.writev(f, src, nil) }

// IOSize implements fs.FixedSizeIO: a timerfd reads a uint64.
func (t timerfdImpl) IOSize() int { return 8 }

func (t timerfdImpl) readv(_ *fs.File, dst []byte, vec [][]byte) (int, error) {
	n, e := t.h.read(dst, vec)
	return n, errOf(e)
}

func (t timerfdImpl) writev(f *fs.File, src []byte, vec [][]byte) (int, error) {
	n, e := t.h.write(f, src, vec)
	return n, errOf(e)
}

// SetTime implements fs.TimerFile.
func (t timerfdImpl) SetTime(_ *fs.File, flags uint32, value, interval int64) (int64, int64, error) {
	nv := unix.ItimerSpec{Value: unix.NsecToTimespec(value), Interval: unix.NsecToTimespec(interval)}
	var old unix.ItimerSpec
	if err := unix.TimerfdSettime(int(t.h.fd), int(flags), &nv, &old); err != nil {
		return 0, 0, err
	}
	// settime resets the expiry count: IN may have dropped, so re-arm it,
	// and an already expired timer is reported at once.
	t.h.readiness()
	return old.Value.Nano(), old.Interval.Nano(), nil
}

// GetTime implements fs.TimerFile.
func (t timerfdImpl) GetTime(*fs.File) (int64, int64) {
	var cur unix.ItimerSpec
	if err := unix.TimerfdGettime(int(t.h.fd), &cur); err != nil {
		return 0, 0
	}
	return cur.Value.Nano(), cur.Interval.Nano()
}

// plainImpl is a host fd that Linux's epoll refuses (epoll_ctl ADD says
// EPERM: a regular file, a directory, /dev/null): it is not fs.Pollable,
// so the model's epoll_ctl refuses it with EPERM too, and it has no
// poller slot. Reads and writes go to the host as for the other kinds.
type plainImpl struct{ base }

func (p plainImpl) Read(f *fs.File, dst []byte) (int, error) { return p.readv(f, dst, nil) }

func (p plainImpl) Write(f *fs.File, src []byte) (int, error) { return p.writev(f, src, nil) }

// ReadSeq implements fs.SequenceIO.
func (p plainImpl) ReadSeq(f *fs.File, dst fs.IOSequence) (int, error) { return readSeq(p, f, dst) }

// WriteSeq implements fs.SequenceIO.
func (p plainImpl) WriteSeq(f *fs.File, src fs.IOSequence) (int, error) { return writeSeq(p, f, src) }

func (p plainImpl) readv(_ *fs.File, dst []byte, vec [][]byte) (int, error) {
	n, e := p.h.read(dst, vec)
	return n, errOf(e)
}

func (p plainImpl) writev(f *fs.File, src []byte, vec [][]byte) (int, error) {
	n, e := p.h.write(f, src, vec)
	return n, errOf(e)
}
