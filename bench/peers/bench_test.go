package peers

// The benchmarks of issue 17's table: one function per operation, one
// sub-benchmark per implementation (doc.go says what each one drives).

import (
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/sentry/vfs"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/syscalls"
)

// others is how many registrations the epoll_ctl benchmarks' instance holds
// besides the one they change.
const others = 1000

// BenchmarkHarvest: epoll_wait with timeout 0 returning 1 level-triggered
// ready eventfd among n, into room for 64 events. gvisor and model call
// the instance's ReadEvents; syscall is epoll_wait through Task.Syscall
// (copy-out to guest memory included); host is epoll_wait.
func BenchmarkHarvest(b *testing.B) {
	for _, n := range []int{1, 1000} {
		b.Run(fmt.Sprintf("impl=host/n=%d", n), func(b *testing.B) {
			kerneltest.BenchHostHarvest(b, n)
		})
		b.Run(fmt.Sprintf("impl=gvisor/n=%d", n), func(b *testing.B) {
			ep, _ := newGvisorSet(b, newGvisorEnv(b), n, n/2, linux.EPOLLIN)
			evs := make([]linux.EpollEvent, 0, 64)
			kerneltest.Settle(b)
			for b.Loop() {
				if got := ep.ReadEvents(evs[:0], cap(evs)); len(got) != 1 {
					b.Fatalf("harvested %d", len(got))
				}
			}
		})
		b.Run(fmt.Sprintf("impl=model/n=%d", n), func(b *testing.B) {
			kerneltest.BenchModelHarvest(b, n)
		})
		b.Run(fmt.Sprintf("impl=syscall/n=%d", n), func(b *testing.B) {
			x, ep, _ := newSyscallSet(b, n, n/2, unix.EPOLLIN)
			a := [6]uintptr{ep, waitOut, 64, 0}
			kerneltest.Settle(b)
			for b.Loop() {
				if k, e := x.t.Syscall(syscalls.AMD64EpollWait, a); k != 1 || e != 0 {
					b.Fatal(k, e)
				}
			}
		})
	}
}

