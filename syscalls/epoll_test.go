package syscalls

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
)

func TestEpollCreate(t *testing.T) {
	x := newTT(t, AMD64)
	for _, c := range []struct {
		id   sysID
		arg  uintptr
		want unix.Errno
	}{
		{sysEpollCreate, 0, unix.EINVAL},
		{sysEpollCreate, neg(-1), unix.EINVAL},
		{sysEpollCreate, 0x80000000, unix.EINVAL},
		{sysEpollCreate, math.MaxInt32, 0},
		{sysEpollCreate1, unix.O_NONBLOCK, unix.EINVAL},
		{sysEpollCreate1, 1, unix.EINVAL},
		{sysEpollCreate1, neg(-1), unix.EINVAL},
		{sysEpollCreate1, unix.EPOLL_CLOEXEC | 1, unix.EINVAL},
		{sysEpollCreate1, unix.EPOLL_CLOEXEC, 0},
		{sysEpollCreate1, 0, 0},
	} {
		if _, e := x.call(c.id, c.arg); e != c.want {
			t.Errorf("create %d(%#x) = %s, want %s", c.id, c.arg, sx(e), sx(c.want))
		}
	}
	ep := x.must(sysEpollCreate1, unix.EPOLL_CLOEXEC)
	if got, _ := x.call(sysFcntl, ep, unix.F_GETFD); got != unix.FD_CLOEXEC {
		t.Errorf("F_GETFD = %d", got)
	}
	if got, _ := x.call(sysFcntl, ep, unix.F_GETFL); got != unix.O_RDWR {
		t.Errorf("F_GETFL = %#o", got)
	}
	if _, e := x.call(sysEpollCreate, 1, 0); e != 0 {
		t.Fatal(e)
	}
}

func TestEpollCtlErrnoOrder(t *testing.T) {
	for _, arch := range []Arch{AMD64, ARM64} {
		t.Run(arch.String(), func(t *testing.T) {
			x := newTT(t, arch)
			ep := x.epoll()
			ep2 := x.epoll()
			efd := x.eventfd(0, 0)
			r, _ := x.pipe()
			reg := func() uintptr {
				n, err := x.t.fds.Install(kerneltest.NewRegularFile(), 0, false)
				if err != nil {
					t.Fatal(err)
				}
				return uintptr(n)
			}()
			epDup := x.must(sysDup, ep)
			ev := uintptr(memBase + 0x100)
			// An event that straddles into the hole page.
			straddle := uintptr(memEnd - 4)
			x.putEvent(uint64(ev), unix.EPOLLIN, 7)
			const bad = 999
			for _, c := range []struct {
				name         string
				epfd, op, fd uintptr
				evp          uintptr
				want         unix.Errno
			}{
				{"ADD NULL bad epfd", neg(-1), 1, efd, 0, unix.EFAULT},
				{"op 4 NULL bad epfd", neg(-1), 4, efd, 0, unix.EFAULT},
				{"op -1 NULL", ep, neg(-1), efd, 0, unix.EFAULT},
				{"ADD straddling", ep, 1, efd, straddle, unix.EFAULT},
				{"ADD hole", ep, 1, efd, hole, unix.EFAULT},
				{"DEL NULL bad epfd", neg(-1), 2, efd, 0, unix.EBADF},
				{"DEL garbage bad epfd", bad, 2, efd, 1, unix.EBADF},
				{"bad fd", ep, 1, bad, ev, unix.EBADF},
				{"bad both", bad, 1, bad, ev, unix.EBADF},
				{"reg ADD reg", reg, 1, reg, ev, unix.EPERM},
				{"DEL reg", ep, 2, reg, 0, unix.EPERM},
				{"op 4 reg", ep, 4, reg, ev, unix.EPERM},
				{"same", ep, 1, ep, ev, unix.EINVAL},
				{"dup of self", ep, 1, epDup, ev, unix.EINVAL},
				{"not epoll", r, 1, efd, ev, unix.EINVAL},
				{"op 0", ep, 0, efd, ev, unix.EINVAL},
				{"op 4", ep, 4, efd, ev, unix.EINVAL},
				{"DEL absent", ep, 2, efd, 0, unix.ENOENT},
				{"MOD absent", ep, 3, efd, ev, unix.ENOENT},
				{"ADD", ep, 1, efd, ev, 0},
				{"ADD again", ep, 1, efd, ev, unix.EEXIST},
				{"MOD", ep, 3, efd, ev, 0},
				{"ADD nested", ep, 1, ep2, ev, 0},
				{"ADD loop", ep2, 1, ep, ev, unix.ELOOP},
				{"DEL", ep, 2, efd, 1, 0},
			} {
				_, e := x.call(sysEpollCtl, c.epfd, c.op, c.fd, c.evp)
				if e != c.want {
					t.Errorf("%s: epoll_ctl(%d, %d, %d, %#x) = %s, want %s", c.name, int(c.epfd), int32(c.op), c.fd, c.evp, sx(e), sx(c.want))
				}
			}
		})
	}
}

