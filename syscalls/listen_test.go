package syscalls

import (
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

const (
	addrAt = memBase + 0x1000
	bufAt  = memBase + 0x2000
	pathAt = memBase + 0x3000
)

// abstract writes an abstract sockaddr_un for name and returns its length.
func (x *tt) abstract(name string) uintptr {
	b := append([]byte{unix.AF_UNIX, 0, 0}, name...)
	x.put(addrAt, b)
	return uintptr(len(b))
}

func (x *tt) poll(fd uintptr) waiter.EventMask {
	f, e := x.t.getFile(int32(fd))
	if e != 0 {
		x.tb.Fatalf("poll %d: %v", fd, e)
	}
	defer f.DecRef()
	return f.Readiness(waiter.EventMask(0x7fff)) // poll(2) asks for everything
}

func (x *tt) expectErr(what string, want unix.Errno, id sysID, args ...uintptr) {
	x.tb.Helper()
	if _, e := x.call(id, args...); e != want {
		x.tb.Errorf("%s: %s, want %s", what, sx(e), sx(want))
	}
}

func (x *tt) expectPoll(what string, fd uintptr, want waiter.EventMask) {
	x.tb.Helper()
	if got := x.poll(fd); got != want {
		x.tb.Errorf("%s: poll %#x, want %#x", what, uint32(got), uint32(want))
	}
}

// TestListenConnectAccept replays what a C program saw on Linux 6.18 for
// both connection-oriented types (see the commit adding it).
func TestListenConnectAccept(t *testing.T) {
	for _, typ := range []uintptr{unix.SOCK_STREAM, unix.SOCK_SEQPACKET} {
		x := newTT(t, AMD64)
		readErr := unix.EINVAL
		if typ == unix.SOCK_SEQPACKET {
			readErr = unix.ENOTCONN
		}
		// The backlog admits one connection more than its value.
		for bl := -1; bl <= 2; bl++ {
			l := x.must(sysSocket, unix.AF_UNIX, typ, 0)
			al := x.abstract("bltest")
			x.must(sysBind, l, addrAt, al)
			x.must(sysListen, l, uintptr(bl))
			n := 0
			for ; n < 10; n++ {
				c := x.must(sysSocket, unix.AF_UNIX, typ|unix.SOCK_NONBLOCK, 0)
				if _, e := x.call(sysConnect, c, addrAt, al); e != 0 {
					if e != unix.EAGAIN {
						t.Errorf("backlog %d: connect %s", bl, sx(e))
					}
					break
				}
			}
			want := bl + 1
			if bl < 0 {
				want = 10 // capped at somaxconn: never full here
			}
			if n != want {
				t.Errorf("type %d backlog %d: %d connects, want %d", typ, bl, n, want)
			}
			x.must(sysClose, l)
		}
		l := x.must(sysSocket, unix.AF_UNIX, typ|unix.SOCK_NONBLOCK, 0)
		al := x.abstract("x")
		x.expectErr("listen unbound", unix.EINVAL, sysListen, l, 1)
		x.must(sysBind, l, addrAt, al)
		x.expectErr("bind twice", unix.EINVAL, sysBind, l, addrAt, al)
		l2 := x.must(sysSocket, unix.AF_UNIX, typ, 0)
		x.expectErr("bind taken", unix.EADDRINUSE, sysBind, l2, addrAt, al)
		d := x.must(sysSocket, unix.AF_UNIX, unix.SOCK_DGRAM, 0)
		x.must(sysBind, d, addrAt, al) // another type: another table
		x.expectPoll("bound, not listening", l, 0x314)
		x.expectErr("accept before listen", unix.EINVAL, sysAccept4, l, 0, 0, 0)
		x.must(sysListen, l, 1)
		x.expectPoll("empty listener", l, 0)
		x.expectErr("accept empty", unix.EAGAIN, sysAccept4, l, 0, 0, 0)
		x.expectErr("read listener", readErr, sysRead, l, bufAt, 1)
		x.expectErr("write listener", unix.ENOTCONN, sysWrite, l, bufAt, 1)
		other := uintptr(unix.SOCK_SEQPACKET + unix.SOCK_STREAM - typ)
		cx := x.must(sysSocket, unix.AF_UNIX, other, 0)
		x.expectErr("connect other type", unix.ECONNREFUSED, sysConnect, cx, addrAt, al)
		c := x.must(sysSocket, unix.AF_UNIX, typ, 0)
		x.must(sysConnect, c, addrAt, al)
		x.expectPoll("client before accept", c, 0x304)
		x.expectPoll("listener with a connection", l, 0x41)
		x.expectErr("connect twice", unix.EISCONN, sysConnect, c, addrAt, al)
		x.expectErr("listen connected", unix.EINVAL, sysListen, c, 1)
		x.put(bufAt, []byte("hi"))
		if n := x.must(sysWrite, c, bufAt, 2); n != 2 {
			t.Fatalf("write %d", n)
		}
		s := x.must(sysAccept4, l, 0, 0, unix.SOCK_NONBLOCK)
		x.expectPoll("accepted", s, 0x345)
		if fl := x.must(sysFcntl, s, unix.F_GETFL); fl != 0x802 {
			t.Errorf("accepted flags %#x", fl)
		}
		x.expectPoll("listener after accept", l, 0)
		x.must(sysListen, l, 5)
		x.expectErr("listen accepted", unix.EINVAL, sysListen, s, 5)
		c2 := x.must(sysSocket, unix.AF_UNIX, typ, 0)
		x.must(sysConnect, c2, addrAt, al)
		x.must(sysWrite, c2, bufAt, 2)
		c3 := x.must(sysSocket, unix.AF_UNIX, typ, 0)
		x.must(sysConnect, c3, addrAt, al)
		x.must(sysShutdown, l, unix.SHUT_RD)
		x.expectPoll("listener shut", l, 0x2041)
		c4 := x.must(sysSocket, unix.AF_UNIX, typ, 0)
		x.expectErr("connect shut listener", unix.ECONNREFUSED, sysConnect, c4, addrAt, al)
		x.must(sysClose, l)
		x.expectPoll("c2 after listener close", c2, 0x235d)
		x.expectPoll("c3 after listener close", c3, 0x235d)
		x.expectErr("read c2", unix.ECONNRESET, sysRead, c2, bufAt, 10)
		if n := x.must(sysRead, c2, bufAt, 10); n != 0 {
			t.Errorf("second read %d", n)
		}
		x.expectErr("write c2", unix.EPIPE, sysWrite, c2, bufAt, 1)
		want := unix.EPIPE
		if typ == unix.SOCK_SEQPACKET {
			want = unix.ECONNRESET
		}
		x.expectErr("send c3", want, sysSendto, c3, bufAt, 1, unix.MSG_NOSIGNAL, 0, 0)
		c5 := x.must(sysSocket, unix.AF_UNIX, typ, 0)
		x.expectErr("connect closed", unix.ECONNREFUSED, sysConnect, c5, addrAt, al)
		u := x.must(sysSocket, unix.AF_UNIX, typ, 0)
		x.expectErr("accept unbound", unix.EINVAL, sysAccept4, u, 0, 0, 0)
		x.expectErr("accept bad flags", unix.EINVAL, sysAccept4, u, 0, 0, 0o77)
		x.expectErr("listen dgram", unix.EOPNOTSUPP, sysListen, d, 1)
		x.expectErr("accept dgram", unix.EOPNOTSUPP, sysAccept4, d, 0, 0, 0)
		x.expectErr("accept eventfd", unix.ENOTSOCK, sysAccept4, x.eventfd(0, 0), 0, 0, 0)
		if err := x.t.fds.CheckInvariants(); err != nil {
			t.Error(err)
		}
	}
}

// TestAcceptExclusive: two tasks blocked in accept on one listener are
// exclusive waiters, so one connection wakes one of them; a blocking
// connect to a full listener waits for an accept.
func TestAcceptExclusive(t *testing.T) {
	x := newTT(t, AMD64)
	l := x.must(sysSocket, unix.AF_UNIX, unix.SOCK_STREAM, 0)
	al := x.abstract("ex")
	x.must(sysBind, l, addrAt, al)
	x.must(sysListen, l, 0)
	done := make(chan uintptr, 2)
	var tasks []*Task
	for i := 0; i < 2; i++ {
		tk := x.sibling()
		tasks = append(tasks, tk)
		go func() {
			r, _ := tk.Syscall(nrOf(t, AMD64, sysAccept4), [6]uintptr{l})
			done <- r
		}()
	}
	time.Sleep(20 * time.Millisecond)
	c := x.must(sysSocket, unix.AF_UNIX, unix.SOCK_STREAM, 0)
	x.must(sysConnect, c, addrAt, al)
	<-done
	select {
	case <-done:
		t.Fatal("one connection woke both accepts")
	case <-time.After(20 * time.Millisecond):
	}
	// Fill the backlog (0: one connection), then a blocking connect waits
	// until the remaining accept takes the queued one.
	c2 := x.must(sysSocket, unix.AF_UNIX, unix.SOCK_STREAM, 0)
	x.must(sysConnect, c2, addrAt, al) // woken accept takes it, or it queues
	<-done
	c3 := x.must(sysSocket, unix.AF_UNIX, unix.SOCK_STREAM, 0)
	x.must(sysConnect, c3, addrAt, al) // queued: the listener is full now
	blocked := make(chan unix.Errno, 1)
	tk := x.sibling()
	go func() {
		c4, _ := tk.Syscall(nrOf(t, AMD64, sysSocket), [6]uintptr{unix.AF_UNIX, unix.SOCK_STREAM})
		_, e := tk.Syscall(nrOf(t, AMD64, sysConnect), [6]uintptr{c4, addrAt, al})
		blocked <- e
	}()
	select {
	case e := <-blocked:
		t.Fatalf("connect to a full listener returned %s", sx(e))
	case <-time.After(20 * time.Millisecond):
	}
	x.must(sysAccept4, l, 0, 0, 0)
	if e := <-blocked; e != 0 {
		t.Fatalf("blocked connect: %s", sx(e))
	}
	for _, tk := range append(tasks, tk) {
		tk.Exit()
	}
}

type countWaker struct{ n atomic.Int32 }

func (c *countWaker) Wake(waiter.EventMask) bool { c.n.Add(1); return true }

// TestAcceptWaitsExclusive: a blocked accept is an exclusive waiter
// queued before a later exclusive entry (an EPOLLEXCLUSIVE registration),
// so a connection's wake-one reaches the accept and stops there.
func TestAcceptWaitsExclusive(t *testing.T) {
	x := newTT(t, AMD64)
	l := x.must(sysSocket, unix.AF_UNIX, unix.SOCK_STREAM, 0)
	al := x.abstract("ex2")
	x.must(sysBind, l, addrAt, al)
	x.must(sysListen, l, 4)
	tk := x.sibling()
	defer tk.Exit()
	done := make(chan uintptr, 1)
	go func() {
		r, _ := tk.Syscall(nrOf(t, AMD64, sysAccept4), [6]uintptr{l})
		done <- r
	}()
	time.Sleep(20 * time.Millisecond)
	f, _ := x.t.getFile(int32(l))
	defer f.DecRef()
	var later countWaker
	var e waiter.Entry
	e.Init(&later, true, false)
	f.EventRegister(&e)
	defer f.EventUnregister(&e)
	c := x.must(sysSocket, unix.AF_UNIX, unix.SOCK_STREAM, 0)
	x.must(sysConnect, c, addrAt, al)
	<-done
	if n := later.n.Load(); n != 0 {
		t.Errorf("the exclusive entry after the blocked accept was woken %d times", n)
	}
}

// TestPathAddresses: filesystem addresses are looked up in the path
// namespace, which holds no sockets (Linux 6.18 for the same calls).
func TestPathAddresses(t *testing.T) {
	x := newTT(t, AMD64)
	x.must(sysMknodat, neg(unix.AT_FDCWD), x.path("/tmp/ff"), unix.S_IFIFO|0o600, 0)
	s := x.must(sysSocket, unix.AF_UNIX, unix.SOCK_STREAM, 0)
	d := x.must(sysSocket, unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	path := func(p string) uintptr {
		x.put(addrAt, append([]byte{unix.AF_UNIX, 0}, p...))
		return uintptr(2 + len(p))
	}
	x.expectErr("missing", unix.ENOENT, sysConnect, s, addrAt, path("/tmp/nonexist"))
	x.expectErr("missing dir", unix.ENOENT, sysConnect, s, addrAt, path("/tmp/nodir/x"))
	x.expectErr("a FIFO", unix.ECONNREFUSED, sysConnect, s, addrAt, path("/tmp/ff"))
	x.expectErr("through a FIFO", unix.ENOTDIR, sysConnect, s, addrAt, path("/tmp/ff/x"))
	x.expectErr("a directory", unix.ECONNREFUSED, sysConnect, s, addrAt, path("/tmp"))
	x.expectErr("datagram, missing", unix.ENOENT, sysConnect, d, addrAt, path("/tmp/nonexist"))
	x.expectErr("datagram, abstract, nobody", unix.ECONNREFUSED, sysConnect, d, addrAt, x.abstract("nobody"))
	x.expectErr("bind to an existing path", unix.EADDRINUSE, sysBind, s, addrAt, path("/tmp/ff"))
}
