package epoll_test

// The scale benchmarks of issue 17: a harvest, and a wakeup with its
// harvest, cost the same with 1 registration on 1 instance as with
// 1,000,000 registrations on the instance or 100,000 instances in the
// domain (≤ 1.1x; cmd/benchtable prints the ratios). Model only: the
// host's fd limit is far below either number. Each comparison runs one
// timed-loop function for all its cases, so that the cases differ only
// in what surrounds the measured objects, not in the code that touches
// them.

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// scaleCase is one shape: the measured registration is one of regs on its
// instance, and that instance one of instances in the domain, each other
// instance holding one registration of its own eventfd.
type scaleCase struct {
	name            string
	regs, instances int
}

var (
	scaleBase      = scaleCase{"base", 1, 1}
	scaleRegs      = scaleCase{"regs-1000000", 1000000, 1}
	scaleInstances = scaleCase{"instances-100000", 1, 100000}
)

// scaleFillerFiles is how many eventfds carry the other registrations of
// a large instance: registrations are keyed by (file, fd), so 1000
// eventfds each registered under 1000 fd numbers make a million without a
// million files.
const scaleFillerFiles = 1000

// scaleSet builds c in a new domain and returns the instance holding the
// measured registration and its eventfd, which holds init and is
// registered with events last, after the instance's other registrations.
// The measured instance is the middle one; every instance and
// registration is built in the order a program would, so the measured
// objects sit among the others on the heap.
func scaleSet(b *testing.B, c scaleCase, events waiter.EventMask, init uint64) (*epoll.EventPoll, *fs.File) {
	b.Helper()
	var files []*fs.File
	b.Cleanup(func() {
		for _, f := range files {
			f.DecRef()
		}
	})
	add := func(ep *epoll.EventPoll, f *fs.File, fd int) {
		if err := ep.Add(epoll.FileIdentifier{File: f, Fd: int32(fd)}, events, uint64(fd)); err != nil {
			b.Fatal(err)
		}
	}
	newFile := func(init uint64) *fs.File {
		f := fs.NewEventfd(init, unix.O_NONBLOCK)
		files = append(files, f)
		return f
	}
	d := epoll.NewDomain()
	var measured *epoll.EventPoll
	var target *fs.File
	for i := 0; i < c.instances; i++ {
		epf := epoll.NewFile(d)
		files = append(files, epf)
		ep, _ := epoll.FromFile(epf)
		if i != c.instances/2 {
			add(ep, newFile(0), 3)
			continue
		}
		measured = ep
		var fillers []*fs.File
		for fd := 0; fd < c.regs-1; fd++ {
			if fd < scaleFillerFiles {
				fillers = append(fillers, newFile(0))
			}
			add(ep, fillers[fd%scaleFillerFiles], fd)
		}
		target = newFile(init)
		add(ep, target, c.regs-1)
	}
	if n := measured.Len(); n != c.regs {
		b.Fatalf("%d registrations, want %d", n, c.regs)
	}
	return measured, target
}

// BenchmarkScale: harvest of 1 level-triggered ready registration among
// 1,000,000 on one instance, and on one instance among 100,000 (each with
// one registration), in the timed loop of BenchmarkHarvest, whose n=1 case
// cmd/benchtable compares them with.
func BenchmarkScale(b *testing.B) {
	for _, c := range []scaleCase{scaleRegs, scaleInstances} {
		b.Run("impl=model/case="+c.name, func(b *testing.B) {
			ep, _ := scaleSet(b, c, waiter.EventIn, 1)
			kerneltest.BenchModelHarvestOn(b, ep)
		})
	}
}

// BenchmarkScaleWakeup: an eventfd write that wakes its edge-triggered
// registration (the wakeup callback queues the item), the harvest of that
// event and the read that consumes the count; for 1 registration on 1
// instance (case=base, the reference), 1 among 1,000,000 on its instance,
// and 1 on one of 100,000 instances.
func BenchmarkScaleWakeup(b *testing.B) {
	for _, c := range []scaleCase{scaleBase, scaleRegs, scaleInstances} {
		b.Run("impl=model/case="+c.name, func(b *testing.B) {
			ep, f := scaleSet(b, c, waiter.EventIn|waiter.EventET, 0)
			benchWakeupHarvestOn(b, ep, f)
		})
	}
}

// benchWakeupHarvestOn is BenchmarkScaleWakeup's timed loop, one function
// for every case (see BenchmarkScale).
//
//go:noinline
func benchWakeupHarvestOn(b *testing.B, ep *epoll.EventPoll, f *fs.File) {
	buf := make([]epoll.Event, 64)
	word := make([]byte, 8)
	kerneltest.Settle(b)
	for b.Loop() {
		word[0] = 1
		if _, err := f.Write(word); err != nil {
			b.Fatal(err)
		}
		if k, _ := ep.ReadEvents(buf, len(buf), nil); k != 1 {
			b.Fatalf("harvested %d", k)
		}
		if _, err := f.Read(word); err != nil {
			b.Fatal(err)
		}
	}
}
