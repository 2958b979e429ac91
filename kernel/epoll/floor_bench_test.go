package epoll_test

import (
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkSyncFloor measures what the synchronisation that Linux's epoll
// structure needs costs on this machine, to tell which targets of
// docs/performance.md are reachable at all (issue 17):
//
//   - op=mutex-pair: an uncontended sync.Mutex Lock + Unlock;
//   - op=atomic-add: one atomic read-modify-write (LOCK XADD);
//   - op=atomic-store: one sequentially consistent store (XCHG);
//   - op=roundtrip-floor: the channel ping-pong of BenchmarkWakeupRoundTrip
//     (impl=chan) with, on each side of each half, only the lock pairs and
//     atomic writes that a blocking epoll_wait round trip through an
//     eventfd cannot do without, and no other work: the eventfd's queue
//     lock for the write's wakeup and for the read's, the instance's wait
//     lock to wake the sleeper and to register the next sleep, its harvest
//     lock twice (the harvest of the event and the one that finds the
//     level-triggered item stale, as Linux's ep_poll does), and the
//     eventfd counter's two compare-and-swaps, the woken list's push and
//     drain, and the sleeping flag's two stores. Its ratio to impl=chan is
//     the best the model's round trip can reach with Linux's structure.
func BenchmarkSyncFloor(b *testing.B) {
	b.Run("op=mutex-pair", func(b *testing.B) {
		var mu sync.Mutex
		for b.Loop() {
			mu.Lock()
			mu.Unlock()
		}
	})
	b.Run("op=atomic-add", func(b *testing.B) {
		var n atomic.Int64
		for b.Loop() {
			n.Add(1)
		}
	})
	b.Run("op=atomic-store", func(b *testing.B) {
		var n atomic.Int64
		for i := int64(0); b.Loop(); i++ {
			n.Store(i)
		}
	})
	b.Run("op=roundtrip-floor", func(b *testing.B) {
		ping, pong := make(chan int), make(chan int)
		var side [2]syncFloorSide
		go func() {
			for v := range ping {
				side[1].half()
				pong <- v
			}
		}()
		defer close(ping)
		b.ReportAllocs()
		for b.Loop() {
			side[0].half()
			ping <- 1
			<-pong
		}
	})
}

// syncFloorSide holds one side's locks and words (its own cache lines,
// as the model's eventfd, queue and instance are).
type syncFloorSide struct {
	queue, wait, harvest sync.Mutex
	counter, woken       atomic.Int64
	sleeping             atomic.Bool // +checklocksignore: not guarded (an atomic; the tool guesses from uses under wait)
	_                    [64]byte
}

// half is one side's synchronisation for one half round trip.
func (s *syncFloorSide) half() {
	s.counter.CompareAndSwap(s.counter.Load(), 1) // the peer's write
	s.queue.Lock()                                // its wakeup
	s.woken.Add(1)                                // push on the woken list
	s.wait.Lock()                                 // wake the sleeper
	s.sleeping.Store(false)
	s.wait.Unlock()
	s.queue.Unlock()
	s.harvest.Lock() // the harvest of the event
	s.woken.Swap(0)
	s.harvest.Unlock()
	s.counter.CompareAndSwap(1, 0) // the read
	s.queue.Lock()                 // its (filtered) wakeup
	s.queue.Unlock()
	s.harvest.Lock() // the harvest that finds the item stale
	s.harvest.Unlock()
	s.wait.Lock() // register the next sleep
	s.sleeping.Store(true)
	s.wait.Unlock()
}
