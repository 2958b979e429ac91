package minikernel

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/hostfd"
	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/syscalls"
)

// A file of one of the kernel's three types, installed in a guest's
// table, and the event that makes it readable (IN) from outside the guest.
type subject struct {
	name    string
	opts    Options
	install func(t *testing.T, k *Kernel, g *guest) (fd uintptr, arrive func(i int))
}

// subjects are the three types: the kernel's listener (a connection), its
// signalfd (a blocked real-time signal, which is queued and announced
// every time), and a donated host TCP listener with each bridge mode (a
// connection from another process).
var subjects = []subject{
	{"listener", Options{}, func(t *testing.T, k *Kernel, g *guest) (uintptr, func(int)) {
		lfd, l := g.listen(8, unix.O_NONBLOCK)
		return lfd, func(int) { connect(t, l) }
	}},
	{"signalfd", Options{}, func(t *testing.T, k *Kernel, g *guest) (uintptr, func(int)) {
		const rt = 34
		g.t.SetSignalMask(0xff << (rt - 1))
		sfd, e := g.signalfd(^uintptr(0), 0xff<<(rt-1), unix.SFD_NONBLOCK)
		if e != 0 {
			t.Fatal(e)
		}
		return sfd, func(i int) { g.t.Interrupt(rt + i) }
	}},
	{"host-ppoll", Options{Notifier: hostfd.NotifyPpoll}, hostSubject},
	{"host-epoll", Options{Notifier: hostfd.NotifyEpoll}, hostSubject},
}

func hostSubject(t *testing.T, k *Kernel, g *guest) (uintptr, func(int)) {
	lfd, addr := hostListener(t, k, g)
	g.must(syscalls.AMD64Fcntl, lfd, unix.F_SETFL, unix.O_NONBLOCK)
	p := startPeer(t, addr)
	return lfd, func(i int) { p.dial(byte('a' + i)) }
}

// TestEveryTypeModes: each type watched level-triggered, edge-triggered
// and one-shot: after an arrival, LT reports IN at every wait, ET once,
// ONESHOT once and again after EPOLL_CTL_MOD re-arms it.
func TestEveryTypeModes(t *testing.T) {
	for _, s := range subjects {
		t.Run(s.name, func(t *testing.T) {
			k := newTestKernel(t, s.opts)
			g := newGuest(t, k.Sys, nil)
			fd, arrive := s.install(t, k, g)
			lt, et, one := g.epollCreate(), g.epollCreate(), g.epollCreate()
			g.mustCtl(lt, unix.EPOLL_CTL_ADD, fd, epollIn, 1)
			g.mustCtl(et, unix.EPOLL_CTL_ADD, fd, epollIn|epollET, 2)
			g.mustCtl(one, unix.EPOLL_CTL_ADD, fd, epollIn|epollOne, 3)
			g.mustWait(lt, 0)
			arrive(0)
			g.mustWait(et, 10000, event{evIn, 2}) // host events arrive asynchronously
			g.mustWait(et, 0)
			g.mustWait(lt, 0, event{evIn, 1})
			g.mustWait(lt, 0, event{evIn, 1})
			g.mustWait(one, 0, event{evIn, 3})
			g.mustWait(one, 0)
			g.mustCtl(one, unix.EPOLL_CTL_MOD, fd, epollIn|epollOne, 4)
			g.mustWait(one, 0, event{evIn, 4})
		})
	}
}

// TestEveryTypeNested: each type watched by an instance that an outer
// instance watches edge-triggered: a thread blocked on the outer one is
// woken by the arrival, and the inner one reports the file.
func TestEveryTypeNested(t *testing.T) {
	for _, s := range subjects {
		t.Run(s.name, func(t *testing.T) {
			k := newTestKernel(t, s.opts)
			g := newGuest(t, k.Sys, nil)
			fd, arrive := s.install(t, k, g)
			inner, outer := g.epollCreate(), g.epollCreate()
			g.mustCtl(inner, unix.EPOLL_CTL_ADD, fd, epollIn, 1)
			g.mustCtl(outer, unix.EPOLL_CTL_ADD, inner, epollIn|epollET, 2)
			done := g.start(syscalls.AMD64EpollWait, outer, evOut, 4, 10000)
			waitFor(t, "a blocked epoll_wait", func() bool { return g.epollWaiting(outer) })
			arrive(0)
			if r := <-done; r.e != 0 || r.r != 1 || g.u32(evOut+4) != 2 {
				t.Fatalf("outer epoll_wait = %d %v, data %d", r.r, r.e, g.u32(evOut+4))
			}
			g.mustWait(outer, 0)
			g.mustWait(inner, 0, event{evIn, 1})
		})
	}
}

// TestEveryTypeExclusive: two threads blocked in epoll_wait on instances
// of their own, each with an EPOLLEXCLUSIVE registration of the file: one
// arrival wakes exactly one of them, the first to ADD; a signal ends the
// other's wait (EINTR).
func TestEveryTypeExclusive(t *testing.T) {
	for _, s := range subjects {
		t.Run(s.name, func(t *testing.T) {
			k := newTestKernel(t, s.opts)
			table := fd.NewTable()
			t.Cleanup(table.CloseAll)
			gs := [2]*guest{newGuest(t, k.Sys, table), newGuest(t, k.Sys, table)}
			fd, arrive := s.install(t, k, gs[0])
			var done [2]<-chan result
			for i, g := range gs {
				ep := g.epollCreate()
				g.mustCtl(ep, unix.EPOLL_CTL_ADD, fd, epollIn|epollExcl, uint64(i))
				done[i] = g.start(syscalls.AMD64EpollWait, ep, evOut, 4, 10000)
				waitFor(t, "a blocked epoll_wait", func() bool { return g.epollWaiting(ep) })
			}
			arrive(0)
			if r := <-done[0]; r.e != 0 || r.r != 1 {
				t.Fatalf("first epoll_wait = %d %v", r.r, r.e)
			}
			settle()
			gs[1].t.Interrupt(int(unix.SIGUSR2))
			if r := <-done[1]; r.e != unix.EINTR {
				t.Errorf("second epoll_wait = %d %v: woken too", r.r, r.e)
			}
		})
	}
}
