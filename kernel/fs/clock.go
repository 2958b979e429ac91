package fs

import (
	"math"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Clock is the time source of timerfds: the current time of a clock and
// callbacks scheduled on it. Times are nanoseconds on the given clock
// (unix.CLOCK_REALTIME, CLOCK_MONOTONIC or CLOCK_BOOTTIME).
type Clock interface {
	// Now returns the current time of clockID.
	Now(clockID int32) int64
	// AfterFunc arranges for fn to run once clockID reaches when (at once
	// if it already has). fn never runs synchronously inside AfterFunc,
	// so the caller may hold its own locks while calling it.
	AfterFunc(clockID int32, when int64, fn func()) ClockTimer
}

// ClockTimer is a callback scheduled by Clock.AfterFunc.
type ClockTimer interface {
	// Stop cancels the callback and reports whether it was still pending.
	// A callback that already started is not waited for.
	Stop() bool
}

// RealClock reads the host's clocks and schedules with time.AfterFunc
// (Go's timers run on CLOCK_MONOTONIC, so a REALTIME deadline does not
// follow later steps of the host's wall clock).
type RealClock struct{}

// Now implements Clock.
func (RealClock) Now(clockID int32) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(clockID, &ts); err != nil {
		panic("fs: clock_gettime: " + err.Error())
	}
	return ts.Nano()
}

// AfterFunc implements Clock.
func (c RealClock) AfterFunc(clockID int32, when int64, fn func()) ClockTimer {
	return time.AfterFunc(time.Duration(satSub(when, c.Now(clockID))), fn)
}

// FakeClock is a Clock for tests: time stands still until Advance moves it.
// CLOCK_MONOTONIC and CLOCK_BOOTTIME are the same clock; CLOCK_REALTIME is
// MONOTONIC plus an offset that SetRealtime changes (clock_settime).
type FakeClock struct {
	advanceMu sync.Mutex // serializes Advance and SetRealtime

	mu sync.Mutex
	// +checklocks:mu
	mono int64
	// +checklocks:mu
	realOff int64 // REALTIME - MONOTONIC
	// +checklocks:mu
	seq uint64
	// +checklocks:mu
	timers []*fakeTimer // pending callbacks
}

type fakeTimer struct {
	c       *FakeClock
	clockID int32
	when    int64
	seq     uint64 // scheduling order, to break ties
	fn      func()
}

// FakeMonotonicStart and FakeRealtimeStart are the times a new FakeClock
// shows (1 s after "boot", 2024-01-01T00:00:00Z).
const (
	FakeMonotonicStart = int64(time.Second)
	FakeRealtimeStart  = int64(1704067200) * int64(time.Second)
)

// NewFakeClock returns a FakeClock at FakeMonotonicStart/FakeRealtimeStart.
func NewFakeClock() *FakeClock {
	return &FakeClock{mono: FakeMonotonicStart, realOff: FakeRealtimeStart - FakeMonotonicStart}
}

// Now implements Clock.
func (c *FakeClock) Now(clockID int32) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked(clockID)
}

// nowLocked is Now.
//
// +checklocks:c.mu
func (c *FakeClock) nowLocked(clockID int32) int64 {
	if clockID == unix.CLOCK_REALTIME {
		return c.mono + c.realOff
	}
	return c.mono
}

// monoDeadlineLocked converts a timer's deadline to the monotonic clock.
//
// +checklocks:c.mu
func (c *FakeClock) monoDeadlineLocked(t *fakeTimer) int64 {
	if t.clockID == unix.CLOCK_REALTIME {
		return satSub(t.when, c.realOff)
	}
	return t.when
}

// AfterFunc implements Clock. The callback runs from Advance or
// SetRealtime, on their goroutine, once its deadline is reached.
func (c *FakeClock) AfterFunc(clockID int32, when int64, fn func()) ClockTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, clockID: clockID, when: when, seq: c.seq, fn: fn}
	c.timers = append(c.timers, t)
	return t
}

// Stop implements ClockTimer.
func (t *fakeTimer) Stop() bool {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.timers {
		if x == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			return true
		}
	}
	return false
}

// Advance moves time forward by d, running every callback whose deadline
// is reached, in deadline order, each with the clock showing its deadline.
// Callbacks run without the clock's lock, so they may schedule or stop
// timers; those due within the advance run too. Advance(0) runs the
// callbacks that are already due.
func (c *FakeClock) Advance(d time.Duration) {
	if d < 0 {
		panic("fs: FakeClock.Advance with a negative duration")
	}
	c.advanceMu.Lock()
	defer c.advanceMu.Unlock()
	c.mu.Lock()
	target := satAdd(c.mono, int64(d))
	c.runDueLocked(target)
	c.mono = target
	c.mu.Unlock()
}

// SetRealtime sets CLOCK_REALTIME to ns without moving the monotonic
// clocks, and runs the REALTIME callbacks that became due.
func (c *FakeClock) SetRealtime(ns int64) {
	c.advanceMu.Lock()
	defer c.advanceMu.Unlock()
	c.mu.Lock()
	c.realOff = ns - c.mono
	c.runDueLocked(c.mono)
	c.mu.Unlock()
}

// runDueLocked runs the callbacks due at or before target (monotonic),
// releasing c.mu around each one.
//
// +checklocks:c.mu
func (c *FakeClock) runDueLocked(target int64) {
	for {
		best := -1
		var bestAt int64
		for i, t := range c.timers {
			at := c.monoDeadlineLocked(t)
			if at > target {
				continue
			}
			if best < 0 || at < bestAt || at == bestAt && t.seq < c.timers[best].seq {
				best, bestAt = i, at
			}
		}
		if best < 0 {
			return
		}
		t := c.timers[best]
		c.timers = append(c.timers[:best], c.timers[best+1:]...)
		if bestAt > c.mono {
			c.mono = bestAt
		}
		c.mu.Unlock()
		t.fn()
		c.mu.Lock()
	}
}

// Pending returns how many callbacks are scheduled.
func (c *FakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// satAdd and satSub are int64 arithmetic that saturates instead of
// wrapping, like ktime_add_safe.
func satAdd(a, b int64) int64 {
	s := a + b
	if a > 0 && b > 0 && s < 0 {
		return math.MaxInt64
	}
	if a < 0 && b < 0 && s >= 0 {
		return math.MinInt64
	}
	return s
}

func satSub(a, b int64) int64 {
	if b == math.MinInt64 {
		if a >= 0 {
			return math.MaxInt64
		}
		return a - b
	}
	return satAdd(a, -b)
}

func satMul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	p := a * b
	if p/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
		if (a > 0) == (b > 0) {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return p
}