// BenchmarkCtlAddDel: EPOLL_CTL_ADD then EPOLL_CTL_DEL of one eventfd on an
// instance holding 1000 other registrations.
func BenchmarkCtlAddDel(b *testing.B) {
	b.Run("impl=host", func(b *testing.B) { kerneltest.BenchHostCtlAddDel(b, others) })
	b.Run("impl=gvisor", func(b *testing.B) {
		g := newGvisorEnv(b)
		ep, _ := newGvisorSet(b, g, others, -1, linux.EPOLLIN)
		f := g.eventfd(b, 0)
		defer g.drop(f)
		ev := gvisorEvent(linux.EPOLLIN, 1)
		kerneltest.Settle(b)
		for b.Loop() {
			if err := ep.AddInterest(f, 5000, ev); err != nil {
				b.Fatal(err)
			}
			if err := ep.DeleteInterest(f, 5000); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=model", func(b *testing.B) { kerneltest.BenchModelCtlAddDel(b, others) })
	b.Run("impl=syscall", func(b *testing.B) {
		x, ep, _ := newSyscallSet(b, others, -1, unix.EPOLLIN)
		fd := x.eventfd(0)
		x.setEvent(unix.EPOLLIN, 1)
		add := [6]uintptr{ep, unix.EPOLL_CTL_ADD, fd, ctlEvent}
		del := [6]uintptr{ep, unix.EPOLL_CTL_DEL, fd, 0}
		kerneltest.Settle(b)
		for b.Loop() {
			if _, e := x.t.Syscall(syscalls.AMD64EpollCtl, add); e != 0 {
				b.Fatal(e)
			}
			if _, e := x.t.Syscall(syscalls.AMD64EpollCtl, del); e != 0 {
				b.Fatal(e)
			}
		}
	})
}

// BenchmarkCtlMod: EPOLL_CTL_MOD (to EPOLLIN|EPOLLET) of a registration
// whose eventfd is not ready, among 1000. The data changes on every call
// except through the syscall layer (it would cost a guest-memory write).
func BenchmarkCtlMod(b *testing.B) {
	const target = others / 2
	b.Run("impl=host", func(b *testing.B) { kerneltest.BenchHostCtlMod(b, others) })
	b.Run("impl=gvisor", func(b *testing.B) {
		ep, files := newGvisorSet(b, newGvisorEnv(b), others, -1, linux.EPOLLIN)
		kerneltest.Settle(b)
		i := int32(0)
		for b.Loop() {
			i++
			if err := ep.ModifyInterest(files[target], target, gvisorEvent(linux.EPOLLIN|linux.EPOLLET, i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=model", func(b *testing.B) { kerneltest.BenchModelCtlMod(b, others) })
	b.Run("impl=syscall", func(b *testing.B) {
		x, ep, fds := newSyscallSet(b, others, -1, unix.EPOLLIN)
		x.setEvent(unix.EPOLLIN|unix.EPOLLET, 7)
		mod := [6]uintptr{ep, unix.EPOLL_CTL_MOD, fds[target], ctlEvent}
		kerneltest.Settle(b)
		for b.Loop() {
			if _, e := x.t.Syscall(syscalls.AMD64EpollCtl, mod); e != 0 {
				b.Fatal(e)
			}
		}
	})
}

// BenchmarkWakeupRoundTrip: two goroutines (locked OS threads on the host)
// ping-pong through two eventfds, each watched level-triggered by its own
// epoll instance, with blocking waits; impl=chan is a bare ping-pong over
// unbuffered channels, the floor of any goroutine handoff, and impl=floor
// the model's synchronisation alone around the same parking
// (kerneltest.BenchSyncFloorRoundTrip), the best the model can reach: its
// ratio to chan is printed beside the round-trip target.
func BenchmarkWakeupRoundTrip(b *testing.B) {
	b.Run("impl=host", kerneltest.BenchHostRoundTrip)
	for _, impl := range []struct {
		name  string
		setup func(testing.TB) (roundTrip, stop func())
	}{
		{"gvisor", gvisorRoundTrip},
		{"model", modelRoundTrip},
		{"syscall", syscallRoundTrip},
	} {
		b.Run("impl="+impl.name, func(b *testing.B) {
			roundTrip, stop := impl.setup(b)
			defer stop()
			kerneltest.Settle(b)
			for b.Loop() {
				roundTrip()
			}
		})
	}
	b.Run("impl=chan", kerneltest.BenchChanPingPong)
	b.Run("impl=floor", kerneltest.BenchSyncFloorRoundTrip)
}

// BenchmarkEventfdWriteRead: an 8-byte write then an 8-byte read of a
// non-blocking eventfd. gvisor calls vfs.FileDescription's Write and Read
// (the sequences over Go buffers are built once); model calls fs.File's;
// syscall is write and read through Task.Syscall.
func BenchmarkEventfdWriteRead(b *testing.B) {
	b.Run("impl=host", kerneltest.BenchHostEventfdWriteRead)
	b.Run("impl=gvisor", func(b *testing.B) {
		g := newGvisorEnv(b)
		f := g.eventfd(b, 0)
		defer g.drop(f)
		one := usermem.BytesIOSequence([]byte{1, 0, 0, 0, 0, 0, 0, 0})
		taken := usermem.BytesIOSequence(make([]byte, 8))
		kerneltest.Settle(b)
		for b.Loop() {
			if _, err := f.Write(g.ctx, one, vfs.WriteOptions{}); err != nil {
				b.Fatal(err)
			}
			if _, err := f.Read(g.ctx, taken, vfs.ReadOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=model", func(b *testing.B) {
		f := fs.NewEventfd(0, unix.O_NONBLOCK)
		defer f.DecRef()
		one, taken := []byte{1, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 8)
		kerneltest.Settle(b)
		for b.Loop() {
			if _, err := f.Write(one); err != nil {
				b.Fatal(err)
			}
			if _, err := f.Read(taken); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=syscall", func(b *testing.B) {
		x := newSyscallEnv(b)
		efd := x.eventfd(0)
		w := [6]uintptr{efd, oneWord, 8}
		r := [6]uintptr{efd, readWord, 8}
		kerneltest.Settle(b)
		for b.Loop() {
			if k, e := x.t.Syscall(syscalls.AMD64Write, w); k != 8 || e != 0 {
				b.Fatal(k, e)
			}
			if k, e := x.t.Syscall(syscalls.AMD64Read, r); k != 8 || e != 0 {
				b.Fatal(k, e)
			}
		}
	})
}
