package syscalls_test

import (
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
	"github.com/guestpoll/guestpoll/syscalls"
)

// A signalfd written outside the module, from the exported API only: the
// task's signal queue (SignalRegister) is its wait queue, PendingSignals
// its readiness and DequeueSignal its read. It reads the signals of the
// task it was made for (not the calling thread's: the file has no way to
// learn the caller). The package serves signalfd4 itself (signalfd.go),
// so this one is registered at a number nothing uses.

const (
	amd64Signalfd4 = 500 // the embedder's signalfd4

	siginfoSize     = 128 // sizeof(struct signalfd_siginfo)
	sfdFlagsAllowed = unix.SFD_CLOEXEC | unix.SFD_NONBLOCK
)

type signalfd struct {
	task *syscalls.Task
	mask uint64
}

// Read is signalfd_read: EINVAL for a buffer smaller than one siginfo,
// then one siginfo per pending signal in the mask, EAGAIN if none.
func (s *signalfd) Read(_ *fs.File, dst []byte) (int, error) {
	n := 0
	for len(dst)-n >= siginfoSize {
		sig := s.task.DequeueSignal(s.mask)
		if sig == 0 {
			break
		}
		clear(dst[n : n+siginfoSize])
		binary.LittleEndian.PutUint32(dst[n:], uint32(sig))
		n += siginfoSize
	}
	switch {
	case len(dst) < siginfoSize:
		return 0, unix.EINVAL
	case n == 0:
		return 0, unix.EAGAIN
	}
	return n, nil
}

func (s *signalfd) Write(*fs.File, []byte) (int, error) { return 0, unix.EINVAL }
func (s *signalfd) Release(*fs.File)                    {}

func (s *signalfd) Readiness(_ *fs.File, _ waiter.EventMask) waiter.EventMask {
	if s.task.PendingSignals()&s.mask != 0 {
		return waiter.EventIn
	}
	return 0
}

func (s *signalfd) EventRegister(_ *fs.File, e *waiter.Entry)   { s.task.SignalRegister(e) }
func (s *signalfd) EventUnregister(_ *fs.File, e *waiter.Entry) { s.task.SignalUnregister(e) }

// signalfd4 serves signalfd4(-1, mask, 8, flags) (a new signalfd only):
// sizemask (EINVAL), flags (EINVAL), the mask (EFAULT), in Linux's order.
func signalfd4(t *syscalls.Task, a [6]uintptr) (uintptr, unix.Errno) {
	if a[2] != 8 {
		return 0, unix.EINVAL
	}
	flags := uint32(int32(a[3]))
	if flags&^sfdFlagsAllowed != 0 || int32(a[0]) != -1 {
		return 0, unix.EINVAL
	}
	var b [8]byte
	if t.Memory().CopyIn(uint64(a[1]), b[:]) != nil {
		return 0, unix.EFAULT
	}
	mask := binary.LittleEndian.Uint64(b[:]) &^ (1<<(unix.SIGKILL-1) | 1<<(unix.SIGSTOP-1))
	f := fs.New(&signalfd{task: t, mask: mask}, unix.O_RDWR|flags&unix.O_NONBLOCK)
	n, err := t.FDTable().Install(f, 0, flags&unix.SFD_CLOEXEC != 0)
	if err != nil {
		f.DecRef()
		return 0, err.(unix.Errno)
	}
	return uintptr(n), 0
}

// sfdSetup blocks SIGUSR1, SIGUSR2 and mask and makes a signalfd for mask,
// and an epoll instance watching it with events.
func sfdSetup(t *testing.T, mask uint64, flags uintptr, events uint32) (x *ext, sfd, ep uintptr) {
	x = newExt(t, syscalls.AMD64)
	x.k.RegisterSyscall(syscalls.AMD64, amd64Signalfd4, signalfd4)
	x.t.SetSignalMask(sigUSR1 | sigUSR2 | mask)
	x.putU64(extBase, mask)
	sfd = x.must(amd64Signalfd4, ^uintptr(0), extBase, 8, flags)
	ep = x.must(syscalls.AMD64EpollCreate1, 0)
	x.putEvent(extBase+0x100, events, 77)
	x.must(syscalls.AMD64EpollCtl, ep, unix.EPOLL_CTL_ADD, sfd, extBase+0x100)
	return x, sfd, ep
}

func (x *ext) must(nr uintptr, args ...uintptr) uintptr {
	x.tb.Helper()
	var a [6]uintptr
	copy(a[:], args)
	r, e := x.t.Syscall(nr, a)
	if e != 0 {
		x.tb.Fatalf("syscall %d%v: %s", nr, args, errName(e))
	}
	return r
}

