package kerneltest

import (
	"sync"
	"sync/atomic"
	"testing"
)

// The synchronisation floor of the wakeup round trip (impl=floor of the
// WakeupRoundTrip benchmarks): the model's round trip with everything but
// its synchronisation taken out. Each side is an eventfd watched
// level-triggered by its own instance, with one thread blocking in
// epoll_wait, reduced to the locks and atomic words the model's protocol
// needs (kernel/epoll/doc.go, "Lock order") and the same parking, a
// one-token channel per thread (waiter.Sleeper). Each step runs on the
// goroutine that does it in the model (the signaller on the peer's
// eventfd and instance, the woken thread on its own), so the cache lines
// move between CPUs as the model's do. What is left out is every step
// that is not synchronisation: the harvest's walk, the readiness polls,
// the event copy, the wait-queue walks, the calls through fs.File and
// fs.Impl, the counter's arithmetic. Its ratio to impl=chan is the best
// the model's round trip can reach on this machine without changing what
// synchronises (docs/performance.md, "Round 7").
type floorSide struct {
	// queue is the eventfd's wait-queue lock (waiter.Queue.mu): the write
	// takes it to run the epoll hook's wakeup, the read to run the hook
	// for its OUT wakeup, which the hook filters out.
	queue sync.Mutex
	// wait is the instance's wait lock (EventPoll.waitMu): the wakeup
	// takes it to wake the sleeper, the sleeper to register.
	wait sync.Mutex
	// harvest is the instance's harvest lock (EventPoll.mu): taken by the
	// harvest that reports the event and by the next one, which finds the
	// level-triggered item stale after the read (Linux's ep_poll).
	harvest sync.Mutex
	// counter is the eventfd's counter: one compare-and-swap per write
	// and per read.
	counter atomic.Uint64
	// woken is the instance's woken list (EventPoll.woken): the wakeup
	// pushes with one compare-and-swap, the harvest takes it with one
	// swap; link is the item's link on it, which the harvest clears with
	// one store so that the next wakeup pushes again.
	woken, link atomic.Uint32 // +checklocksignore: not guarded (atomics; the tool guesses from uses under harvest)
	// sleeping mirrors "a thread is registered" (EventPoll.sleeping): the
	// sleeper stores it registering, the waker clearing it; the wakeup
	// loads it to skip the wait lock when nobody sleeps.
	sleeping atomic.Bool // +checklocksignore: not guarded (an atomic; the tool guesses from uses under wait)
	// avail mirrors "the ready list is not empty" (EventPoll.avail): the
	// harvest that moves the woken item onto the ready list stores true,
	// the one that drops it stale stores false. A sleeper reads it after
	// registering, and a harvest that leaves items queued reads sleeping
	// after storing it, so both stores must be sequentially consistent.
	avail atomic.Bool   // +checklocksignore: not guarded (an atomic; the tool guesses from uses under harvest)
	token chan struct{} // the thread's waiter.Sleeper
	_     [64]byte      // sides on their own cache lines, as the model's objects
}

// floorEnd is one goroutine's end of the floor's round trip.
type floorEnd struct{ own, peer *floorSide }

// Signal is the eventfd write to the peer and its wakeup (fs's eventfd
// Write, waiter.Queue.Notify, epoll's item.Wake).
func (e floorEnd) Signal() {
	p := e.peer
	p.counter.CompareAndSwap(p.counter.Load(), 1)
	p.queue.Lock()
	p.woken.CompareAndSwap(0, 1)
	if p.sleeping.Load() {
		p.wait.Lock()
		if p.sleeping.Load() {
			select {
			case p.token <- struct{}{}:
			default:
			}
			p.sleeping.Store(false)
		}
		p.wait.Unlock()
	}
	p.queue.Unlock()
}

// Await is one epoll_wait that blocks until the own eventfd is readable,
// then its read (kernel/epoll's Wait, then fs's eventfd Read).
func (e floorEnd) Await() {
	s := e.own
	// The harvest that finds the item stale after the last read.
	s.harvest.Lock()
	s.avail.Store(false)
	s.harvest.Unlock()
	// Register, then look for events; sleep if none.
	s.wait.Lock()
	s.sleeping.Store(true)
	found := s.avail.Load() || s.woken.Load() != 0
	if found {
		s.sleeping.Store(false)
	}
	s.wait.Unlock()
	if !found {
		<-s.token
	}
	// The harvest that reports the event.
	s.harvest.Lock()
	s.woken.Swap(0)
	s.link.Store(0)
	s.avail.Store(true)
	s.harvest.Unlock()
	// The read and its (filtered) wakeup.
	s.counter.CompareAndSwap(1, 0)
	s.queue.Lock()
	s.queue.Unlock()
}

// BenchSyncFloorRoundTrip is the impl=floor variant of the wakeup round
// trip benchmarks (see floorSide).
func BenchSyncFloorRoundTrip(b *testing.B) {
	var a, p floorSide
	a.token = make(chan struct{}, 1)
	p.token = make(chan struct{}, 1)
	roundTrip, stop := PingPong(floorEnd{own: &a, peer: &p}, floorEnd{own: &p, peer: &a}, func() {})
	defer stop()
	Settle(b)
	for b.Loop() {
		roundTrip()
	}
}
