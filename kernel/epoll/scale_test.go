package epoll_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// scaleWaiters is how many threads TestScaleWaitersWokenOneEach blocks,
// with and without the race detector (whose runtime, ThreadSanitizer v3
// since Go 1.19, no longer has the old limit of 8128 live goroutines: the
// test passes under -race with all 10,000).
const scaleWaiters = 10000

// scaleReturn is one return of a waiter's Wait with events.
type scaleReturn struct {
	waiter int
	n      int
	ev     epoll.Event
	err    error
}

// scaleWaiterSet is N goroutines, each blocked in the model's blocking Wait
// (kerneltest.Thread, counted by countingThread) on its own instance,
// which watches its own eventfd level-triggered with data = the waiter's
// index. A waiter reports every return with events, consumes its eventfd
// and blocks again, until it is interrupted.
type scaleWaiterSet struct {
	eps             []*epoll.EventPoll
	efds            []*fs.File
	threads         []*kerneltest.Thread
	wakeups, asleep atomic.Int64
	returns         chan scaleReturn
	wg              sync.WaitGroup
}

func newScaleWaiterSet(t *testing.T, n int) *scaleWaiterSet {
	s := &scaleWaiterSet{
		eps:     make([]*epoll.EventPoll, n),
		efds:    make([]*fs.File, n),
		threads: make([]*kerneltest.Thread, n),
		returns: make(chan scaleReturn, 2*n),
	}
	d := epoll.NewDomain()
	for i := range s.eps {
		epf := epoll.NewFile(d)
		s.efds[i] = fs.NewEventfd(0, unix.O_NONBLOCK)
		t.Cleanup(func() {
			epf.DecRef()
			s.efds[i].DecRef()
		})
		s.eps[i], _ = epoll.FromFile(epf)
		must(t, s.eps[i].Add(epoll.FileIdentifier{File: s.efds[i], Fd: 3}, waiter.EventIn, uint64(i)))
		s.threads[i] = kerneltest.NewThread()
	}
	for i := range s.eps {
		s.wg.Add(1)
		go s.wait(i)
	}
	// Stop the waiters before the instances are released (cleanups run
	// last-registered first), even when the test fails half-way.
	t.Cleanup(s.stop)
	return s
}

func (s *scaleWaiterSet) wait(i int) {
	defer s.wg.Done()
	th := countingThread{s.threads[i], &s.wakeups, &s.asleep}
	buf := make([]epoll.Event, 4)
	word := make([]byte, 8)
	for {
		n, err := s.eps[i].Wait(th, buf, len(buf), nil, time.Time{}, false)
		if err == unix.EINTR { // stopped
			return
		}
		s.returns <- scaleReturn{waiter: i, n: n, ev: buf[0], err: err}
		if _, err := s.efds[i].Read(word); err != nil {
			s.returns <- scaleReturn{waiter: i, err: fmt.Errorf("read of its own eventfd: %w", err)}
		}
	}
}

func (s *scaleWaiterSet) stop() {
	for _, th := range s.threads {
		th.Interrupt()
	}
	s.wg.Wait()
}

// untilAsleep waits until every waiter is blocked (registered on its
// instance and asleep).
func (s *scaleWaiterSet) untilAsleep(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for s.asleep.Load() != int64(len(s.eps)) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d waiters asleep after 30 s", s.asleep.Load(), len(s.eps))
		}
		time.Sleep(time.Millisecond)
	}
}

// TestScaleWaitersWokenOneEach (issue 17): N = 10,000 threads (goroutines
// in the model's blocking Wait) blocked on
// N instances, each instance watching its own eventfd; each eventfd is
// written once, half of them first (by two writers at once) while the
// other half must stay asleep, then the rest. Every waiter returns
// exactly once, with exactly its own event, and every sleep that ended in
// a wakeup ended in a return: a wakeup sent to another instance's sleeper
// shows as a sleep that ended with nothing to harvest (and a lost one as a
// waiter that never returns).
func TestScaleWaitersWokenOneEach(t *testing.T) {
	n := scaleWaiters
	s := newScaleWaiterSet(t, n)
	s.untilAsleep(t)
	if w := s.wakeups.Load(); w != 0 {
		t.Fatalf("%d wakeups before any write", w)
	}
	returned := make([]int, n)
	total := 0 // waiters written so far
	for phase := 0; phase < 2; phase++ {
		// Phase 0 writes the even waiters' eventfds, phase 1 the odd ones.
		var written []int
		for i := phase; i < n; i += 2 {
			written = append(written, i)
		}
		var writers sync.WaitGroup
		for half := 0; half < 2; half++ {
			writers.Add(1)
			go func(part []int) {
				defer writers.Done()
				word := []byte{1, 0, 0, 0, 0, 0, 0, 0}
				for _, i := range part {
					if _, err := s.efds[i].Write(word); err != nil {
						panic(err)
					}
				}
			}(written[half*len(written)/2 : (half+1)*len(written)/2])
		}
		writers.Wait()
		timeout := time.After(30 * time.Second)
		for range written {
			select {
			case r := <-s.returns:
				want := epoll.Event{Events: waiter.EventIn, Data: uint64(r.waiter)}
				if r.err != nil || r.n != 1 || r.ev != want || r.waiter%2 != phase {
					t.Fatalf("phase %d: waiter %d returned %d, %+v, %v; want 1, %+v, nil (only waiters %d mod 2 written)",
						phase, r.waiter, r.n, r.ev, r.err, want, phase)
				}
				if returned[r.waiter]++; returned[r.waiter] > 1 {
					t.Fatalf("waiter %d returned %d times", r.waiter, returned[r.waiter])
				}
			case <-timeout:
				var lost []int
				for _, i := range written {
					if returned[i] == 0 {
						lost = append(lost, i)
					}
				}
				t.Fatalf("phase %d: %d written waiters never returned (lost wakeups), e.g. %v; %d sleeps ended in a wakeup",
					phase, len(lost), lost[:min(len(lost), 10)], s.wakeups.Load())
			}
		}
		// The woken consumed their eventfds and went back to sleep; every
		// sleep that ended did so for its return.
		s.untilAsleep(t)
		total += len(written)
		if w := s.wakeups.Load(); w != int64(total) {
			t.Fatalf("after phase %d: %d sleeps ended in a wakeup, %d waiters returned: %d spurious",
				phase, w, total, w-int64(total))
		}
	}
	select {
	case r := <-s.returns:
		t.Fatalf("waiter %d returned again: %+v", r.waiter, r)
	default:
	}
}
