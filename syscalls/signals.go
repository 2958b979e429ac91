package syscalls

import (
	"math/bits"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// Signals, as far as the syscall layer sees them: a mask, a pending set,
// delivery at the end of each call, and the hook a signalfd needs (a queue
// notified when a signal becomes pending, and an atomic dequeue).

// Signal numbers that cannot be blocked.
const unblockable = 1<<(unix.SIGKILL-1) | 1<<(unix.SIGSTOP-1)

// sigRTMin is the kernel's SIGRTMIN: signals below it are not queued twice.
const sigRTMin = 32

// SignalMask returns the blocked-signal mask (bit sig-1).
func (t *Task) SignalMask() uint64 {
	t.sigMu.Lock()
	defer t.sigMu.Unlock()
	return t.mask
}

// SetSignalMask replaces the blocked-signal mask (SIGKILL and SIGSTOP
// cannot be blocked) and returns the old one. A pending signal the new mask
// unblocks is delivered at the end of the next syscall.
func (t *Task) SetSignalMask(mask uint64) uint64 {
	t.sigMu.Lock()
	defer t.sigMu.Unlock()
	return t.setMaskLocked(mask)
}

func (t *Task) setMaskLocked(mask uint64) uint64 {
	old := t.mask
	t.mask = mask &^ unblockable
	t.signalsChangedLocked()
	return old
}

// signalsChangedLocked updates sigReady after mask, pending or stopped
// changed and, if an unblocked signal is pending or the task is stopped,
// posts the sleeper's token so that a sleep in progress ends. t.sigMu must
// be held.
func (t *Task) signalsChangedLocked() {
	ready := t.pending&^t.mask != 0 || t.stopped
	if ready != t.sigReady.Load() {
		t.sigReady.Store(ready)
	}
	if ready {
		t.sleeper.Wake(0)
	}
}

// Interrupt sends signal sig (1..64) to the task. A signal the task's
// current mask does not block ends a blocking call (EINTR, or a restart:
// restart.go); a blocked one stays pending until the mask stops blocking it
// or DequeueSignal takes it. Either way the task's signal queue is notified
// (SignalRegister), unless sig < 32 was already pending (Linux does not
// queue a standard signal twice, and does not notify then). Safe to call
// from any goroutine. The caller decides dispositions: it must not send a
// signal the guest ignores (see the package doc).
func (t *Task) Interrupt(sig int) {
	if sig < 1 || sig > 64 {
		return
	}
	bit := uint64(1) << (sig - 1)
	t.sigMu.Lock()
	already := t.pending&bit != 0
	t.pending |= bit
	t.signalsChangedLocked()
	t.sigMu.Unlock()
	if !already || sig >= sigRTMin {
		// After sigMu: a waker may look at the pending set.
		t.signalQueue.Notify(0)
	}
}

// SignalRegister hooks e on the task's signal queue, which Interrupt
// notifies each time a signal becomes pending (blocked or not), after the
// signal is pending, with key 0 ("all events") and one exclusive wakeup, as
// Linux's signalfd_notify wakes the signalfd wait queue. It is the
// EventRegister of a signalfd: hook an epoll registration or a blocked
// read's entry here, and report readiness from PendingSignals. The waker
// runs in the sender's goroutine with the queue's lock held; it must not
// call SignalRegister or SignalUnregister of this task. Safe from any
// goroutine.
func (t *Task) SignalRegister(e *waiter.Entry) { t.signalQueue.Register(e) }

// SignalUnregister unhooks e (see SignalRegister). After it returns, e's
// waker is not running and will not run for this task.
func (t *Task) SignalUnregister(e *waiter.Entry) { t.signalQueue.Unregister(e) }

// DequeueSignal takes one pending signal in mask (bit sig-1), the lowest
// numbered, whether blocked or not, and returns its number, or 0 if none
// is pending: one step, as signalfd_read dequeues. A dequeued signal is not
// delivered (no handler runs, Delivered does not count it). Safe from any
// goroutine.
func (t *Task) DequeueSignal(mask uint64) int {
	t.sigMu.Lock()
	defer t.sigMu.Unlock()
	ready := t.pending & mask
	if ready == 0 {
		return 0
	}
	bit := ready & -ready
	t.pending &^= bit
	t.signalsChangedLocked()
	return bits.TrailingZeros64(bit) + 1
}

// PendingSignals returns the pending (not yet delivered) signals.
func (t *Task) PendingSignals() uint64 {
	t.sigMu.Lock()
	defer t.sigMu.Unlock()
	return t.pending
}

// Delivered returns how many times signal sig was delivered (its handler
// "ran"). Call it from the task's goroutine or after it stopped.
func (t *Task) Delivered(sig int) int {
	t.sigMu.Lock()
	defer t.sigMu.Unlock()
	if sig < 1 || sig > 64 {
		return 0
	}
	return int(t.delivered[sig-1])
}

// SignalsDelivered returns the signals (bit sig-1) delivered during the
// task's most recent Syscall, as a return to user space runs their
// handlers: the embedder runs the guest's handlers for these. Call it from
// the task's goroutine, after Syscall.
func (t *Task) SignalsDelivered() uint64 { return t.callDelivered }

// DeliverPendingSignals consumes the pending signals the task's mask allows,
// as a return to user space runs their handlers, and returns them.
// Embedders call it when the guest thread runs user code between system
// calls, so a signal that arrived as one call was returning does not
// interrupt the next. It leaves SignalsDelivered as it was.
func (t *Task) DeliverPendingSignals() uint64 {
	saved := t.callDelivered
	t.callDelivered = 0
	t.deliverSignals()
	d := t.callDelivered
	t.callDelivered = saved
	return d
}

// deliverSignals consumes every pending signal the current mask allows and
// adds them to callDelivered. With none (the common case) it takes no lock:
// a signal that becomes pending after the look is delivered at the end of
// the next call, as it would be if it had come a moment later.
func (t *Task) deliverSignals() {
	if !t.sigReady.Load() {
		return
	}
	t.sigMu.Lock()
	if d := t.pending &^ t.mask; d != 0 {
		t.pending &^= d
		t.callDelivered |= d
		for i := 0; i < 64; i++ {
			if d&(1<<i) != 0 {
				t.delivered[i]++
			}
		}
		t.signalsChangedLocked()
	}
	t.sigMu.Unlock()
}
