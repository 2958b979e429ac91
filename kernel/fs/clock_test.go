package fs

import (
	"math"
	"reflect"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestFakeClock(t *testing.T) {
	c := NewFakeClock()
	if c.Now(unix.CLOCK_MONOTONIC) != FakeMonotonicStart || c.Now(unix.CLOCK_BOOTTIME) != FakeMonotonicStart {
		t.Errorf("monotonic start %d", c.Now(unix.CLOCK_MONOTONIC))
	}
	if c.Now(unix.CLOCK_REALTIME) != FakeRealtimeStart {
		t.Errorf("realtime start %d", c.Now(unix.CLOCK_REALTIME))
	}
	var order []string
	var seen []int64
	at := func(name string, d time.Duration) ClockTimer {
		return c.AfterFunc(unix.CLOCK_MONOTONIC, FakeMonotonicStart+int64(d), func() {
			order = append(order, name)
			seen = append(seen, c.Now(unix.CLOCK_MONOTONIC)-FakeMonotonicStart)
		})
	}
	at("c", 30*time.Millisecond)
	at("a", 10*time.Millisecond)
	at("b", 10*time.Millisecond)
	stopped := at("x", 20*time.Millisecond)
	c.AfterFunc(unix.CLOCK_MONOTONIC, FakeMonotonicStart+int64(15*time.Millisecond), func() {
		order = append(order, "d")
		at("e", 25*time.Millisecond) // scheduled by a callback, due in this advance
	})
	if !stopped.Stop() || stopped.Stop() {
		t.Error("Stop results")
	}
	c.Advance(5 * time.Millisecond)
	if len(order) != 0 {
		t.Errorf("early: %v", order)
	}
	c.Advance(45 * time.Millisecond)
	if want := []string{"a", "b", "d", "e", "c"}; !reflect.DeepEqual(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	if want := []int64{10 * ms, 10 * ms, 25 * ms, 30 * ms}; !reflect.DeepEqual(seen, want) {
		t.Errorf("clock during callbacks %v, want %v", seen, want)
	}
	if got := c.Now(unix.CLOCK_MONOTONIC) - FakeMonotonicStart; got != 50*ms {
		t.Errorf("now %d", got)
	}
	// Due callbacks run on Advance(0) too.
	fired := false
	c.AfterFunc(unix.CLOCK_MONOTONIC, 0, func() { fired = true })
	if fired {
		t.Error("AfterFunc ran synchronously")
	}
	c.Advance(0)
	if !fired {
		t.Error("Advance(0) did not run a due callback")
	}
}

func TestRealClock(t *testing.T) {
	var c RealClock
	for _, id := range []int32{unix.CLOCK_MONOTONIC, unix.CLOCK_REALTIME, unix.CLOCK_BOOTTIME} {
		if c.Now(id) <= 0 {
			t.Errorf("clock %d: %d", id, c.Now(id))
		}
	}
	done := make(chan struct{})
	c.AfterFunc(unix.CLOCK_MONOTONIC, c.Now(unix.CLOCK_MONOTONIC)+int64(time.Millisecond), func() { close(done) })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("callback did not run")
	}
	tm := c.AfterFunc(unix.CLOCK_REALTIME, c.Now(unix.CLOCK_REALTIME)+int64(time.Hour), func() { t.Error("ran") })
	if !tm.Stop() {
		t.Error("Stop of a pending callback")
	}
}

func TestSaturatingArithmetic(t *testing.T) {
	for _, tc := range []struct{ a, b, add, sub, mul int64 }{
		{1, 2, 3, -1, 2},
		{math.MaxInt64, 1, math.MaxInt64, math.MaxInt64 - 1, math.MaxInt64},
		{math.MinInt64, -1, math.MinInt64, math.MinInt64 + 1, math.MaxInt64},
		{5, math.MinInt64, math.MinInt64 + 5, math.MaxInt64, math.MinInt64},
		{1 << 40, 1 << 40, 1 << 41, 0, math.MaxInt64},
		{-(1 << 40), 1 << 40, 0, -(1 << 41), math.MinInt64},
	} {
		if got := satAdd(tc.a, tc.b); got != tc.add {
			t.Errorf("satAdd(%d, %d) = %d", tc.a, tc.b, got)
		}
		if got := satSub(tc.a, tc.b); got != tc.sub {
			t.Errorf("satSub(%d, %d) = %d", tc.a, tc.b, got)
		}
		if got := satMul(tc.a, tc.b); got != tc.mul {
			t.Errorf("satMul(%d, %d) = %d", tc.a, tc.b, got)
		}
	}
}
