package syscalls

// Syscall-level benchmarks against the host kernel (issue 7): each has an
// impl=model variant (Task.Syscall, guest memory copy-in/out included) and
// an impl=host variant (the same syscall through golang.org/x/sys/unix).

import (
	"fmt"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
)

// BenchmarkSyscallEpollWait: epoll_wait(timeout 0, maxevents 64) returning
// 1 level-triggered ready eventfd among n registrations.
func BenchmarkSyscallEpollWait(b *testing.B) {
	for _, n := range []int{1, 1000} {
		b.Run(fmt.Sprintf("impl=model/n=%d", n), func(b *testing.B) {
			x := newTT(b, AMD64)
			ep := x.epoll()
			for i := 0; i < n; i++ {
				var init uint32
				if i == n/2 {
					init = 1
				}
				efd := x.eventfd(init, 0)
				if e := x.ctl(ep, epollCtlAdd, efd, unix.EPOLLIN, uint64(i)); e != 0 {
					b.Fatal(e)
				}
			}
			a := [6]uintptr{ep, memBase + 0x1000, 64, 0}
			b.ReportAllocs()
			for b.Loop() {
				if k, e := x.t.Syscall(AMD64EpollWait, a); k != 1 || e != 0 {
					b.Fatal(k, e)
				}
			}
		})
		b.Run(fmt.Sprintf("impl=host/n=%d", n), func(b *testing.B) {
			epfd := kerneltest.HostEpoll(b)
			for i := 0; i < n; i++ {
				var init uint
				if i == n/2 {
					init = 1
				}
				kerneltest.HostCtl(b, epfd, unix.EPOLL_CTL_ADD, kerneltest.HostEventfd(b, init), unix.EPOLLIN, uint64(i))
			}
			evs := make([]unix.EpollEvent, 64)
			b.ReportAllocs()
			for b.Loop() {
				if k, err := unix.EpollWait(epfd, evs, 0); k != 1 {
					b.Fatal(k, err)
				}
			}
		})
	}
}

// BenchmarkSyscallEventfd: write(8 bytes) then read(8 bytes) of an eventfd.
func BenchmarkSyscallEventfd(b *testing.B) {
	b.Run("impl=model", func(b *testing.B) {
		x := newTT(b, AMD64)
		efd := x.eventfd(0, 0)
		x.putU64(memBase+0xa00, 1)
		w := [6]uintptr{efd, memBase + 0xa00, 8}
		r := [6]uintptr{efd, memBase + 0xb00, 8}
		b.ReportAllocs()
		for b.Loop() {
			if k, e := x.t.Syscall(AMD64Write, w); k != 8 || e != 0 {
				b.Fatal(k, e)
			}
			if k, e := x.t.Syscall(AMD64Read, r); k != 8 || e != 0 {
				b.Fatal(k, e)
			}
		}
	})
	b.Run("impl=host", kerneltest.BenchHostEventfdWriteRead)
}

// syscallRoundTrip sets up two tasks of one kernel ping-ponging through two
// eventfds, each watched level-triggered by its own epoll instance, with
// blocking epoll_waits (timeout -1) and blocking reads, all through
// Task.Syscall. It returns one round trip and the function that stops the
// peer.
func syscallRoundTrip(x *tt) (roundTrip, stop func()) {
	e1, e2 := x.eventfd(0, 0), x.eventfd(0, 0)
	ep1, ep2 := x.epoll(), x.epoll()
	x.ctl(ep1, epollCtlAdd, e1, unix.EPOLLIN, 1)
	x.ctl(ep2, epollCtlAdd, e2, unix.EPOLLIN, 2)
	x.putU64(memBase+0xa00, 1)
	x.putU64(memBase+0xa08, 1)
	peer := x.sibling()
	var quit atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		wait := [6]uintptr{ep1, memBase + 0x2000, 8, neg(-1)}
		read := [6]uintptr{e1, memBase + 0xb08, 8}
		write := [6]uintptr{e2, memBase + 0xa08, 8}
		for {
			if _, e := peer.Syscall(AMD64EpollWait, wait); e != 0 {
				panic(e)
			}
			if _, e := peer.Syscall(AMD64Read, read); e != 0 {
				panic(e)
			}
			if quit.Load() {
				return
			}
			if _, e := peer.Syscall(AMD64Write, write); e != 0 {
				panic(e)
			}
		}
	}()
	wait := [6]uintptr{ep2, memBase + 0x1000, 8, neg(-1)}
	read := [6]uintptr{e2, memBase + 0xb00, 8}
	write := [6]uintptr{e1, memBase + 0xa00, 8}
	roundTrip = func() {
		if _, e := x.t.Syscall(AMD64Write, write); e != 0 {
			panic(e)
		}
		if _, e := x.t.Syscall(AMD64EpollWait, wait); e != 0 {
			panic(e)
		}
		if _, e := x.t.Syscall(AMD64Read, read); e != 0 {
			panic(e)
		}
	}
	stop = func() {
		quit.Store(true)
		x.t.Syscall(AMD64Write, write)
		<-done
	}
	return roundTrip, stop
}

// BenchmarkSyscallWakeupRoundTrip: the wakeup round trip of
// kernel/epoll's BenchmarkWakeupRoundTrip, through the syscall layer.
func BenchmarkSyscallWakeupRoundTrip(b *testing.B) {
	b.Run("impl=model", func(b *testing.B) {
		roundTrip, stop := syscallRoundTrip(newTT(b, AMD64))
		defer stop()
		b.ReportAllocs()
		for b.Loop() {
			roundTrip()
		}
	})
	b.Run("impl=host", kerneltest.BenchHostRoundTrip)
	b.Run("impl=chan", kerneltest.BenchChanPingPong)
}

// TestSyscallHotPathAllocs: eventfd reads and writes and a blocking wakeup
// round trip through the syscall layer allocate nothing.
func TestSyscallHotPathAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts need a non-race build")
	}
	x := newTT(t, AMD64)
	efd := x.eventfd(0, 0)
	x.putU64(memBase+0xa00, 1)
	w := [6]uintptr{efd, memBase + 0xa00, 8}
	r := [6]uintptr{efd, memBase + 0xb00, 8}
	if n := testing.AllocsPerRun(100, func() {
		x.t.Syscall(AMD64Write, w)
		x.t.Syscall(AMD64Read, r)
	}); n != 0 {
		t.Errorf("allocs per eventfd write+read: %v", n)
	}
	roundTrip, stop := syscallRoundTrip(x)
	defer stop()
	for i := 0; i < 100; i++ {
		roundTrip()
	}
	if n := testing.AllocsPerRun(500, roundTrip); n != 0 {
		t.Errorf("allocs per wakeup round trip: %v", n)
	}
}
