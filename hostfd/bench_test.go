package hostfd

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// Benchmarks, model side by side with the host: impl=hostfd is an
// imported host fd whose readiness reaches a model wait queue through the
// bridge's poller; impl=host is the same host event through a native host
// epoll.

func osThreads() int {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return -1
}

func cpuNow() int64 {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkHostEventToWakeup is the latency from a host event (a write by
// someone outside the model into a pipe) to the wakeup of a waiter blocked
// on it, as a ping-pong: the writer writes one byte and waits until the
// waiter, woken, has read it back and answered.
func BenchmarkHostEventToWakeup(b *testing.B) {
	b.Run("impl=hostfd", func(b *testing.B) {
		br := newBridge(b, 1)
		r, w := hostPipe(b)
		defer unix.Close(w)
		f, err := br.Import(r, ImportOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer f.DecRef()
		ent := register(f)
		defer f.EventUnregister(&ent.e)
		f.Readiness(waiter.EventIn)
		ack := make(chan struct{})
		done := make(chan struct{})
		go func() {
			buf := make([]byte, 8)
			for {
				select {
				case <-ent.s.C():
				case <-done:
					return
				}
				for {
					if _, err := f.Read(buf); err != nil {
						break // EAGAIN: drained, IN re-armed
					}
					ack <- struct{}{}
				}
			}
		}()
		one := []byte{1}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			unix.Write(w, one)
			<-ack
		}
		b.StopTimer()
		close(done)
	})
	b.Run("impl=host", func(b *testing.B) {
		r, w := hostPipe(b)
		defer unix.Close(r)
		defer unix.Close(w)
		unix.SetNonblock(r, true)
		ep := kerneltest.HostEpoll(b)
		kerneltest.HostCtl(b, ep, unix.EPOLL_CTL_ADD, r, unix.EPOLLIN|unix.EPOLLET, 1)
		ack := make(chan struct{})
		done := make(chan struct{})
		go func() {
			buf := make([]byte, 8)
			evs := make([]unix.EpollEvent, 4)
			for {
				if n, _ := unix.EpollWait(ep, evs, 100); n == 0 {
					select {
					case <-done:
						return
					default:
						continue
					}
				}
				for {
					if _, err := unix.Read(r, buf); err != nil {
						break
					}
					ack <- struct{}{}
				}
			}
		}()
		one := []byte{1}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			unix.Write(w, one)
			<-ack
		}
		b.StopTimer()
		close(done)
	})
}

// rounds returns the ppoll calls the bridge's home pollers and its fast
// poller have made.
func (b *Bridge) rounds() (home, fast uint64) {
	for _, s := range b.shards {
		home += s.rounds.Load()
	}
	return home, b.fast.rounds.Load()
}

// BenchmarkManyFDs: 10,000 watched fds, one of which becomes ready per
// round (a host write to an eventfd); the round ends when its waiter has
// been woken and has drained it. Reported side by side for the bridge and
// a native host epoll: the CPU time of the whole process per round
// (cpu-ns/op), the OS threads of the process with the 10,000 fds watched
// (threads, next to gomaxprocs), and for the bridge its pollers and the
// ppoll calls they make per round (each costs the kernel a pass over its
// shard's fds).
func BenchmarkManyFDs(b *testing.B) {
	const n = 10000
	if ok, lim := kerneltest.HostFDRoom(n + 16); !ok {
		b.Skipf("RLIMIT_NOFILE %d is too low for %d fds", lim, n)
	}
	// The host first, so that its thread count is not the bridge's.
	b.Run("impl=host", func(b *testing.B) {
		ep := kerneltest.HostEpoll(b)
		fds := make([]int, 0, n)
		defer func() {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}()
		for i := 0; i < n; i++ {
			fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
			if err != nil {
				b.Fatal(err)
			}
			fds = append(fds, fd)
			kerneltest.HostCtl(b, ep, unix.EPOLL_CTL_ADD, fd, unix.EPOLLIN|unix.EPOLLET, uint64(i))
		}
		one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
		buf := make([]byte, 8)
		evs := make([]unix.EpollEvent, 8)
		cpu0 := cpuNow()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			k := (i * 7919) % n
			unix.Write(fds[k], one)
			unix.EpollWait(ep, evs, -1)
			unix.Read(fds[k], buf)
		}
		b.StopTimer()
		b.ReportMetric(float64(cpuNow()-cpu0)/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(osThreads()), "threads")
		b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "gomaxprocs")
	})
	b.Run("impl=hostfd", func(b *testing.B) { manyFDsBridge(b, n, true) })
	// Without the fast (re-arm) poller: every re-arm wakes a home poller,
	// for a second pass over its fds.
	b.Run("impl=hostfd-nofast", func(b *testing.B) { manyFDsBridge(b, n, false) })
}

