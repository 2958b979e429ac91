package checkpoint

import (
	"syscall"
	"testing"

	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
	"github.com/guestpoll/guestpoll/syscalls"
)

const (
	benchFiles     = 10000
	benchInstances = 10 // each watches every file: 100,000 registrations
)

// bigWorld is a kernel with benchFiles eventfds and pipes and
// benchInstances epoll instances that each watch all of them, half of the
// registrations ready.
func bigWorld(b *testing.B) *world {
	clock := fs.NewFakeClock()
	k := syscalls.NewKernelClock(clock)
	w := &world{k: k, clock: clock, tab: fd.NewTable(), mem: syscalls.NewGuestMemory()}
	must(b, w.tab.SetLimit(fd.NrOpen, fd.NrOpen))
	var files []*fs.File
	for i := 0; i < benchFiles/2; i++ {
		e := fs.NewEventfd(uint64(i%2), 0)
		install(b, w.tab, e, false)
		r, wr := fs.NewPipe(0)
		install(b, w.tab, r, false)
		install(b, w.tab, wr, false)
		files = append(files, e, r)
	}
	for j := 0; j < benchInstances; j++ {
		ef := epoll.NewFile(k.EpollDomain())
		install(b, w.tab, ef, false)
		x, _ := epoll.FromFile(ef)
		for i, f := range files {
			fdn := int32(3*(i/2) + i%2)
			must(b, x.Add(epoll.FileIdentifier{File: f, Fd: fdn}, waiter.EventIn|waiter.EventET, uint64(i)))
		}
	}
	w.tasks = append(w.tasks, syscalls.NewTask(k, w.tab, w.mem, syscalls.AMD64))
	if n := k.EpollDomain().Watches(); n != benchFiles*benchInstances {
		b.Fatalf("%d registrations", n)
	}
	return w
}

// BenchmarkSave is Save (snapshot and encoding) of a kernel with 100,000
// registrations over 10,000 files; "bytes" is the checkpoint's size.
func BenchmarkSave(b *testing.B) {
	w := bigWorld(b)
	defer w.close()
	var n int
	b.ResetTimer()
	cpu := cpuTime()
	for b.Loop() {
		n = len(saveWorld(b, w))
	}
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(n), "bytes")
}

// BenchmarkRestore is Restore (decoding, validation and rebuilding) of the
// same checkpoint into a new kernel; the teardown is not timed.
func BenchmarkRestore(b *testing.B) {
	w := bigWorld(b)
	data := saveWorld(b, w)
	w.close()
	b.ResetTimer()
	var cpu int64
	for b.Loop() {
		c := cpuTime()
		r, err := Restore(data, RestoreOptions{Clock: w.clock})
		must(b, err)
		cpu += cpuTime() - c
		b.StopTimer()
		r.Tasks[0].Exit()
		r.Tables[0].CloseAll()
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(len(data)), "bytes")
}

// cpuTime is the CPU time the process has used (user and system, every
// thread, the collector's included), in nanoseconds: on a loaded machine
// it says what an operation costs better than the wall clock does.
func cpuTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