func TestEpollCtlExclusive(t *testing.T) {
	x := newTT(t, AMD64)
	ep := x.epoll()
	efd := x.eventfd(0, 0)
	if e := x.ctl(ep, 3, efd, unix.EPOLLIN|unix.EPOLLEXCLUSIVE, 0); e != unix.EINVAL {
		t.Errorf("MOD EXCLUSIVE absent = %s", sx(e))
	}
	if e := x.ctl(ep, 1, efd, unix.EPOLLIN|unix.EPOLLEXCLUSIVE, 0); e != 0 {
		t.Fatal(e)
	}
	if e := x.ctl(ep, 1, efd, unix.EPOLLIN|unix.EPOLLEXCLUSIVE|unix.EPOLLRDHUP, 0); e != unix.EINVAL {
		t.Errorf("re-ADD EXCLUSIVE|RDHUP = %s, want EINVAL", sx(e))
	}
	if e := x.ctl(ep, 3, efd, unix.EPOLLIN, 0); e != unix.EINVAL {
		t.Errorf("MOD of exclusive = %s", sx(e))
	}
}

func TestEpollWaitErrnoOrder(t *testing.T) {
	for _, arch := range []Arch{AMD64, ARM64} {
		t.Run(arch.String(), func(t *testing.T) {
			x := newTT(t, arch)
			ep := x.epoll()
			r, _ := x.pipe()
			buf := uintptr(memBase + 0x1000)
			ts := uint64(memBase + 0x200)
			badTs := uint64(memBase + 0x220)
			x.putU64(ts, 0, 0)
			x.putU64(badTs, 0, 1e9)
			negTs := uint64(memBase + 0x240)
			x.putU64(negTs, uint64(1<<63), 0)
			mask := uint64(memBase + 0x260)
			x.putU64(mask, 0)
			size := arch.EventSize()
			maxEv := math.MaxInt32 / size
			top := arch.UserTop()
			const bad = 999
			type cs struct {
				name string
				id   sysID
				a    [6]uintptr
				want unix.Errno
			}
			cases := []cs{
				{"wait bad epfd maxev 0", sysEpollWait, [6]uintptr{neg(-1), buf, 0, 0}, unix.EBADF},
				{"wait maxev 0", sysEpollWait, [6]uintptr{ep, buf, 0, 0}, unix.EINVAL},
				{"wait maxev -1", sysEpollWait, [6]uintptr{ep, buf, neg(-1), 0}, unix.EINVAL},
				{"wait maxev max+1", sysEpollWait, [6]uintptr{ep, buf, uintptr(maxEv + 1), 0}, unix.EINVAL},
				{"wait maxev max", sysEpollWait, [6]uintptr{ep, buf, uintptr(maxEv), 0}, 0},
				{"wait NULL", sysEpollWait, [6]uintptr{ep, 0, 1, 0}, 0},
				{"wait hole", sysEpollWait, [6]uintptr{ep, hole, 1, 0}, 0},
				{"wait beyond top", sysEpollWait, [6]uintptr{ep, uintptr(top - uint64(size) + 1), 1, 0}, unix.EFAULT},
				{"wait at top", sysEpollWait, [6]uintptr{ep, uintptr(top - uint64(size)), 1, 0}, 0},
				{"wait -4096 on pipe", sysEpollWait, [6]uintptr{r, neg(-4096), 1, 0}, unix.EFAULT},
				{"wait buf on pipe", sysEpollWait, [6]uintptr{r, buf, 1, 0}, unix.EINVAL},
				{"pwait sigsetsize", sysEpollPwait, [6]uintptr{bad, buf, 0, 0, uintptr(mask), 16}, unix.EINVAL},
				{"pwait mask fault", sysEpollPwait, [6]uintptr{bad, buf, 0, 0, hole, 8}, unix.EFAULT},
				{"pwait NULL mask ignores size", sysEpollPwait, [6]uintptr{bad, buf, 1, 0, 0, 3}, unix.EBADF},
				{"pwait ok", sysEpollPwait, [6]uintptr{ep, buf, 1, 0, uintptr(mask), 8}, 0},
				{"pwait2 ts fault", sysEpollPwait2, [6]uintptr{bad, buf, 0, hole, hole, 3}, unix.EFAULT},
				{"pwait2 ts nsec", sysEpollPwait2, [6]uintptr{bad, buf, 0, uintptr(badTs), hole, 3}, unix.EINVAL},
				{"pwait2 ts sec<0", sysEpollPwait2, [6]uintptr{bad, buf, 0, uintptr(negTs), 0, 0}, unix.EINVAL},
				{"pwait2 sigsetsize", sysEpollPwait2, [6]uintptr{bad, buf, 0, uintptr(ts), uintptr(mask), 4}, unix.EINVAL},
				{"pwait2 mask fault", sysEpollPwait2, [6]uintptr{bad, buf, 0, uintptr(ts), hole, 8}, unix.EFAULT},
				{"pwait2 bad epfd", sysEpollPwait2, [6]uintptr{bad, buf, 0, uintptr(ts), uintptr(mask), 8}, unix.EBADF},
				{"pwait2 maxev", sysEpollPwait2, [6]uintptr{ep, buf, 0, uintptr(ts), 0, 0}, unix.EINVAL},
				{"pwait2 not epoll", sysEpollPwait2, [6]uintptr{r, buf, 1, uintptr(ts), 0, 0}, unix.EINVAL},
				{"pwait2 ok", sysEpollPwait2, [6]uintptr{ep, buf, 1, uintptr(ts), 0, 0}, 0},
			}
			if arch == AMD64 {
				cases = append(cases, cs{"wait 178956970", sysEpollWait, [6]uintptr{ep, buf, 178956970, 0}, 0},
					cs{"wait 178956971", sysEpollWait, [6]uintptr{ep, buf, 178956971, 0}, unix.EINVAL})
			}
			for _, c := range cases {
				if c.id == sysEpollWait && arch == ARM64 {
					c.id = sysEpollPwait // same arguments, NULL mask
				}
				_, e := x.t.Syscall(nrOf(t, arch, c.id), c.a)
				if e != c.want {
					t.Errorf("%s: %s, want %s", c.name, sx(e), sx(c.want))
				}
			}
		})
	}
}

