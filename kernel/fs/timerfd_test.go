package fs

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

const ms = int64(time.Millisecond)

func newTimer(t *testing.T, c Clock, id int32) *File {
	t.Helper()
	f, err := NewTimerfd(c, id, unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func setTime(t *testing.T, f *File, flags uint32, value, interval int64) (int64, int64) {
	t.Helper()
	ov, oi, err := f.impl.(TimerFile).SetTime(f, flags, value, interval)
	if err != nil {
		t.Fatalf("settime: %v", err)
	}
	return ov, oi
}

func getTime(f *File) (int64, int64) { return f.impl.(TimerFile).GetTime(f) }

// readTicks reads the expiration count, or returns the error.
func readTicks(f *File) (uint64, error) {
	buf := make([]byte, 8)
	if _, err := f.Read(buf); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(buf), nil
}

func expectTicks(t *testing.T, what string, f *File, want uint64) {
	t.Helper()
	got, err := readTicks(f)
	if want == 0 {
		if err != unix.EAGAIN {
			t.Errorf("%s: read (%d, %v), want EAGAIN", what, got, err)
		}
		return
	}
	if err != nil || got != want {
		t.Errorf("%s: read (%d, %v), want %d", what, got, err, want)
	}
}

func TestTimerfdCreate(t *testing.T) {
	c := NewFakeClock()
	for _, tc := range []struct {
		id    int32
		flags uint32
		err   error
	}{
		{unix.CLOCK_MONOTONIC, 0, nil},
		{unix.CLOCK_REALTIME, unix.O_NONBLOCK, nil},
		{unix.CLOCK_BOOTTIME, unix.O_NONBLOCK | unix.O_CLOEXEC, nil},
		{unix.CLOCK_REALTIME_ALARM, 0, nil},
		{unix.CLOCK_BOOTTIME_ALARM, 0, nil},
		{unix.CLOCK_PROCESS_CPUTIME_ID, 0, unix.EINVAL},
		{unix.CLOCK_THREAD_CPUTIME_ID, 0, unix.EINVAL},
		{unix.CLOCK_MONOTONIC_RAW, 0, unix.EINVAL},
		{unix.CLOCK_MONOTONIC_COARSE, 0, unix.EINVAL},
		{-1, 0, unix.EINVAL},
		{unix.CLOCK_MONOTONIC, unix.O_DIRECT, unix.EINVAL},
	} {
		f, err := NewTimerfd(c, tc.id, tc.flags)
		expectErr(t, "create", err, tc.err)
		if err == nil {
			if f.StatusFlags() != unix.O_RDWR|tc.flags&unix.O_NONBLOCK {
				t.Errorf("flags %#o", f.StatusFlags())
			}
			expectMask(t, "fresh", f, 0)
		}
	}
	f := newTimer(t, c, unix.CLOCK_MONOTONIC)
	_, err := f.Write(make([]byte, 8))
	expectErr(t, "write", err, unix.EINVAL)
	for _, n := range []int{0, 4, 7} {
		_, err = f.Read(make([]byte, n))
		expectErr(t, "short read", err, unix.EINVAL)
	}
	expectTicks(t, "disarmed", f, 0)
	tf := f.impl.(TimerFile)
	for _, tc := range []struct {
		flags           uint32
		value, interval int64
		err             error
	}{
		{4, 1, 0, unix.EINVAL},
		{TFDTimerCancelOnSet, 1, 0, nil},
		{TFDTimerAbstime | TFDTimerCancelOnSet, 0, 0, nil},
		{0, -1, 0, unix.EINVAL},
		{0, 1, -1, unix.EINVAL},
	} {
		_, _, err := tf.SetTime(f, tc.flags, tc.value, tc.interval)
		expectErr(t, "settime", err, tc.err)
	}
}

func TestTimerfdOneShot(t *testing.T) {
	c := NewFakeClock()
	f := newTimer(t, c, unix.CLOCK_MONOTONIC)
	rec := watch(t, f)
	setTime(t, f, 0, 10*ms, 0)
	rec.expect(t, "settime")
	c.Advance(9 * time.Millisecond)
	rec.expect(t, "before expiry")
	expectMask(t, "before expiry", f, 0)
	if v, i := getTime(f); v != 1*ms || i != 0 {
		t.Errorf("gettime %d %d", v, i)
	}
	c.Advance(time.Millisecond)
	rec.expect(t, "expiry", one(waiter.EventIn))
	expectMask(t, "expired", f, waiter.EventIn)
	c.Advance(time.Second)
	rec.expect(t, "one-shot fires once")
	if v, i := getTime(f); v != 0 || i != 0 {
		t.Errorf("gettime after expiry %d %d", v, i)
	}
	expectTicks(t, "read", f, 1)
	rec.expect(t, "read")
	expectMask(t, "after read", f, 0)
	expectTicks(t, "read again", f, 0)
	checkInv(t, f)
}

func TestTimerfdPeriodicOncePerReadCycle(t *testing.T) {
	c := NewFakeClock()
	f := newTimer(t, c, unix.CLOCK_MONOTONIC)
	rec := watch(t, f)
	setTime(t, f, 0, 20*ms, 20*ms)
	c.Advance(30 * time.Millisecond)
	rec.expect(t, "first period", one(waiter.EventIn))
	c.Advance(20 * time.Millisecond) // t=50: the 40 ms expiry is not signalled
	rec.expect(t, "no re-fire before a read")
	c.Advance(100 * time.Millisecond) // t=150
	rec.expect(t, "still none")
	// Read at 150: expiries at 20, 40, ..., 140 = 7.
	expectTicks(t, "read counts missed periods", f, 7)
	rec.expect(t, "read does not wake")
	c.Advance(10 * time.Millisecond) // t=160: re-armed for 160
	rec.expect(t, "next period", one(waiter.EventIn))
	expectTicks(t, "read at the expiry", f, 1)
	c.Advance(20 * time.Millisecond)
	rec.expect(t, "one more", one(waiter.EventIn))
	checkInv(t, f)
}

func TestTimerfdMissedIntervals(t *testing.T) {
	c := NewFakeClock()
	f := newTimer(t, c, unix.CLOCK_MONOTONIC)
	setTime(t, f, 0, 100*ms, 100*ms)
	c.Advance(time.Second) // expiries at 100, 200, ..., 1000
	expectTicks(t, "one second of 100 ms periods", f, 10)

	// An absolute expiry in the past fires at once; with an interval, the
	// first read counts every period since.
	g := newTimer(t, c, unix.CLOCK_MONOTONIC)
	rec := watch(t, g)
	now := c.Now(unix.CLOCK_MONOTONIC)
	setTime(t, g, TFDTimerAbstime, now-1000*ms, 0)
	rec.expect(t, "past one-shot", one(waiter.EventIn))
	expectTicks(t, "past one-shot", g, 1)
	setTime(t, g, TFDTimerAbstime, now-1000*ms, 100*ms)
	rec.expect(t, "past periodic", one(waiter.EventIn))
	expectTicks(t, "past periodic", g, 11) // measured on 6.18
}

func TestTimerfdSetTimeResets(t *testing.T) {
	c := NewFakeClock()
	f := newTimer(t, c, unix.CLOCK_MONOTONIC)
	rec := watch(t, f)
	setTime(t, f, 0, 10*ms, 10*ms)
	c.Advance(25 * time.Millisecond)
	rec.expect(t, "expiry", one(waiter.EventIn))
	ov, oi := setTime(t, f, 0, 50*ms, 0)
	if ov != 5*ms || oi != 10*ms {
		t.Errorf("old value %d interval %d, want 5ms 10ms", ov, oi)
	}
	rec.expect(t, "settime wakes nobody")
	expectMask(t, "count reset", f, 0)
	expectTicks(t, "count reset", f, 0)
	ov, oi = setTime(t, f, 0, 0, time.Second.Nanoseconds())
	if ov != 50*ms || oi != 0 {
		t.Errorf("old value %d interval %d", ov, oi)
	}
	if v, i := getTime(f); v != 0 || i != int64(time.Second) {
		t.Errorf("disarmed with an interval: gettime %d %d", v, i)
	}
	c.Advance(time.Hour)
	rec.expect(t, "disarmed")
	if c.Pending() != 0 {
		t.Errorf("%d callbacks pending", c.Pending())
	}
}

func TestTimerfdGetTimeRearms(t *testing.T) {
	c := NewFakeClock()
	f := newTimer(t, c, unix.CLOCK_MONOTONIC)
	rec := watch(t, f)
	setTime(t, f, 0, 20*ms, 20*ms)
	c.Advance(50 * time.Millisecond)
	rec.expect(t, "first expiry", one(waiter.EventIn))
	if v, i := getTime(f); v != 10*ms || i != 20*ms {
		t.Errorf("gettime %d %d", v, i)
	}
	rec.expect(t, "gettime wakes nobody")
	c.Advance(10 * time.Millisecond)
	rec.expect(t, "re-armed by gettime", one(waiter.EventIn))
	expectTicks(t, "read", f, 3)
}

func TestTimerfdAbsoluteRealtime(t *testing.T) {
	c := NewFakeClock()
	f := newTimer(t, c, unix.CLOCK_REALTIME)
	rec := watch(t, f)
	now := c.Now(unix.CLOCK_REALTIME)
	setTime(t, f, TFDTimerAbstime, now+30*ms, 0)
	if v, _ := getTime(f); v != 30*ms {
		t.Errorf("remaining %d", v)
	}
	c.Advance(29 * time.Millisecond)
	rec.expect(t, "before")
	c.SetRealtime(now + time.Hour.Nanoseconds()) // the wall clock jumps past the expiry
	rec.expect(t, "clock set past the expiry", one(waiter.EventIn))
	expectTicks(t, "read", f, 1)

	// BOOTTIME and MONOTONIC move together in the model.
	b := newTimer(t, c, unix.CLOCK_BOOTTIME)
	setTime(t, b, 0, 5*ms, 0)
	c.Advance(5 * time.Millisecond)
	expectTicks(t, "boottime", b, 1)
}

func TestTimerfdRelease(t *testing.T) {
	c := NewFakeClock()
	f := newTimer(t, c, unix.CLOCK_MONOTONIC)
	setTime(t, f, 0, 10*ms, 10*ms)
	f.DecRef()
	if c.Pending() != 0 {
		t.Errorf("%d callbacks pending after release", c.Pending())
	}
	c.Advance(time.Second)
}

func TestTimerfdRealClock(t *testing.T) {
	f, err := NewTimerfd(nil, unix.CLOCK_MONOTONIC, unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer f.DecRef()
	s := waiter.NewSleeper()
	var e waiter.Entry
	e.Init(s, true, true)
	f.EventRegister(&e)
	setTime(t, f, 0, 5*ms, 5*ms)
	select {
	case <-s.C():
	case <-time.After(5 * time.Second):
		t.Fatal("no expiry within 5 s")
	}
	time.Sleep(20 * time.Millisecond)
	n, err := readTicks(f)
	if err != nil || n < 2 {
		t.Errorf("read (%d, %v), want at least 2 expiries", n, err)
	}
	if v, i := getTime(f); v <= 0 || v > 5*ms || i != 5*ms {
		t.Errorf("gettime %d %d", v, i)
	}
	checkInv(t, f)
}

func TestTimerfdConcurrent(t *testing.T) {
	c := NewFakeClock()
	f := newTimer(t, c, unix.CLOCK_MONOTONIC)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(3)
	go func() {
		defer wg.Done()
		for i := 0; i < 2000; i++ {
			c.Advance(time.Millisecond)
		}
		close(stop)
	}()
	go func() {
		defer wg.Done()
		for i := int64(1); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			setTime(t, f, 0, i%7*ms, i%3*ms)
			getTime(f)
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			readTicks(f)
			f.Readiness(full)
			if err := CheckInvariants(f); err != nil {
				panic(err)
			}
		}
	}()
	wg.Wait()
}

func TestTimerfdRealtimeSetBack(t *testing.T) {
	// Linux adds (intervals forwarded - 1) modulo 2^64 on read: when the
	// wall clock was set back below the expiry, nothing is forwarded and
	// the single expiry is cancelled out (the read then finds nothing).
	c := NewFakeClock()
	f := newTimer(t, c, unix.CLOCK_REALTIME)
	setTime(t, f, 0, 10*ms, 10*ms)
	c.Advance(10 * time.Millisecond)
	expectMask(t, "expired", f, waiter.EventIn)
	c.SetRealtime(c.Now(unix.CLOCK_REALTIME) - time.Hour.Nanoseconds())
	expectTicks(t, "after the clock went back", f, 0)
	if v, _ := getTime(f); v != time.Hour.Nanoseconds() {
		t.Errorf("remaining %d: the timer is re-armed at its old expiry", v)
	}
	checkInv(t, f)
}
