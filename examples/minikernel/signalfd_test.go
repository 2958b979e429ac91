package minikernel

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/syscalls"
)

// signalfd makes a signalfd for mask through signalfd4 with raw arguments.
func (g *guest) signalfd(fd uintptr, mask uint64, flags int) (uintptr, unix.Errno) {
	g.put(maskArg, binary.LittleEndian.AppendUint64(nil, mask))
	return g.sys(SysSignalfd4, fd, maskArg, 8, uintptr(flags))
}

// TestSignalfd4Errors: signalfd4's errnos in Linux's order (checked on
// Linux 6.18: sizemask, then the mask's fault, then flags, then the fd),
// and the fdinfo line of a signalfd (SIGKILL and SIGSTOP dropped).
func TestSignalfd4Errors(t *testing.T) {
	k := newTestKernel(t, Options{})
	g := newGuest(t, k.Sys, nil)
	efd := g.must(syscalls.AMD64Eventfd2, 0, 0)
	for _, c := range []struct {
		name string
		args [4]uintptr
		want unix.Errno
	}{
		{"sizemask", [4]uintptr{^uintptr(0), 0, 4, 0xffff}, unix.EINVAL},
		{"mask fault before flags", [4]uintptr{^uintptr(0), 0, 8, 0xffff}, unix.EFAULT},
		{"flags before fd", [4]uintptr{999, maskArg, 8, 0xffff}, unix.EINVAL},
		{"bad fd", [4]uintptr{999, maskArg, 8, 0}, unix.EBADF},
		{"not a signalfd", [4]uintptr{efd, maskArg, 8, 0}, unix.EINVAL},
	} {
		if _, e := g.sys(SysSignalfd4, c.args[0], c.args[1], c.args[2], c.args[3]); e != c.want {
			t.Errorf("%s: signalfd4 = %v, want %v", c.name, e, c.want)
		}
	}
	sfd, e := g.signalfd(^uintptr(0), sigUSR1|1<<(35-1)|1<<63|1<<(unix.SIGKILL-1), unix.SFD_NONBLOCK)
	if e != 0 {
		t.Fatal(e)
	}
	info, _ := syscalls.FDInfo(g.t, int32(sfd))
	if want := "sigmask:\t8000000400000200\n"; len(info) < len(want) || info[len(info)-len(want):] != want {
		t.Errorf("fdinfo:\n%s\nwant it to end with %q (Linux 6.18's)", info, want)
	}
	if _, e := g.sys(syscalls.AMD64Write, sfd, readBuf, 8); e != unix.EINVAL {
		t.Errorf("write: %v, want EINVAL", e)
	}
	if _, e := g.sys(syscalls.AMD64Read, sfd, readBuf, SiginfoSize-1); e != unix.EINVAL {
		t.Errorf("short read: %v, want EINVAL", e)
	}
}

// TestSignalfdEpoll: a signalfd for SIGUSR1 (blocked) watched
// level-triggered, edge-triggered and one-shot: a signal becoming pending
// is an edge (also a signal outside the mask, which Linux's
// signalfd_notify announces too, while one of the mask is pending); a
// read takes it (no handler runs) and ends the level. Replacing the mask
// through signalfd4 on the fd wakes its waiters.
func TestSignalfdEpoll(t *testing.T) {
	k := newTestKernel(t, Options{})
	g := newGuest(t, k.Sys, nil)
	g.t.SetSignalMask(sigUSR1 | sigUSR2)
	sfd, e := g.signalfd(^uintptr(0), sigUSR1, unix.SFD_NONBLOCK)
	if e != 0 {
		t.Fatal(e)
	}
	lt, et, one := g.epollCreate(), g.epollCreate(), g.epollCreate()
	g.mustCtl(lt, unix.EPOLL_CTL_ADD, sfd, epollIn, 1)
	g.mustCtl(et, unix.EPOLL_CTL_ADD, sfd, epollIn|epollET, 2)
	g.mustCtl(one, unix.EPOLL_CTL_ADD, sfd, epollIn|epollOne, 3)
	g.t.Interrupt(int(unix.SIGUSR2)) // outside the mask: not ready
	for _, ep := range []uintptr{lt, et, one} {
		g.mustWait(ep, 0)
	}
	g.t.Interrupt(int(unix.SIGUSR1))
	g.mustWait(lt, 0, event{evIn, 1})
	g.mustWait(lt, 0, event{evIn, 1})
	g.mustWait(et, 0, event{evIn, 2})
	g.mustWait(et, 0)
	g.mustWait(one, 0, event{evIn, 3})
	g.mustWait(one, 0)
	g.t.DequeueSignal(sigUSR2)
	g.t.Interrupt(int(unix.SIGUSR2)) // a new pending signal: an edge while USR1 is pending
	g.mustWait(et, 0, event{evIn, 2})
	g.mustWait(one, 0)

	if n := g.must(syscalls.AMD64Read, sfd, readBuf, 2*SiginfoSize); n != SiginfoSize || g.u32(readBuf) != uint32(unix.SIGUSR1) {
		t.Fatalf("read %d bytes, ssi_signo %d", n, g.u32(readBuf))
	}
	if g.t.Delivered(int(unix.SIGUSR1)) != 0 || g.t.PendingSignals() != sigUSR2 {
		t.Errorf("after the read: delivered %d, pending %#x", g.t.Delivered(int(unix.SIGUSR1)), g.t.PendingSignals())
	}
	g.mustWait(lt, 0)
	if _, e := g.sys(syscalls.AMD64Read, sfd, readBuf, SiginfoSize); e != unix.EAGAIN {
		t.Errorf("empty read: %v", e)
	}
	// signalfd4 on the fd: USR2 (pending) joins the mask, a new edge.
	if r, e := g.signalfd(sfd, sigUSR1|sigUSR2, 0); r != sfd || e != 0 {
		t.Fatalf("signalfd4(%d) = %d %v", sfd, r, e)
	}
	g.mustWait(et, 0, event{evIn, 2})
	g.mustWait(lt, 0, event{evIn, 1})
}

// TestSignalfdBlockingRead: a blocking read sleeps until another goroutine
// sends a signal of the mask; a signal outside it that the mask does not
// block interrupts it (ERESTARTSYS: EINTR with its handler run, a restart
// with SA_RESTART).
func TestSignalfdBlockingRead(t *testing.T) {
	k := newTestKernel(t, Options{})
	g := newGuest(t, k.Sys, nil)
	g.t.SetSignalMask(sigUSR1)
	sfd, _ := g.signalfd(^uintptr(0), sigUSR1, 0)
	done := g.start(syscalls.AMD64Read, sfd, readBuf, SiginfoSize)
	settle()
	g.t.Interrupt(int(unix.SIGUSR1))
	if r := <-done; r.e != 0 || r.r != SiginfoSize || g.u32(readBuf) != uint32(unix.SIGUSR1) {
		t.Fatalf("read = %d %v, ssi_signo %d", r.r, r.e, g.u32(readBuf))
	}
	for _, restart := range []uint64{0, sigHUP} {
		g.t.SetRestartSignals(restart)
		done = g.start(syscalls.AMD64Read, sfd, readBuf, SiginfoSize)
		settle()
		g.t.Interrupt(int(unix.SIGHUP))
		want := unix.EINTR
		if restart != 0 {
			want = syscalls.ErrRestart
		}
		if r := <-done; r.e != want || g.t.SignalsDelivered() != sigHUP {
			t.Errorf("SA_RESTART %#x: read = %v, handlers %#x; want %v", restart, r.e, g.t.SignalsDelivered(), want)
		}
	}
}