func TestEventLayouts(t *testing.T) {
	for _, c := range []struct {
		arch    Arch
		size    int
		dataOff int
	}{{AMD64, 12, 4}, {ARM64, 16, 8}} {
		x := newTT(t, c.arch)
		ep := x.epoll()
		a, b := x.eventfd(1, 0), x.eventfd(1, 0)
		// The event structure passed to epoll_ctl uses the arch layout.
		if e := x.ctl(ep, 1, a, unix.EPOLLIN, 0x1122334455667788); e != 0 {
			t.Fatal(e)
		}
		if e := x.ctl(ep, 1, b, unix.EPOLLOUT, 0xa1a2a3a4a5a6a7a8); e != 0 {
			t.Fatal(e)
		}
		buf := uint64(memBase + 0x2000)
		x.put(buf, make([]byte, 64))
		n := x.must(sysEpollPwait, ep, uintptr(buf), 4, 0, 0, 0)
		if n != 2 {
			t.Fatalf("%v: n = %d", c.arch, n)
		}
		raw := x.get(buf, 2*c.size+4)
		seen := map[uint64]uint32{}
		for i := 0; i < 2; i++ {
			ev, data := x.getEvent(buf + uint64(i*c.size))
			seen[data] = ev
		}
		if seen[0x1122334455667788] != unix.EPOLLIN || seen[0xa1a2a3a4a5a6a7a8] != unix.EPOLLOUT {
			t.Errorf("%v: events %x (raw % x)", c.arch, seen, raw)
		}
		// Nothing written past the two slots.
		for _, v := range raw[2*c.size:] {
			if v != 0 {
				t.Errorf("%v: wrote past the last slot: % x", c.arch, raw)
			}
		}
		if c.arch == ARM64 {
			for _, v := range raw[4:8] { // padding stays zero
				if v != 0 {
					t.Errorf("arm64 padding written: % x", raw)
				}
			}
		}
	}
}