func (x *ext) putU64(addr uint64, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	if err := x.mem.CopyOut(addr, b[:]); err != nil {
		x.tb.Fatal(err)
	}
}

// putEvent writes an amd64 struct epoll_event (packed, data at 4).
func (x *ext) putEvent(addr uint64, events uint32, data uint64) {
	var b [12]byte
	binary.LittleEndian.PutUint32(b[:], events)
	binary.LittleEndian.PutUint64(b[4:], data)
	if err := x.mem.CopyOut(addr, b[:]); err != nil {
		x.tb.Fatal(err)
	}
}

func (x *ext) u32(addr uint64) uint32 {
	var b [4]byte
	if err := x.mem.CopyIn(addr, b[:]); err != nil {
		x.tb.Fatal(err)
	}
	return binary.LittleEndian.Uint32(b[:])
}

// TestSignalfdWakesBlockedEpollWait: an epoll_wait blocked with no timeout
// on a foreign signalfd is woken by a signal another goroutine sends; the
// read takes it (the signal is not delivered to a handler), and the
// signalfd is not ready afterwards.
func TestSignalfdWakesBlockedEpollWait(t *testing.T) {
	x, sfd, ep := sfdSetup(t, sigUSR1|sigUSR2, unix.SFD_NONBLOCK, unix.EPOLLIN)
	if n := x.must(syscalls.AMD64EpollWait, ep, extBase+0x200, 4, 0); n != 0 {
		t.Fatalf("ready before any signal: %d", n)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		x.t.Interrupt(int(unix.SIGUSR2))
	}()
	if n := x.must(syscalls.AMD64EpollWait, ep, extBase+0x200, 4, ^uintptr(0)); n != 1 {
		t.Fatalf("epoll_wait: %d events", n)
	}
	if ev, data := x.u32(extBase+0x200), x.u32(extBase+0x204); ev != unix.EPOLLIN || data != 77 {
		t.Errorf("event %#x data %d", ev, data)
	}
	if n := x.must(syscalls.AMD64Read, sfd, extBase+0x400, 2*siginfoSize); n != siginfoSize {
		t.Fatalf("read %d bytes", n)
	}
	if sig := x.u32(extBase + 0x400); sig != uint32(unix.SIGUSR2) {
		t.Errorf("ssi_signo %d", sig)
	}
	if x.t.PendingSignals() != 0 || x.t.Delivered(int(unix.SIGUSR2)) != 0 || x.t.SignalsDelivered() != 0 {
		t.Errorf("pending %#x, delivered %d", x.t.PendingSignals(), x.t.Delivered(int(unix.SIGUSR2)))
	}
	if n := x.must(syscalls.AMD64EpollWait, ep, extBase+0x200, 4, 0); n != 0 {
		t.Errorf("ready after the read: %d", n)
	}
	if _, e := x.t.Syscall(syscalls.AMD64Read, [6]uintptr{sfd, extBase + 0x400, siginfoSize}); e != unix.EAGAIN {
		t.Errorf("empty read: %s", errName(e))
	}
	if _, e := x.t.Syscall(syscalls.AMD64Read, [6]uintptr{sfd, extBase + 0x400, 10}); e != unix.EINVAL {
		t.Errorf("short read: %s", errName(e))
	}
}

// TestSignalfdEdges: with EPOLLET, every signal that becomes pending is
// a new edge while a signal of the mask is pending, even one outside the
// mask (Linux wakes the signalfd queue for any signal), but a standard
// signal sent again while pending is not (Linux neither queues nor
// notifies it), while a real-time one is. Checked on Linux 6.18 with a
// signalfd for SIGUSR1 and SIGRTMIN+1 under EPOLLET, SIGUSR2 blocked:
// USR2 0, USR1 1, nothing 0, USR1 again 0, USR2 (after taking it) 1,
// RT 1, RT again 1.
func TestSignalfdEdges(t *testing.T) {
	const rt = 35
	x, _, ep := sfdSetup(t, sigUSR1|1<<(rt-1), unix.SFD_NONBLOCK, unix.EPOLLIN|unix.EPOLLET)
	steps := []struct {
		sig  int
		want uintptr
	}{
		{int(unix.SIGUSR2), 0}, {int(unix.SIGUSR1), 1}, {0, 0}, {int(unix.SIGUSR1), 0},
		{-int(unix.SIGUSR2), 1}, {rt, 1}, {rt, 1},
	}
	for i, s := range steps {
		switch {
		case s.sig < 0: // take it first, then send it again
			if got := x.t.DequeueSignal(1 << (-s.sig - 1)); got != -s.sig {
				t.Fatalf("DequeueSignal: %d", got)
			}
			x.t.Interrupt(-s.sig)
		case s.sig > 0:
			x.t.Interrupt(s.sig)
		}
		if n := x.must(syscalls.AMD64EpollWait, ep, extBase+0x200, 4, 0); n != s.want {
			t.Errorf("step %d (signal %d): %d events, want %d", i, s.sig, n, s.want)
		}
	}
}

