package peers

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/hostfd"
	"github.com/guestpoll/guestpoll/internal/kerneltest"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// threadsIn counts the process's OS threads, and those of them that are
// blocked in system call nr now (/proc/self/task/*/syscall), or -1, -1.
func threadsIn(nr int) (all, in int) {
	dirs, err := filepath.Glob("/proc/self/task/*/syscall")
	if err != nil || len(dirs) == 0 {
		return -1, -1
	}
	for _, p := range dirs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue // the thread exited meanwhile
		}
		all++
		if f := strings.Fields(string(data)); len(f) > 0 {
			if n, err := strconv.Atoi(f[0]); err == nil && n == nr {
				in++
			}
		}
	}
	return all, in
}

func cpuNow() int64 {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// reportThreads reports the process's OS threads and those blocked in
// ppoll (the bridge's pollers; none for host epoll), after the loop.
func reportThreads(b *testing.B, cpu0 int64) {
	b.ReportMetric(float64(cpuNow()-cpu0)/float64(b.N), "cpu-ns/op")
	all, pollers := threadsIn(unix.SYS_PPOLL)
	b.ReportMetric(float64(all), "threads")
	b.ReportMetric(float64(pollers), "pollers")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "gomaxprocs")
}

// BenchmarkHostfdEvents: n host eventfds watched, one of which a host write
// (from outside the model: the fd's own number) makes readable per round;
// the round ends when the waiter on it has been woken and has drained it.
// impl=hostfd imports the eventfds into a hostfd.Bridge (default shards)
// and waits on each File's queue, so the event travels through the
// bridge's ppoll pollers; impl=host watches them edge-triggered with one
// native epoll. 1e9 / ns/op is events per second for one waiter;
// cpu-ns/op is the CPU time of the whole process per event; pollers
// counts the threads blocked in ppoll after the loop.
func BenchmarkHostfdEvents(b *testing.B) {
	for _, n := range []int{1, 1000, 10000} {
		b.Run(fmt.Sprintf("impl=host/n=%d", n), func(b *testing.B) { hostEvents(b, n) })
		b.Run(fmt.Sprintf("impl=hostfd/n=%d", n), func(b *testing.B) { bridgeEvents(b, n) })
	}
}

func hostEvents(b *testing.B, n int) {
	epfd, fds := kerneltest.HostSet(b, n, -1, unix.EPOLLIN|unix.EPOLLET)
	evs := make([]unix.EpollEvent, 8)
	cpu0 := cpuNow()
	kerneltest.Settle(b)
	for i := 0; b.Loop(); i++ {
		k := (i * 7919) % n
		if err := kerneltest.HostEventfdWrite(fds[k], 1); err != nil {
			b.Fatal(err)
		}
		if _, err := kerneltest.HostWait(epfd, evs, -1); err != nil {
			b.Fatal(err)
		}
		if _, err := kerneltest.HostEventfdRead(fds[k]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportThreads(b, cpu0)
}

// bridged is one imported eventfd and the waiter on its queue.
type bridged struct {
	hostFD  int
	file    *fs.File
	sleeper *waiter.Sleeper
	entry   waiter.Entry
}

func bridgeEvents(b *testing.B, n int) {
	if ok, limit := kerneltest.HostFDRoom(n + 16); !ok {
		b.Skipf("needs %d fds; RLIMIT_NOFILE is %d", n+16, limit)
	}
	br, err := hostfd.NewBridge(hostfd.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	fds := make([]*bridged, n)
	for i := range fds {
		hfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
		if err != nil {
			b.Fatal(err)
		}
		f, err := br.Import(hfd, hostfd.ImportOptions{})
		if err != nil {
			b.Fatal(err)
		}
		w := &bridged{hostFD: hfd, file: f, sleeper: waiter.NewSleeper()}
		w.entry.Init(w.sleeper, false, false)
		f.EventRegister(&w.entry)
		f.Readiness(waiter.EventIn) // arms IN: the fd is low
		fds[i] = w
	}
	defer func() {
		for _, w := range fds {
			w.file.EventUnregister(&w.entry)
			w.file.DecRef()
		}
	}()
	br.Sync()
	buf := make([]byte, 8)
	cpu0 := cpuNow()
	kerneltest.Settle(b)
	for i := 0; b.Loop(); i++ {
		w := fds[(i*7919)%n]
		// Behind the bridge's back, as another process sharing the
		// eventfd would: the file still owns the number.
		if err := kerneltest.HostEventfdWrite(w.hostFD, 1); err != nil {
			b.Fatal(err)
		}
		for {
			<-w.sleeper.C()
			if _, err := w.file.Read(buf); err == nil {
				break
			}
		}
		w.file.Read(buf) // EAGAIN: re-arms IN
	}
	b.StopTimer()
	reportThreads(b, cpu0)
}