func TestPartialCopyOut(t *testing.T) {
	for _, arch := range []Arch{AMD64, ARM64} {
		x := newTT(t, arch)
		ep := x.epoll()
		var fds []uintptr
		for i := 0; i < 3; i++ {
			f := x.eventfd(1, 0)
			fds = append(fds, f)
			if e := x.ctl(ep, 1, f, unix.EPOLLIN|unix.EPOLLET, uint64(100+i)); e != 0 {
				t.Fatal(e)
			}
		}
		size := uint64(arch.EventSize())
		// Slot 0 is the last slot of the mapping; slot 1 is in the hole.
		buf := uint64(memEnd) - size
		n, e := x.call(sysEpollPwait, ep, uintptr(buf), 3, 0, 0, 0)
		if n != 1 || e != 0 {
			t.Fatalf("%v: got %d %s, want 1", arch, n, sx(e))
		}
		_, d0 := x.getEvent(buf)
		// The rest stay queued (ET included) in order.
		buf2 := uint64(memBase + 0x3000)
		n = x.must(sysEpollPwait, ep, uintptr(buf2), 8, 0, 0, 0)
		if n != 2 {
			t.Fatalf("%v: second wait %d, want 2", arch, n)
		}
		_, d1 := x.getEvent(buf2)
		_, d2 := x.getEvent(buf2 + size)
		if d0 != 100 || d1 != 101 || d2 != 102 {
			t.Errorf("%v: data %d %d %d", arch, d0, d1, d2)
		}
		// Buffer entirely in the hole: EFAULT, event stays queued.
		x.writeU64(fds[0], 1)
		if _, e := x.call(sysEpollPwait, ep, hole, 3, 0, 0, 0); e != unix.EFAULT {
			t.Errorf("%v: hole wait = %s", arch, sx(e))
		}
		if _, e := x.call(sysEpollPwait, ep, 0, 3, 0, 0, 0); e != unix.EFAULT {
			t.Errorf("%v: NULL wait with ready = %s", arch, sx(e))
		}
		if n := x.must(sysEpollPwait, ep, uintptr(buf2), 8, 0, 0, 0); n != 1 {
			t.Errorf("%v: after faults %d, want 1", arch, n)
		}
	}
}

func TestEventCommitRefusalKeepsEventsQueued(t *testing.T) {
	// Three ONESHOT eventfds; the embedder cannot answer the first wait:
	// it returns EINTR and the next wait gets the same three, still armed.
	x := newTT(t, AMD64)
	ep := x.epoll()
	for i := 0; i < 3; i++ {
		if e := x.ctl(ep, 1, x.eventfd(1, 0), unix.EPOLLIN|unix.EPOLLONESHOT, uint64(100+i)); e != 0 {
			t.Fatal(e)
		}
	}
	var commits []int
	refuse := errors.New("answer not delivered")
	x.t.SetEventCommit(func(n int) error {
		commits = append(commits, n)
		return refuse
	})
	buf := uint64(memBase + 0x3000)
	if _, e := x.call(sysEpollWait, ep, uintptr(buf), 8, 0); e != unix.EINTR {
		t.Fatalf("refused wait: %s, want EINTR", sx(e))
	}
	refuse = nil
	if n := x.must(sysEpollWait, ep, uintptr(buf), 8, 0); n != 3 {
		t.Fatalf("second wait: %d events, want 3", n)
	}
	for i := uint64(0); i < 3; i++ {
		if _, d := x.getEvent(buf + 12*i); d != 100+i {
			t.Errorf("event %d: data %d, want %d", i, d, 100+i)
		}
	}
	if diff := cmp.Diff([]int{3, 3}, commits); diff != "" {
		t.Errorf("commits (-want +got):\n%s", diff)
	}
	// Disarmed now; with nothing to harvest the hook is not called.
	if n := x.must(sysEpollWait, ep, uintptr(buf), 8, 0); n != 0 {
		t.Fatalf("third wait: %d events, want 0", n)
	}
	x.t.SetEventCommit(nil)
	if len(commits) != 2 {
		t.Errorf("commit called for an empty harvest: %v", commits)
	}
}