// TestSignalfdBlockingRead: a blocking read of the signalfd sleeps on the
// task's signal queue until another goroutine sends a signal in its mask;
// a signal outside the mask that is not blocked interrupts it (EINTR from
// ERESTARTSYS, with the handler run).
func TestSignalfdBlockingRead(t *testing.T) {
	x, sfd, _ := sfdSetup(t, sigUSR1|sigUSR2, 0, unix.EPOLLIN)
	go func() {
		time.Sleep(20 * time.Millisecond)
		x.t.Interrupt(int(unix.SIGUSR1))
	}()
	if n := x.must(syscalls.AMD64Read, sfd, extBase+0x400, siginfoSize); n != siginfoSize || x.u32(extBase+0x400) != uint32(unix.SIGUSR1) {
		t.Fatalf("read %d bytes, signal %d", n, x.u32(extBase+0x400))
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		x.t.Interrupt(int(unix.SIGHUP))
	}()
	if _, e := x.t.Syscall(syscalls.AMD64Read, [6]uintptr{sfd, extBase + 0x400, siginfoSize}); e != unix.EINTR || x.t.SignalsDelivered() != sigHUP {
		t.Errorf("interrupted read: %s, delivered %#x", errName(e), x.t.SignalsDelivered())
	}
}

// pendingIn is a Waitable of the embedder's: the task's signal queue, ready
// when a signal of set is pending.
type pendingIn struct {
	t   *syscalls.Task
	set uint64
}

func (p *pendingIn) Readiness(waiter.EventMask) waiter.EventMask {
	if p.t.PendingSignals()&p.set != 0 {
		return waiter.EventIn
	}
	return 0
}

func (p *pendingIn) EventRegister(e *waiter.Entry)   { p.t.SignalRegister(e) }
func (p *pendingIn) EventUnregister(e *waiter.Entry) { p.t.SignalUnregister(e) }

// waitSignal serves "waitsig(set)": it takes the lowest pending signal of
// set, sleeping on the task's signal queue until there is one; another
// signal (one the mask does not block) ends it with EINTR.
func waitSignal(t *syscalls.Task, a [6]uintptr) (uintptr, unix.Errno) {
	on := &pendingIn{t, uint64(a[0])}
	for {
		if sig := t.DequeueSignal(on.set); sig != 0 {
			return uintptr(sig), 0
		}
		if e := t.Block(on, syscalls.Wait{Mask: waiter.EventIn, Interrupted: unix.EINTR}); e != 0 {
			return 0, e
		}
	}
}

// TestBlockOnSignalQueue: a handler sleeps on the task's signal queue (a
// Waitable of its own) until another goroutine sends a blocked signal it
// waits for, which it takes; an unblocked signal interrupts it.
func TestBlockOnSignalQueue(t *testing.T) {
	x := newExt(t, syscalls.AMD64)
	x.k.RegisterSyscall(syscalls.AMD64, 400, waitSignal)
	x.t.SetSignalMask(sigUSR1)
	go func() {
		time.Sleep(20 * time.Millisecond)
		x.t.Interrupt(int(unix.SIGUSR1))
	}()
	if sig, e := x.t.Syscall(400, [6]uintptr{sigUSR1}); sig != uintptr(unix.SIGUSR1) || e != 0 {
		t.Errorf("waitsig: %d %s", sig, errName(e))
	}
	if x.t.PendingSignals() != 0 || x.t.SignalsDelivered() != 0 {
		t.Errorf("pending %#x delivered %#x", x.t.PendingSignals(), x.t.SignalsDelivered())
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		x.t.Interrupt(int(unix.SIGHUP))
	}()
	if _, e := x.t.Syscall(400, [6]uintptr{sigUSR1}); e != unix.EINTR || x.t.SignalsDelivered() != sigHUP {
		t.Errorf("interrupted waitsig: %s, delivered %#x", errName(e), x.t.SignalsDelivered())
	}
}
