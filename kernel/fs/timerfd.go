package fs

import (
	"encoding/binary"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// timerfd (docs/semantics.md#timerfd). The timer counts expirations;
// each expiry adds one and wakes one waiter with IN. A periodic timer is not
// re-armed by its expiry: the re-arm happens in read (or timerfd_gettime),
// which also counts the intervals missed since. So an edge-triggered entry
// sees one event per read cycle, and a read after N missed periods returns
// them all. settime resets the count to 0 and wakes nobody.

// Timer flags of timerfd_settime.
const (
	TFDTimerAbstime     = 1 << 0 // TFD_TIMER_ABSTIME
	TFDTimerCancelOnSet = 1 << 1 // TFD_TIMER_CANCEL_ON_SET (accepted; the model's clocks are never set under a timer)
)

// TimerFile is implemented by timerfds (timerfd_settime, timerfd_gettime).
// Times are nanoseconds; the syscall layer converts and validates timespecs
// (a negative value or interval is EINVAL here too).
type TimerFile interface {
	// SetTime arms the timer to expire at value (absolute on the timer's
	// clock with TFDTimerAbstime, else relative to now) and then every
	// interval, or disarms it when value is 0; it returns the previous
	// setting as GetTime would have. Unknown flags are EINVAL.
	SetTime(f *File, flags uint32, value, interval int64) (oldValue, oldInterval int64, err error)
	// GetTime returns the time left until the next expiry (0 if disarmed
	// or expired) and the interval.
	GetTime(f *File) (value, interval int64)
}

type timerfd struct {
	// clock and clockID (REALTIME, MONOTONIC or BOOTTIME; alarm clocks
	// mapped) are immutable: the ignores silence the tool's guess that mu
	// guards them, as they are read under it.
	clock   Clock // +checklocksignore
	clockID int32 // +checklocksignore
	queue   waiter.Queue

	// fireMu is held by an expiry (fire) for its whole run, state change
	// and wakeup, and by a checkpoint (FreezeTimers) for the whole save,
	// so that a save never sees an expiry half done. Taken before mu.
	fireMu sync.Mutex

	mu sync.Mutex
	// ticks counts expirations not yet read.
	// +checklocks:mu
	ticks uint64
	// expired: the timer fired and has not been re-armed since (Linux's
	// ctx->expired).
	// +checklocks:mu
	expired bool
	// armed: a callback is scheduled for expiry.
	// +checklocks:mu
	armed bool
	// expiry is the (last) expiry time, absolute on clockID; it stays
	// after the timer fires, as an hrtimer's does.
	// +checklocks:mu
	expiry int64
	// +checklocks:mu
	interval int64
	// gen identifies the current arming: a callback of an older one is
	// ignored.
	// +checklocks:mu
	gen uint64
	// +checklocks:mu
	timer ClockTimer
}

// NewTimerfd returns a new disarmed timerfd (timerfd_create) on clockID of
// clock (RealClock{} if clock is nil). clockID is CLOCK_REALTIME,
// CLOCK_MONOTONIC or CLOCK_BOOTTIME; CLOCK_REALTIME_ALARM and
// CLOCK_BOOTTIME_ALARM are accepted as their plain clocks (Linux allows them
// to a task with CAP_WAKE_ALARM, which the model grants); anything else is
// EINVAL. flags may hold O_NONBLOCK (and O_CLOEXEC, the fd table's);
// other bits are EINVAL.
func NewTimerfd(clock Clock, clockID int32, flags uint32) (*File, error) {
	if flags&^uint32(unix.O_NONBLOCK|unix.O_CLOEXEC) != 0 {
		return nil, unix.EINVAL
	}
	switch clockID {
	case unix.CLOCK_REALTIME, unix.CLOCK_MONOTONIC, unix.CLOCK_BOOTTIME:
	case unix.CLOCK_REALTIME_ALARM:
		clockID = unix.CLOCK_REALTIME
	case unix.CLOCK_BOOTTIME_ALARM:
		clockID = unix.CLOCK_BOOTTIME
	default:
		return nil, unix.EINVAL
	}
	if clock == nil {
		clock = RealClock{}
	}
	t := &timerfd{clock: clock, clockID: clockID}
	return New(t, unix.O_RDWR|flags&unix.O_NONBLOCK), nil
}

// Read implements Impl.Read: a buffer shorter than 8 bytes is EINVAL, no
// expiry yet EAGAIN; otherwise the count is returned (8 bytes, little
// endian) and reset, and an expired periodic timer is re-armed with the
// missed intervals added to the count.
func (t *timerfd) Read(f *File, dst []byte) (int, error) {
	if len(dst) < 8 {
		return 0, unix.EINVAL
	}
	t.mu.Lock()
	ticks := t.ticks
	if ticks == 0 {
		t.mu.Unlock()
		return 0, unix.EAGAIN
	}
	fireNow, gen := false, uint64(0)
	if t.expired && t.interval > 0 {
		now := t.clock.Now(t.clockID)
		// The arithmetic is modulo 2^64 as in Linux: a clock that went
		// back below the expiry makes this 1 less.
		ticks += t.forwardLocked(now) - 1
		fireNow, gen = t.startLocked(t.expiry, now)
	}
	t.expired = false
	t.ticks = 0
	t.mu.Unlock()
	if fireNow {
		t.fire(gen)
	}
	if ticks == 0 {
		return 0, unix.EAGAIN
	}
	binary.LittleEndian.PutUint64(dst, ticks)
	return 8, nil
}

// Write implements Impl.Write: timerfds have no write (EINVAL).
func (t *timerfd) Write(f *File, src []byte) (int, error) { return 0, unix.EINVAL }

// Release implements Impl.Release.
func (t *timerfd) Release(f *File) {
	t.mu.Lock()
	t.cancelLocked()
	t.mu.Unlock()
}

// Readiness implements Pollable: IN iff there are unread expirations.
func (t *timerfd) Readiness(f *File, mask waiter.EventMask) waiter.EventMask {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ticks != 0 {
		return waiter.EventIn
	}
	return 0
}

// EventRegister implements Pollable.
func (t *timerfd) EventRegister(f *File, w *waiter.Entry) { t.queue.Register(w) }

// EventUnregister implements Pollable.
func (t *timerfd) EventUnregister(f *File, w *waiter.Entry) { t.queue.Unregister(w) }

// HookQueue implements HookQueuer: a timerfd hooks its one queue.
func (t *timerfd) HookQueue(*File) *waiter.Queue { return &t.queue }

// SetTime implements TimerFile.
func (t *timerfd) SetTime(f *File, flags uint32, value, interval int64) (int64, int64, error) {
	if flags&^uint32(TFDTimerAbstime|TFDTimerCancelOnSet) != 0 || value < 0 || interval < 0 {
		return 0, 0, unix.EINVAL
	}
	t.mu.Lock()
	t.cancelLocked()
	now := t.clock.Now(t.clockID)
	// An expired periodic timer is moved on first, so that the old value
	// reported is the time to its next period (the count is not touched:
	// it is reset just below).
	if t.expired && t.interval > 0 {
		t.forwardLocked(now)
	}
	oldValue := t.remainingLocked(now)
	oldInterval := t.interval

	t.expired = false
	t.ticks = 0
	t.interval = interval
	fireNow, gen := false, uint64(0)
	if value != 0 {
		when := value
		if flags&TFDTimerAbstime == 0 {
			when = satAdd(now, value)
		}
		fireNow, gen = t.startLocked(when, now)
	} else {
		t.expiry = 0
	}
	t.mu.Unlock()
	if fireNow {
		t.fire(gen)
	}
	return oldValue, oldInterval, nil
}

// GetTime implements TimerFile. Like timerfd_gettime it re-arms an expired
// periodic timer (adding the missed intervals to the count) without
// waking anyone.
func (t *timerfd) GetTime(f *File) (int64, int64) {
	t.mu.Lock()
	now := t.clock.Now(t.clockID)
	fireNow, gen := false, uint64(0)
	if t.expired && t.interval > 0 {
		t.expired = false
		t.ticks += t.forwardLocked(now) - 1
		fireNow, gen = t.startLocked(t.expiry, now)
	}
	value, interval := t.remainingLocked(now), t.interval
	t.mu.Unlock()
	if fireNow {
		t.fire(gen)
	}
	return value, interval
}

// remainingLocked is the time left until expiry, 0 once it has passed
// (and for a disarmed timer, whose expiry is 0).
//
// +checklocks:t.mu
func (t *timerfd) remainingLocked(now int64) int64 {
	if r := satSub(t.expiry, now); r > 0 {
		return r
	}
	return 0
}

// forwardLocked is hrtimer_forward: it moves the expiry past now by whole
// intervals and returns how many it added (0 if the expiry is still in the
// future).
//
// +checklocks:t.mu
func (t *timerfd) forwardLocked(now int64) uint64 {
	delta := satSub(now, t.expiry)
	if delta < 0 {
		return 0
	}
	orun := delta/t.interval + 1
	t.expiry = satAdd(t.expiry, satMul(orun, t.interval))
	return uint64(orun)
}

// startLocked arms the timer for when. If when has already passed it
// reports that the caller must fire it (with the returned generation)
// after unlocking, as an hrtimer started in the past fires at once.
//
// +checklocks:t.mu
func (t *timerfd) startLocked(when, now int64) (fireNow bool, gen uint64) {
	t.cancelLocked()
	t.expiry = when
	t.armed = true
	gen = t.gen
	if when <= now {
		return true, gen
	}
	t.timer = t.clock.AfterFunc(t.clockID, when, func() { t.fire(gen) })
	return false, gen
}

// cancelLocked disarms the timer; a callback already running is ignored
// through the generation.
//
// +checklocks:t.mu
func (t *timerfd) cancelLocked() {
	t.gen++
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	t.armed = false
}

// fire is the expiry (timerfd_triggered): count it and wake one waiter.
func (t *timerfd) fire(gen uint64) {
	t.fireMu.Lock()
	defer t.fireMu.Unlock()
	t.mu.Lock()
	if gen != t.gen || !t.armed {
		t.mu.Unlock()
		return
	}
	t.armed = false
	t.timer = nil
	t.expired = true
	t.ticks++
	t.mu.Unlock()
	t.queue.Notify(waiter.EventIn)
}

// CheckInvariants implements InvariantChecker.
func (t *timerfd) CheckInvariants() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.expired && t.ticks == 0 {
		return fmt.Errorf("timerfd: expired with no ticks")
	}
	if t.expired && t.armed {
		return fmt.Errorf("timerfd: expired and armed at once")
	}
	if t.timer != nil && !t.armed {
		return fmt.Errorf("timerfd: callback scheduled while disarmed")
	}
	if t.interval < 0 {
		return fmt.Errorf("timerfd: negative interval %d", t.interval)
	}
	return nil
}