// watchedEventfds imports n eventfds into br, each with a registered
// waiter and polled once for EPOLLIN; release unregisters the waiters and
// drops the files.
func watchedEventfds(b *testing.B, br *Bridge, n int) (files []*fs.File, ents []*waitEntry, release func()) {
	release = func() {
		for i, f := range files {
			f.EventUnregister(&ents[i].e)
			f.DecRef()
		}
	}
	files = make([]*fs.File, 0, n)
	ents = make([]*waitEntry, 0, n)
	for i := 0; i < n; i++ {
		f, err := br.Eventfd(0, unix.O_NONBLOCK)
		if err != nil {
			release()
			b.Fatal(err)
		}
		files = append(files, f)
		ents = append(ents, register(f))
		f.Readiness(waiter.EventIn)
	}
	return files, ents, release
}

// hostEvent is one event of the bridge benchmarks: a host write to f's
// eventfd behind the bridge's back (as another process sharing it would),
// the wait for e's wakeup, and reads that drain f to EAGAIN (re-arming
// it); one holds the eventfd word 1, buf room for a word.
func hostEvent(f *fs.File, e *waitEntry, one, buf []byte) {
	_, h := hostOf(f)
	unix.Write(int(h.fd), one)
	<-e.s.C()
	f.Read(buf)
	f.Read(buf) // EAGAIN: re-armed
	// The read's own wakeup (OUT, eventfd_read's) is not the next event
	// of this waiter.
	e.s.Drain()
}

// manyFDsBridge is BenchmarkManyFDs on a bridge, with or without its fast
// poller.
func manyFDsBridge(b *testing.B, n int, fast bool) {
	br := newBridge(b, DefaultShards)
	if !fast {
		br.fastCap = 0
	}
	files, ents, release := watchedEventfds(b, br, n)
	defer release()
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	buf := make([]byte, 8)
	br.Sync()
	cpu0 := cpuNow()
	home0, fast0 := br.rounds()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := (i * 7919) % n
		hostEvent(files[k], ents[k], one, buf)
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuNow()-cpu0)/float64(b.N), "cpu-ns/op")
	home, fastRounds := br.rounds()
	b.ReportMetric(float64(home-home0)/float64(b.N), "ppolls/op")
	b.ReportMetric(float64(fastRounds-fast0)/float64(b.N), "fast-ppolls/op")
	b.ReportMetric(float64(len(br.all)), "pollers")
	b.ReportMetric(float64(osThreads()), "threads")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "gomaxprocs")
}

// BenchmarkBridge compares the two notifiers in one run: fds imported
// eventfds, each with a waiter, one of which a host write (behind the
// bridge's back, as another process sharing the eventfd would) makes
// ready per iteration; the iteration ends when its waiter was woken and
// has drained the eventfd to EAGAIN. ns/op is the latency of one event
// (host write to woken waiter), events/s its inverse, cpu-ns/op the CPU
// time of the whole process per event (the bridge's per-event cost).
func BenchmarkBridge(b *testing.B) {
	for _, mode := range notifiers {
		for _, n := range []int{1, 1000, 10000} {
			b.Run(fmt.Sprintf("mode=%v/fds=%d", mode, n), func(b *testing.B) {
				if ok, lim := kerneltest.HostFDRoom(n + 16); !ok {
					b.Skipf("RLIMIT_NOFILE %d is too low for %d fds", lim, n)
				}
				benchBridge(b, mode, n)
			})
		}
	}
}

func benchBridge(b *testing.B, mode Notifier, n int) {
	br, err := NewBridge(Options{Notifier: mode})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	files, ents, release := watchedEventfds(b, br, n)
	defer release()
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	buf := make([]byte, 8)
	br.Sync()
	cpu0 := cpuNow()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		k := (i * 7919) % n
		hostEvent(files[k], ents[k], one, buf)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(cpuNow()-cpu0)/float64(b.N), "cpu-ns/op")
}