func TestBlockingWaitWokenByWrite(t *testing.T) {
	x := newTT(t, AMD64)
	ep := x.epoll()
	efd := x.eventfd(0, 0)
	if e := x.ctl(ep, 1, efd, unix.EPOLLIN, 42); e != 0 {
		t.Fatal(e)
	}
	other := x.sibling()
	go func() {
		time.Sleep(20 * time.Millisecond)
		const at = memBase + 0x4000
		x.mem.CopyOut(at, []byte{1, 0, 0, 0, 0, 0, 0, 0})
		other.Syscall(AMD64Write, [6]uintptr{efd, at, 8})
	}()
	buf := uint64(memBase + 0x2000)
	n, e := x.call(sysEpollWait, ep, uintptr(buf), 1, neg(-1))
	if n != 1 || e != 0 {
		t.Fatalf("wait = %d %s", n, sx(e))
	}
	if ev, d := x.getEvent(buf); ev != unix.EPOLLIN || d != 42 {
		t.Errorf("event %x %d", ev, d)
	}
}

func TestInterruptEINTR(t *testing.T) {
	x := newTT(t, AMD64)
	ep := x.epoll()
	go func() {
		time.Sleep(20 * time.Millisecond)
		x.t.Interrupt(int(unix.SIGUSR1))
	}()
	_, e := x.call(sysEpollWait, ep, memBase, 1, neg(-1))
	if e != unix.EINTR {
		t.Fatalf("wait = %s, want EINTR", sx(e))
	}
	if x.t.PendingSignals() != 0 || x.t.Delivered(int(unix.SIGUSR1)) != 1 {
		t.Errorf("pending %x delivered %d", x.t.PendingSignals(), x.t.Delivered(int(unix.SIGUSR1)))
	}
	// Ready events win over a pending signal; timeout 0 never EINTRs.
	efd := x.eventfd(1, 0)
	x.ctl(ep, 1, efd, unix.EPOLLIN, 0)
	x.t.SetSignalMask(1 << (unix.SIGUSR1 - 1))
	x.t.Interrupt(int(unix.SIGUSR1))
	x.t.sigMu.Lock()
	x.t.mask = 0 // unblock without delivering
	x.t.publishSigMuLocked()
	x.t.sigMu.Unlock()
	if n, e := x.call(sysEpollWait, ep, memBase, 1, neg(-1)); n != 1 || e != 0 {
		t.Errorf("ready + signal = %d %s", n, sx(e))
	}
}

func TestPwaitMaskBlocksSignal(t *testing.T) {
	x := newTT(t, AMD64)
	ep := x.epoll()
	mask := uint64(memBase + 0x260)
	x.putU64(mask, 1<<(unix.SIGUSR1-1))
	go func() {
		time.Sleep(10 * time.Millisecond)
		x.t.Interrupt(int(unix.SIGUSR1))
	}()
	start := time.Now()
	n, e := x.call(sysEpollPwait, ep, memBase, 1, 80, uintptr(mask), 8)
	if n != 0 || e != 0 {
		t.Fatalf("pwait = %d %s, want timeout", n, sx(e))
	}
	if el := time.Since(start); el < 80*time.Millisecond {
		t.Errorf("returned after %v", el)
	}
	// The old mask (empty) is back and the handler ran on return.
	if x.t.SignalMask() != 0 || x.t.Delivered(int(unix.SIGUSR1)) != 1 {
		t.Errorf("mask %x delivered %d", x.t.SignalMask(), x.t.Delivered(int(unix.SIGUSR1)))
	}
	// A signal blocked by the task's own mask and unblocked by pwait's
	// temporary one interrupts at once.
	x.t.SetSignalMask(1 << (unix.SIGUSR2 - 1))
	x.t.Interrupt(int(unix.SIGUSR2))
	x.putU64(mask, 0)
	if _, e := x.call(sysEpollPwait, ep, memBase, 1, neg(-1), uintptr(mask), 8); e != unix.EINTR {
		t.Errorf("pwait unblocking = %s", sx(e))
	}
	if x.t.Delivered(int(unix.SIGUSR2)) != 1 || x.t.SignalMask() != 1<<(unix.SIGUSR2-1) {
		t.Errorf("delivered %d mask %x", x.t.Delivered(int(unix.SIGUSR2)), x.t.SignalMask())
	}
}

