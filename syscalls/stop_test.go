package syscalls

import (
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// stopCall runs call on x's task with a Stop that comes before the call
// (early) or, most likely, while it is blocked (from another goroutine),
// and returns the result, which must not depend on which.
func stopCall(x *tt, early bool, id sysID, args ...uintptr) (uintptr, unix.Errno) {
	if early {
		x.t.Stop()
	} else {
		go func() {
			time.Sleep(20 * time.Millisecond)
			x.t.Stop()
		}()
	}
	n, e := x.call(id, args...)
	if !x.t.Stopped() {
		x.tb.Fatalf("the call returned without a Stop")
	}
	x.t.Continue()
	return n, e
}

// TestStopEndsBlockedCalls checks what each blocking call returns when
// Stop ends it, as Linux 6.18 returns them after SIGSTOP and SIGCONT with
// no handlers: the epoll waits EINTR, reads, writes and polls that did
// nothing restart (ErrRestart), a write that did part returns its count.
func TestStopEndsBlockedCalls(t *testing.T) {
	for _, early := range []bool{true, false} {
		x := newTT(t, AMD64)
		ep := x.epoll()
		r, w := x.pipe()
		x.ctl(ep, 1, r, unix.EPOLLIN, 7)
		efd := x.eventfd(0, 0)
		buf := uintptr(memBase + 0x1000)
		mask := uint64(memBase + 0x260)
		x.putU64(mask, 1<<(unix.SIGUSR1-1))
		pfd := uint64(memBase + 0x300)
		x.putU32(pfd, uint32(r), unix.POLLIN)
		ts := uint64(memBase + 0x340)
		x.putU64(ts, 3600, 0)
		sv := uint64(memBase + 0x380)
		x.must(sysSocketpair, unix.AF_UNIX, unix.SOCK_STREAM, 0, uintptr(sv))
		a := uintptr(binary.LittleEndian.Uint32(x.get(sv, 4)))
		iov := uint64(memBase + 0x400)
		x.putU64(iov, uint64(buf), 8)
		const big, bigLen = 0x100000, 0x40000
		if err := x.mem.Map(big, bigLen); err != nil {
			t.Fatal(err)
		}

		for _, c := range []struct {
			name string
			id   sysID
			args []uintptr
			want unix.Errno
		}{
			{"epoll_wait", sysEpollWait, []uintptr{ep, buf, 1, neg(-1)}, unix.EINTR},
			{"epoll_wait timeout", sysEpollWait, []uintptr{ep, buf, 1, 3600e3}, unix.EINTR},
			{"epoll_pwait", sysEpollPwait, []uintptr{ep, buf, 1, neg(-1), uintptr(mask), 8}, unix.EINTR},
			{"epoll_pwait2", sysEpollPwait2, []uintptr{ep, buf, 1, 0, 0, 0}, unix.EINTR},
			{"read pipe", sysRead, []uintptr{r, buf, 8}, ErrRestart},
			{"read eventfd", sysRead, []uintptr{efd, buf, 8}, ErrRestart},
			{"read socket", sysRead, []uintptr{a, buf, 8}, ErrRestart},
			{"readv pipe", sysReadv, []uintptr{r, uintptr(iov), 1}, ErrRestart},
			{"poll", sysPoll, []uintptr{uintptr(pfd), 1, neg(-1)}, ErrRestart},
			{"poll timeout", sysPoll, []uintptr{uintptr(pfd), 1, 3600e3}, ErrRestart},
			{"ppoll", sysPpoll, []uintptr{uintptr(pfd), 1, uintptr(ts), uintptr(mask), 8}, ErrRestart},
		} {
			n, e := stopCall(x, early, c.id, c.args...)
			if n != 0 || e != c.want {
				t.Errorf("early %v: %s = %d %s, want %s", early, c.name, n, sx(e), sx(c.want))
			}
			if m := x.t.SignalMask(); m != 0 {
				t.Errorf("early %v: %s left mask %#x", early, c.name, m)
			}
		}
		// A blocking write fills the pipe, then the stop ends it with the
		// count written so far; with the pipe full, the next one restarts.
		n, e := stopCall(x, early, sysWrite, w, big, bigLen)
		if n != 65536 || e != 0 {
			t.Errorf("early %v: write of %d = %d %s, want 65536", early, bigLen, n, sx(e))
		}
		if n, e := stopCall(x, early, sysWrite, w, memBase, 1); n != 0 || e != ErrRestart {
			t.Errorf("early %v: write to a full pipe = %d %s, want ErrRestart", early, n, sx(e))
		}
		// Calls that need not block run as usual while stopped.
		x.t.Stop()
		if n, e := x.call(sysReadv, r, uintptr(iov), 0); n != 0 || e != 0 {
			t.Errorf("early %v: readv of nothing while stopped = %d %s", early, n, sx(e))
		}
		if n, e := x.call(sysEpollWait, ep, buf, 1, neg(-1)); n != 1 || e != 0 {
			t.Errorf("early %v: ready epoll_wait while stopped = %d %s", early, n, sx(e))
		}
		if n, e := x.call(sysRead, r, buf, 8); n != 8 || e != 0 {
			t.Errorf("early %v: read of a full pipe while stopped = %d %s", early, n, sx(e))
		}
		x.t.Continue()
		if x.t.Delivered(int(unix.SIGUSR1)) != 0 || x.t.PendingSignals() != 0 {
			t.Errorf("early %v: a stop delivered or left signals", early)
		}
	}
}

// TestStopWithSignal checks that a signal delivered by a stopped call
// makes it EINTR (its handler runs), not a restart.
func TestStopWithSignal(t *testing.T) {
	x := newTT(t, AMD64)
	r, _ := x.pipe()
	x.t.Stop()
	x.t.Interrupt(int(unix.SIGUSR1))
	if n, e := x.call(sysRead, r, memBase, 8); n != 0 || e != unix.EINTR {
		t.Errorf("read = %d %s, want EINTR", n, sx(e))
	}
	if x.t.Delivered(int(unix.SIGUSR1)) != 1 {
		t.Error("the signal was not delivered")
	}
	// The next call delivers nothing: a stop alone restarts it.
	if n, e := x.call(sysRead, r, memBase, 8); n != 0 || e != ErrRestart {
		t.Errorf("read = %d %s, want ErrRestart", n, sx(e))
	}
	// A blocked signal does not count.
	x.t.SetSignalMask(1 << (unix.SIGUSR2 - 1))
	x.t.Interrupt(int(unix.SIGUSR2))
	if n, e := x.call(sysRead, r, memBase, 8); n != 0 || e != ErrRestart {
		t.Errorf("read with a blocked signal = %d %s, want ErrRestart", n, sx(e))
	}
	x.t.Continue()
	if x.t.PendingSignals() != 1<<(unix.SIGUSR2-1) {
		t.Errorf("pending %#x", x.t.PendingSignals())
	}
}

// TestStopRestartedPollKeepsItsDeadline: a poll (or ppoll) that a Stop
// ended with ErrRestart and that the embedder issues again waits only the
// time its first call had left, as Linux's restarted poll does; a call in
// between makes the re-issued poll a new one.
func TestStopRestartedPollKeepsItsDeadline(t *testing.T) {
	x := newTT(t, AMD64)
	r, _ := x.pipe()
	pfd := uint64(memBase + 0x300)
	x.putU32(pfd, uint32(r), unix.POLLIN)
	ts := uint64(memBase + 0x340)
	const timeout = 600 * time.Millisecond
	for _, c := range []struct {
		name string
		id   sysID
		args []uintptr
	}{
		{"poll", sysPoll, []uintptr{uintptr(pfd), 1, uintptr(timeout / time.Millisecond)}},
		{"ppoll", sysPpoll, []uintptr{uintptr(pfd), 1, uintptr(ts), 0, 8}},
	} {
		for _, between := range []bool{false, true} {
			x.putU64(ts, 0, uint64(timeout))
			start := time.Now()
			go func() {
				time.Sleep(timeout / 2)
				x.t.Stop()
			}()
			if n, e := x.call(c.id, c.args...); n != 0 || e != ErrRestart {
				t.Fatalf("%s: %d %s, want ErrRestart", c.name, n, sx(e))
			}
			x.t.Continue()
			if between {
				x.must(sysClockGettime, unix.CLOCK_MONOTONIC, memBase+0x500)
				if c.id == sysPpoll {
					x.putU64(ts, 0, uint64(timeout)) // a new call, with a new timeout
				}
			}
			if n, e := x.call(c.id, c.args...); n != 0 || e != 0 {
				t.Fatalf("%s re-issued: %d %s, want 0 (timed out)", c.name, n, sx(e))
			}
			took := time.Since(start)
			if !between && took >= timeout+timeout/3 {
				t.Errorf("%s: the re-issued call waited its whole timeout again (%v in all)", c.name, took)
			}
			if between && took < timeout+timeout/2 {
				t.Errorf("%s: a new call after another one waited only %v in all", c.name, took)
			}
		}
	}
}
