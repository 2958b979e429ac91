package kerneltest

import (
	"sync/atomic"
	"time"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// Thread is a minimal blocking thread for epoll.Wait: a sleeper, an entry,
// and an interrupt flag.
type Thread struct {
	sleeper *waiter.Sleeper
	entry   waiter.Entry
	intr    chan struct{}
	pending atomic.Bool
	timer   *time.Timer
}

// NewThread returns a thread ready to block.
func NewThread() *Thread {
	t := &Thread{sleeper: waiter.NewSleeper(), intr: make(chan struct{}, 1)}
	t.entry.Init(t.sleeper, true, true)
	t.timer = time.NewTimer(time.Hour)
	t.timer.Stop()
	return t
}

// Interrupt makes a signal pending and ends a sleep.
func (t *Thread) Interrupt() {
	t.pending.Store(true)
	select {
	case t.intr <- struct{}{}:
	default:
	}
}

// ClearSignal consumes the pending signal (its handler ran).
func (t *Thread) ClearSignal() { t.pending.Store(false) }

func (t *Thread) WaitEntry() *waiter.Entry { return &t.entry }
func (t *Thread) SignalPending() bool      { return t.pending.Load() }

func (t *Thread) Sleep(deadline time.Time) bool {
	var tc <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return true
		}
		t.timer.Reset(d)
		defer t.timer.Stop()
		tc = t.timer.C
	}
	select {
	case <-t.sleeper.C():
		return false
	case <-t.intr:
		return false
	case <-tc:
		return true
	}
}