func TestTimeoutsNeverEarly(t *testing.T) {
	x := newTT(t, AMD64)
	ep := x.epoll()
	ts := uint64(memBase + 0x200)
	x.putU64(ts, 0, 15e6)
	for _, c := range []struct {
		id   sysID
		a    [6]uintptr
		want time.Duration
	}{
		{sysEpollWait, [6]uintptr{ep, memBase, 1, 1}, time.Millisecond},
		{sysEpollWait, [6]uintptr{ep, memBase, 1, 25}, 25 * time.Millisecond},
		{sysEpollPwait2, [6]uintptr{ep, memBase, 1, uintptr(ts)}, 15 * time.Millisecond},
		{sysPoll, [6]uintptr{0, 0, 12}, 12 * time.Millisecond},
	} {
		for i := 0; i < 3; i++ {
			start := time.Now()
			n, e := x.t.Syscall(nrOf(t, AMD64, c.id), c.a)
			if el := time.Since(start); el < c.want || n != 0 || e != 0 {
				t.Errorf("%d: %d %s after %v, want 0 after ≥ %v", c.id, n, sx(e), el, c.want)
			}
		}
	}
	// Stale wakeups do not end the wait early: an LT entry that is woken
	// but not ready.
	_, ff := kerneltest.NewFakeFile(0)
	_ = ff
	efd := x.eventfd(0, unix.EFD_NONBLOCK)
	x.ctl(ep, 1, efd, unix.EPOLLIN, 0)
	go func() {
		for i := 0; i < 5; i++ {
			time.Sleep(5 * time.Millisecond)
			x.t.sleeper.Wake(0)
		}
	}()
	start := time.Now()
	if n, _ := x.call(sysEpollWait, ep, memBase, 1, 40); n != 0 {
		t.Errorf("n = %d", n)
	}
	if el := time.Since(start); el < 40*time.Millisecond {
		t.Errorf("spurious wakeups ended the wait after %v", el)
	}
}

func TestFDInfo(t *testing.T) {
	x := newTT(t, AMD64)
	ep := x.must(sysEpollCreate1, unix.EPOLL_CLOEXEC)
	r, w := x.pipe()
	efd := x.eventfd(0, 0)
	x.ctl(ep, 1, w, unix.EPOLLOUT, 0x6f)
	x.ctl(ep, 1, efd, unix.EPOLLIN|unix.EPOLLONESHOT, 1)
	s, e := FDInfo(x.t, int32(ep))
	if e != 0 {
		t.Fatal(e)
	}
	_ = r
	want := "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t3\n"
	if len(s) < len(want) || s[:len(want)] != want {
		t.Errorf("header:\n%q", s)
	}
	rest := s[len(want):]
	if exp := "tfd:        2 events:       1c data:               6f  pos:0 ino:"; len(rest) < len(exp) || rest[:len(exp)] != exp {
		t.Errorf("entries:\n%s", rest)
	}
	if _, e := FDInfo(x.t, 99); e != unix.EBADF {
		t.Errorf("bad fd: %s", sx(e))
	}
	// Both ends of a pipe are one inode, also once the other end is gone;
	// a new pipe gets another one.
	ino := func(fd uintptr) string {
		s, e := FDInfo(x.t, int32(fd))
		if e != 0 {
			t.Fatal(e)
		}
		return strings.Split(s, "\n")[3]
	}
	ir := ino(r)
	if iw := ino(w); ir != iw {
		t.Errorf("pipe ends: read end %q, write end %q", ir, iw)
	}
	x.must(sysClose, r)
	if iw := ino(w); iw != ir {
		t.Errorf("write end after closing the read end: %q, was %q", iw, ir)
	}
	r2, _ := x.pipe()
	if i2 := ino(r2); i2 == ir {
		t.Errorf("a new pipe shares %q", i2)
	}
	// A memfd shows its offset.
	mfd := x.must(sysMemfdCreate, uintptr(memBase+0xb00), 0)
	x.writeN(mfd, 1234)
	if s, _ := FDInfo(x.t, int32(mfd)); !strings.HasPrefix(s, "pos:\t1234\n") {
		t.Errorf("memfd after writing 1234 bytes:\n%s", s)
	}
}
