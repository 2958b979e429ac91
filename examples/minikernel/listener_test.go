package minikernel

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/syscalls"
)

const (
	evIn      = unix.EPOLLIN
	listenIn  = unix.EPOLLIN | unix.EPOLLRDNORM // a listener's readiness with a queued connection
	sigUSR1   = 1 << (unix.SIGUSR1 - 1)
	sigUSR2   = 1 << (unix.SIGUSR2 - 1)
	sigHUP    = 1 << (unix.SIGHUP - 1)
	epollIn   = uint32(unix.EPOLLIN)
	epollET   = uint32(unix.EPOLLET)
	epollOne  = uint32(unix.EPOLLONESHOT)
	epollExcl = uint32(unix.EPOLLEXCLUSIVE)
)

// TestAcceptErrors: accept4's errnos in Linux's order (checked on Linux
// 6.18 with a C program: bad flags beat a bad fd, a non-socket is ENOTSOCK,
// a connected AF_UNIX socket EINVAL, an empty non-blocking listener
// EAGAIN), and a listener's read and write (EINVAL, ENOTCONN).
func TestAcceptErrors(t *testing.T) {
	k := newTestKernel(t, Options{})
	g := newGuest(t, k.Sys, nil)
	lfd, _ := g.listen(4, unix.O_NONBLOCK)
	efd := g.must(syscalls.AMD64Eventfd2, 0, 0)
	g.must(syscalls.AMD64Socketpair, unix.AF_UNIX, unix.SOCK_STREAM, 0, readBuf)
	sock := uintptr(g.u32(readBuf))
	ep := g.epollCreate()
	hostPipe, hostPipeW, err := k.Bridge().Pipe(0)
	if err != nil {
		t.Fatal(err)
	}
	hostPair, hostPairB, err := k.Bridge().SocketPair(unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	hostPipeW.DecRef()
	hostPairB.DecRef()
	hp, _ := g.t.FDTable().Install(hostPipe, 0, false)
	hs, _ := g.t.FDTable().Install(hostPair, 0, false)
	for _, c := range []struct {
		name  string
		fd    uintptr
		flags int
		want  unix.Errno
	}{
		{"bad flags, bad fd (the fd is looked up first)", 999, 0x10, unix.EBADF},
		{"bad flags", efd, 0x10, unix.EINVAL},
		{"bad fd", 999, 0, unix.EBADF},
		{"eventfd", efd, 0, unix.ENOTSOCK},
		{"epoll", ep, 0, unix.ENOTSOCK},
		{"connected socket", sock, 0, unix.EINVAL},
		{"host pipe", uintptr(hp), 0, unix.ENOTSOCK},
		{"connected host socket (the host says)", uintptr(hs), 0, unix.EINVAL},
		{"empty non-blocking listener", lfd, unix.SOCK_CLOEXEC, unix.EAGAIN},
	} {
		if _, e := g.accept(c.fd, c.flags); e != c.want {
			t.Errorf("%s: accept4 = %v, want %v", c.name, e, c.want)
		}
	}
	if _, e := g.sys(syscalls.AMD64Read, lfd, readBuf, 16); e != unix.EINVAL {
		t.Errorf("read of a listener: %v, want EINVAL", e)
	}
	if _, e := g.sys(syscalls.AMD64Write, lfd, readBuf, 16); e != unix.ENOTCONN {
		t.Errorf("write to a listener: %v, want ENOTCONN", e)
	}
}

// TestAcceptFlagsAndAddress: SOCK_NONBLOCK and SOCK_CLOEXEC reach the new
// fd; the peer address is move_addr_to_user's (an unnamed AF_UNIX peer:
// the family only, *addrlen 2, truncated to a smaller *addrlen); a fault
// on the address or a negative *addrlen fails after the connection was
// taken, which is lost (Linux 6.18: EFAULT, EINVAL, then EAGAIN); EMFILE
// comes before the accept and leaves the connection queued.
func TestAcceptFlagsAndAddress(t *testing.T) {
	k := newTestKernel(t, Options{})
	g := newGuest(t, k.Sys, nil)
	lfd, l := g.listen(8, unix.O_NONBLOCK)
	for range 5 {
		connect(t, l)
	}
	g.putU32(lenArg, 64)
	nfd, e := g.sys(SysAccept4, lfd, addrArg, lenArg, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	if e != 0 || g.u32(lenArg) != 2 || binary.LittleEndian.Uint16(g.get(addrArg, 2)) != unix.AF_UNIX {
		t.Fatalf("accept4 = %d %v, addrlen %d", nfd, e, g.u32(lenArg))
	}
	if fl := g.must(syscalls.AMD64Fcntl, nfd, unix.F_GETFL); fl&unix.O_NONBLOCK == 0 {
		t.Errorf("F_GETFL %#o: no O_NONBLOCK", fl)
	}
	if fl := g.must(syscalls.AMD64Fcntl, nfd, unix.F_GETFD); fl != unix.FD_CLOEXEC {
		t.Errorf("F_GETFD %d", fl)
	}
	// The accepted end is a connected model socket: what the client
	// writes, the guest reads.
	g.put(addrArg, []byte{0xff, 0xff})
	g.putU32(lenArg, 1)
	if _, e := g.sys(SysAccept4, lfd, addrArg, lenArg, 0); e != 0 || g.u32(lenArg) != 2 || g.get(addrArg, 2)[1] != 0xff {
		t.Errorf("truncated address: %v, addrlen %d, bytes %x", e, g.u32(lenArg), g.get(addrArg, 2))
	}
	if _, e := g.sys(SysAccept4, lfd, 8, lenArg, 0); e != unix.EFAULT || l.Pending() != 2 {
		t.Errorf("address fault: %v, %d pending (want EFAULT, 2)", e, l.Pending())
	}
	g.putU32(lenArg, 0xffffffff)
	if _, e := g.sys(SysAccept4, lfd, addrArg, lenArg, 0); e != unix.EINVAL || l.Pending() != 1 {
		t.Errorf("negative addrlen: %v, %d pending (want EINVAL, 1)", e, l.Pending())
	}
	used := uint64(g.t.FDTable().Len())
	if err := g.t.FDTable().SetLimit(used, used); err != nil {
		t.Fatal(err)
	}
	if _, e := g.accept(lfd, 0); e != unix.EMFILE || l.Pending() != 1 {
		t.Errorf("no free fd: %v, %d pending (want EMFILE, 1)", e, l.Pending())
	}
}

// TestListenerEpoll: a listener watched level-triggered, edge-triggered
// and one-shot, through epoll_ctl and epoll_wait with raw arguments. A
// connection is an edge (each one, also while another is queued, as
// sock_def_readable wakes for each); level-triggered reports IN|RDNORM
// until the queue is empty; one-shot once until EPOLL_CTL_MOD. (Linux
// 6.18, AF_UNIX listener under EPOLLET: 1 event, 0, then 1 for a second
// connect while the first is queued.)
func TestListenerEpoll(t *testing.T) {
	k := newTestKernel(t, Options{})
	g := newGuest(t, k.Sys, nil)
	lfd, l := g.listen(8, unix.O_NONBLOCK)
	lt, et, one := g.epollCreate(), g.epollCreate(), g.epollCreate()
	g.mustCtl(lt, unix.EPOLL_CTL_ADD, lfd, epollIn|unix.EPOLLRDNORM, 1)
	g.mustCtl(et, unix.EPOLL_CTL_ADD, lfd, epollIn|epollET, 2)
	g.mustCtl(one, unix.EPOLL_CTL_ADD, lfd, epollIn|epollOne, 3)
	for _, ep := range []uintptr{lt, et, one} {
		g.mustWait(ep, 0)
	}

	connect(t, l)
	g.mustWait(lt, 0, event{listenIn, 1})
	g.mustWait(lt, 0, event{listenIn, 1})
	g.mustWait(et, 0, event{evIn, 2})
	g.mustWait(et, 0)
	g.mustWait(one, 0, event{evIn, 3})
	g.mustWait(one, 0)

	connect(t, l) // a second connection while the first is queued
	g.mustWait(et, 0, event{evIn, 2})
	g.mustWait(et, 0)
	g.mustWait(one, 0)
	g.mustCtl(one, unix.EPOLL_CTL_MOD, lfd, epollIn|epollOne, 4)
	g.mustWait(one, 0, event{evIn, 4})

	g.must(SysAccept4, lfd, 0, 0, 0)
	g.mustWait(lt, 0, event{listenIn, 1})
	g.must(SysAccept4, lfd, 0, 0, 0)
	g.mustWait(lt, 0)
	g.mustWait(et, 0)
}

// TestListenerNested: an epoll instance watching one that watches the
// listener: a connection reaches the outer one (IN on the inner fd),
// edge-triggered at both levels, and the inner one reports the listener.
func TestListenerNested(t *testing.T) {
	k := newTestKernel(t, Options{})
	g := newGuest(t, k.Sys, nil)
	lfd, l := g.listen(8, unix.O_NONBLOCK)
	inner, outer := g.epollCreate(), g.epollCreate()
	g.mustCtl(inner, unix.EPOLL_CTL_ADD, lfd, epollIn|epollET, 10)
	g.mustCtl(outer, unix.EPOLL_CTL_ADD, inner, epollIn|epollET, 20)
	done := g.start(syscalls.AMD64EpollWait, outer, evOut, 4, ^uintptr(0))
	settle()
	connect(t, l)
	if r := <-done; r.e != 0 || r.r != 1 {
		t.Fatalf("outer epoll_wait: %d %v", r.r, r.e)
	}
	g.mustWait(outer, 0)
	g.mustWait(inner, 0, event{evIn, 10})
	connect(t, l)
	g.mustWait(outer, 0, event{evIn, 20})
}

// TestListenerEpollExclusive: three tasks blocked in epoll_wait, each on
// an instance of its own whose registration of the listener is
// EPOLLEXCLUSIVE: each connection wakes exactly one of them, in the order
// of the ADDs (an exclusive registration takes a wakeup only while a
// thread waits on its instance, so the next connection goes to the next).
// Checked on Linux 6.18 with three threads and an AF_UNIX listener: after
// each connect, exactly one more thread had returned, in ADD order.
func TestListenerEpollExclusive(t *testing.T) {
	k := newTestKernel(t, Options{})
	table := fd.NewTable()
	t.Cleanup(table.CloseAll)
	var gs [3]*guest
	for i := range gs {
		gs[i] = newGuest(t, k.Sys, table)
	}
	lfd, l := gs[0].listen(8, unix.O_NONBLOCK)
	var done [3]<-chan result
	var eps [3]uintptr
	for i, g := range gs {
		ep := g.epollCreate()
		eps[i] = ep
		g.mustCtl(ep, unix.EPOLL_CTL_ADD, lfd, epollIn|epollExcl, uint64(i))
		done[i] = g.start(syscalls.AMD64EpollWait, ep, evOut, 4, ^uintptr(0))
	}
	for i, g := range gs {
		waitFor(t, "a blocked epoll_wait", func() bool { return g.epollWaiting(eps[i]) })
	}
	for i := range gs {
		connect(t, l)
		if r := <-done[i]; r.e != 0 || r.r != 1 || gs[i].u32(evOut+4) != uint32(i) {
			t.Fatalf("connection %d: task %d's epoll_wait = %d %v", i, i, r.r, r.e)
		}
		settle()
		for j := i + 1; j < len(gs); j++ {
			select {
			case r := <-done[j]:
				t.Fatalf("connection %d also woke task %d (%d %v)", i, j, r.r, r.e)
			default:
			}
		}
	}
}

// TestAcceptExclusive: three tasks blocked in accept4 on one listener: one
// connection wakes exactly one of them (one more Accept attempt in all,
// not three), which gets it; the others sleep on until theirs.
func TestAcceptExclusive(t *testing.T) {
	k := newTestKernel(t, Options{})
	table := fd.NewTable()
	t.Cleanup(table.CloseAll)
	var gs [3]*guest
	for i := range gs {
		gs[i] = newGuest(t, k.Sys, table)
	}
	lfd, l := gs[0].listen(8, 0)
	results := make(chan result, 3)
	for _, g := range gs {
		go func() {
			r, e := g.accept(lfd, 0)
			results <- result{r, e}
		}()
	}
	waitFor(t, "three blocked accepts", func() bool { return l.hooked() == 3 })
	tries := l.tried()
	for i := range gs {
		connect(t, l)
		if r := <-results; r.e != 0 {
			t.Fatalf("accept4: %v", r.e)
		}
		settle()
		if got := l.tried() - tries; got != i+1 {
			t.Fatalf("after %d connections, %d accept attempts: a connection woke more than one task", i+1, got)
		}
		if len(results) != 0 {
			t.Fatalf("connection %d: two accepts returned", i)
		}
	}
}

// TestAcceptInterrupted: a blocked accept4 (ERESTARTSYS) ended by a
// signal: EINTR with the handler run, or a restart with SA_RESTART; by a
// Stop: a restart (no handler runs). A blocked signal does not end it.
// The fd number it reserved is given back each time.
func TestAcceptInterrupted(t *testing.T) {
	k := newTestKernel(t, Options{})
	g := newGuest(t, k.Sys, nil)
	lfd, l := g.listen(8, 0)
	g.t.SetSignalMask(sigUSR2)
	for _, c := range []struct {
		name    string
		restart uint64
		end     func()
		want    unix.Errno
		handler uint64
	}{
		{"signal", 0, func() { g.t.Interrupt(int(unix.SIGUSR1)) }, unix.EINTR, sigUSR1},
		{"SA_RESTART signal", sigUSR1, func() { g.t.Interrupt(int(unix.SIGUSR1)) }, syscalls.ErrRestart, sigUSR1},
		{"stop", 0, g.t.Stop, syscalls.ErrRestart, 0},
	} {
		g.t.SetRestartSignals(c.restart)
		done := g.start(SysAccept4, lfd, 0, 0, 0)
		waitFor(t, "a blocked accept", func() bool { return l.hooked() == 1 })
		g.t.Interrupt(int(unix.SIGUSR2)) // blocked: no effect
		settle()
		if len(done) != 0 {
			t.Fatalf("%s: a blocked signal ended accept4", c.name)
		}
		c.end()
		if r := <-done; r.e != c.want || g.t.SignalsDelivered() != c.handler {
			t.Errorf("%s: accept4 = %v, handlers %#x; want %v, %#x", c.name, r.e, g.t.SignalsDelivered(), c.want, c.handler)
		}
		g.t.Continue()
		g.t.DequeueSignal(sigUSR2)
	}
	// Nothing leaked: the next fd is the one after the listener's.
	if nfd := g.must(syscalls.AMD64Dup, lfd); nfd != lfd+1 {
		t.Errorf("dup = %d, want %d: accept4 kept a reserved number", nfd, lfd+1)
	}
}

// TestEpollWaitInterrupted: epoll_wait blocked on the listener returns
// EINTR for a signal, whatever SA_RESTART says, and for a Stop (ep_poll
// returns EINTR itself, never a restart code).
func TestEpollWaitInterrupted(t *testing.T) {
	k := newTestKernel(t, Options{})
	g := newGuest(t, k.Sys, nil)
	lfd, _ := g.listen(8, 0)
	ep := g.epollCreate()
	g.mustCtl(ep, unix.EPOLL_CTL_ADD, lfd, epollIn, 1)
	g.t.SetRestartSignals(sigUSR1)
	for _, end := range []func(){func() { g.t.Interrupt(int(unix.SIGUSR1)) }, g.t.Stop} {
		done := g.start(syscalls.AMD64EpollWait, ep, evOut, 4, ^uintptr(0))
		settle()
		end()
		if r := <-done; r.e != unix.EINTR {
			t.Errorf("epoll_wait = %d %v, want EINTR", r.r, r.e)
		}
		g.t.Continue()
	}
}

// TestAccept4DelegatesToTheModel: the kernel's accept4 replaces the
// syscall layer's, and hands it the files it does not own: a model AF_UNIX
// listener made with socket, bind and listen is accepted as usual, and a
// pipe is ENOTSOCK as before.
func TestAccept4DelegatesToTheModel(t *testing.T) {
	k := newTestKernel(t, Options{})
	g := newGuest(t, k.Sys, nil)
	addr := []byte{unix.AF_UNIX, 0, 0, 'm', 'k'} // abstract "\0mk"
	g.put(addrArg, addr)
	l := g.must(syscalls.AMD64Socket, unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	g.must(syscalls.AMD64Bind, l, addrArg, uintptr(len(addr)))
	g.must(syscalls.AMD64Listen, l, 1)
	if _, e := g.accept(l, 0); e != unix.EAGAIN {
		t.Fatalf("accept4 of an empty model listener: %v, want EAGAIN", e)
	}
	c := g.must(syscalls.AMD64Socket, unix.AF_UNIX, unix.SOCK_STREAM, 0)
	g.must(syscalls.AMD64Connect, c, addrArg, uintptr(len(addr)))
	if _, e := g.accept(l, unix.SOCK_CLOEXEC); e != 0 {
		t.Fatalf("accept4 of a model listener: %v", e)
	}
	g.put(addrArg, make([]byte, 8))
	g.must(syscalls.AMD64Pipe2, addrArg, 0)
	if _, e := g.accept(uintptr(g.u32(addrArg)), 0); e != unix.ENOTSOCK {
		t.Errorf("accept4 of a pipe: %v, want ENOTSOCK", e)
	}
}
