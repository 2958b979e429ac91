package peers

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/sentry/vfs"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// registrations is how many ADDs the memory benchmark makes per round.
const registrations = 100000

// liveHeap is the heap in use after a collection.
func liveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// BenchmarkRegistrationMemory: memory per registration (B/reg) over
// 100,000 ADDs of distinct eventfds to a new instance, the eventfds
// created (fresh, every round) before the first measurement: the growth
// of the live heap for gvisor and model (for gVisor it includes the map
// entries and the per-file set of interests that AddInterest creates),
// the growth of the kernel's slab objects (/proc/slabinfo) for the host,
// over as many ADDs as RLIMIT_NOFILE allows. ns/op is a whole round.
func BenchmarkRegistrationMemory(b *testing.B) {
	b.Run("impl=host", func(b *testing.B) { kerneltest.BenchHostRegistrationMemory(b, registrations) })
	b.Run("impl=gvisor", func(b *testing.B) {
		g := newGvisorEnv(b)
		var perReg float64
		for b.Loop() {
			files := make([]*vfs.FileDescription, registrations)
			for i := range files {
				files[i] = g.eventfd(b, 0)
			}
			epf, err := g.vfs.NewEpollInstanceFD(g.ctx)
			if err != nil {
				b.Fatal(err)
			}
			ep := epf.Impl().(*vfs.EpollInstance)
			before := liveHeap()
			for i, f := range files {
				if err := ep.AddInterest(f, int32(i), gvisorEvent(linux.EPOLLIN, int32(i))); err != nil {
					b.Fatal(err)
				}
			}
			perReg = float64(liveHeap()-before) / registrations
			epf.DecRef(g.ctx)
			g.drop(files...)
		}
		b.ReportMetric(perReg, "B/reg")
	})
	b.Run("impl=model", func(b *testing.B) {
		var perReg float64
		for b.Loop() {
			files := make([]*fs.File, registrations)
			for i := range files {
				files[i] = fs.NewEventfd(0, unix.O_NONBLOCK)
			}
			epf := epoll.NewFile(epoll.NewDomain())
			ep, _ := epoll.FromFile(epf)
			before := liveHeap()
			for i, f := range files {
				if err := ep.Add(epoll.FileIdentifier{File: f, Fd: int32(i)}, waiter.EventIn, uint64(i)); err != nil {
					b.Fatal(err)
				}
			}
			perReg = float64(liveHeap()-before) / registrations
			epf.DecRef()
			for _, f := range files {
				f.DecRef()
			}
		}
		b.ReportMetric(perReg, "B/reg")
	})
}
