package epoll_test

import (
	"fmt"
	"testing"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// BenchmarkHarvestOneReady: 1 level-triggered ready registration among N.
func BenchmarkHarvestOneReady(b *testing.B) {
	for _, n := range []int{1, 1000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			d := epoll.NewDomain()
			ep, f := newEpollB(d)
			defer f.DecRef()
			for i := 0; i < n; i++ {
				mask := waiter.EventMask(0)
				if i == n/2 {
					mask = waiter.EventIn
				}
				tf, _ := kerneltest.NewFakeFile(mask)
				if err := ep.Add(epoll.FileIdentifier{File: tf, Fd: int32(i)}, waiter.EventIn, uint64(i)); err != nil {
					b.Fatal(err)
				}
			}
			buf := make([]epoll.Event, 64)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if k, _ := ep.ReadEvents(buf, len(buf), nil); k != 1 {
					b.Fatalf("harvested %d", k)
				}
			}
		})
	}
}

func BenchmarkModify(b *testing.B) {
	d := epoll.NewDomain()
	ep, f := newEpollB(d)
	defer f.DecRef()
	tf, _ := kerneltest.NewFakeFile(waiter.EventIn)
	id := epoll.FileIdentifier{File: tf, Fd: 3}
	if err := ep.Add(id, waiter.EventIn, 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := ep.Modify(id, waiter.EventIn|waiter.EventET, uint64(i)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAddDelete(b *testing.B) {
	d := epoll.NewDomain()
	ep, f := newEpollB(d)
	defer f.DecRef()
	tf, _ := kerneltest.NewFakeFile(0)
	id := epoll.FileIdentifier{File: tf, Fd: 3}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := ep.Add(id, waiter.EventIn, 0); err != nil {
			b.Fatal(err)
		}
		if err := ep.Delete(id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWakeupHarvest: an edge-triggered wakeup then its harvest.
func BenchmarkWakeupHarvest(b *testing.B) {
	d := epoll.NewDomain()
	ep, f := newEpollB(d)
	defer f.DecRef()
	tf, ff := kerneltest.NewFakeFile(waiter.EventIn)
	if err := ep.Add(epoll.FileIdentifier{File: tf, Fd: 3}, waiter.EventIn|waiter.EventET, 0); err != nil {
		b.Fatal(err)
	}
	buf := make([]epoll.Event, 8)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ff.Queue().Notify(waiter.EventIn)
		if k, _ := ep.ReadEvents(buf, len(buf), nil); k != 1 {
			b.Fatalf("harvested %d", k)
		}
	}
}

func newEpollB(d *epoll.Domain) (*epoll.EventPoll, interface{ DecRef() }) {
	f := epoll.NewFile(d)
	ep, _ := epoll.FromFile(f)
	return ep, f
}

func TestHotPathsAllocateNothing(t *testing.T) {
	d := epoll.NewDomain()
	ep, f := newEpollB(d)
	defer f.DecRef()
	tf, ff := kerneltest.NewFakeFile(waiter.EventIn)
	id := epoll.FileIdentifier{File: tf, Fd: 3}
	must(t, ep.Add(id, waiter.EventIn|waiter.EventET, 0))
	buf := make([]epoll.Event, 8)
	for name, fn := range map[string]func(){
		"modify":  func() { _ = ep.Modify(id, waiter.EventIn|waiter.EventET, 1) },
		"wakeup":  func() { ff.Queue().Notify(waiter.EventIn) },
		"harvest": func() { _, _ = ep.ReadEvents(buf, len(buf), nil) },
	} {
		if n := testing.AllocsPerRun(200, fn); n != 0 {
			t.Errorf("%s allocates %v per call", name, n)
		}
	}
}
