package kerneltest

import (
	"sync/atomic"
	"time"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// Thread is a minimal blocking thread for epoll.Wait: a sleeper, an entry,
// and an interrupt flag. An interrupt posts the sleeper's token too, so a
// sleep without a deadline is a plain receive on one channel (a select over
// several costs about 100 ns more per wakeup); a token left by an interrupt
// that came while the thread was not asleep ends its next sleep early,
// which Wait treats as any spurious wakeup.
type Thread struct {
	sleeper *waiter.Sleeper
	entry   waiter.Entry
	pending atomic.Bool
	timer   *time.Timer
}

// NewThread returns a thread ready to block.
func NewThread() *Thread {
	t := &Thread{sleeper: waiter.NewSleeper()}
	t.entry.Init(t.sleeper, true, true)
	t.timer = time.NewTimer(time.Hour)
	t.timer.Stop()
	return t
}

// Interrupt makes a signal pending and ends a sleep.
func (t *Thread) Interrupt() {
	t.pending.Store(true)
	t.sleeper.Wake(0)
}

// ClearSignal consumes the pending signal (its handler ran).
func (t *Thread) ClearSignal() { t.pending.Store(false) }

func (t *Thread) WaitEntry() *waiter.Entry { return &t.entry }
func (t *Thread) SignalPending() bool      { return t.pending.Load() }

func (t *Thread) Sleep(deadline time.Time) bool {
	if deadline.IsZero() {
		<-t.sleeper.C()
		return false
	}
	d := time.Until(deadline)
	if d <= 0 {
		return true
	}
	t.timer.Reset(d)
	defer t.timer.Stop()
	select {
	case <-t.sleeper.C():
		return false
	case <-t.timer.C:
		return true
	}
}
