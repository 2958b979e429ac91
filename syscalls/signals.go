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
// unblocks is delivered at the end of the next syscall; so is one pending
// for the whole process that the new mask unblocks (the task takes it, as
// recalc_sigpending makes the thread that unblocks it handle it).
func (t *Task) SetSignalMask(mask uint64) uint64 {
	p := t.proc
	p.sigMu.Lock()
	t.sigMu.Lock()
	old := t.mask
	t.mask = mask &^ unblockable
	if take := p.shared.Load() &^ t.mask; take != 0 {
		p.shared.Store(p.shared.Load() &^ take)
		t.pending |= take
	}
	t.publishSigMuLocked()
	t.sigMu.Unlock()
	p.sigMu.Unlock()
	return old
}

// publishSigMuLocked updates sigReady after mask, pending or stopped
// changed and, if an unblocked signal is pending or the task is stopped,
// posts the sleeper's token so that a sleep in progress ends.
//
// +checklocks:t.sigMu
func (t *Task) publishSigMuLocked() {
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
	t.publishSigMuLocked()
	t.sigMu.Unlock()
	if !already || sig >= sigRTMin {
		// After sigMu: a waker may look at the pending set.
		t.proc.sigQueue.Notify(0)
	}
}

// sigBit is signal sig's bit in a mask.
func sigBit(sig int) uint64 { return 1 << (sig - 1) }

// SendSignal sends sig (1..64) to the task as tgkill does: discarded if
// the task's process ignores it (Process.SetIgnoredSignals) and the task
// does not block it (Linux's sig_ignored); fatal to the whole process
// (Process.Kill) if it has its default action and the task does not
// block it (Process.SetCaughtSignals); else as Interrupt.
func (t *Task) SendSignal(sig int) {
	if sig < 1 || sig > 64 {
		return
	}
	blocked := t.SignalMask()&sigBit(sig) != 0
	switch {
	case t.proc.ignored.Load()&sigBit(sig) != 0 && !blocked:
		return
	case t.proc.fatal(sig) && !blocked:
		t.proc.Kill(sig)
		return
	}
	t.Interrupt(sig)
}

// Signal sends sig (1..64) to the whole process, as kill does: discarded
// if the process has exited, or ignores sig and its main thread does not
// block it (sig_ignored); otherwise it goes to a thread that does not
// block it (the main thread first, then a thread without a signal pending,
// as complete_signal chooses), pending on that thread, or ends the
// process (Kill) if it has its default action there
// (Process.SetCaughtSignals); if every thread blocks it, it stays pending
// for the process, where any thread's signalfd sees it and the first
// thread to unblock it takes it. The process's signalfd queue is notified
// as Interrupt notifies it.
func (p *Process) Signal(sig int) {
	if sig < 1 || sig > 64 {
		return
	}
	bit := sigBit(sig)
	p.sigMu.Lock()
	if p.Exited() || len(p.tasks) == 0 {
		p.sigMu.Unlock()
		return
	}
	main := p.tasks[0]
	if p.ignored.Load()&bit != 0 && main.SignalMask()&bit == 0 {
		p.sigMu.Unlock()
		return
	}
	already := p.shared.Load()&bit != 0
	t := p.chooseThreadSigMuLocked(bit)
	if t != nil && p.fatal(sig) {
		p.sigMu.Unlock()
		p.Kill(sig)
		return
	}
	if t != nil {
		t.sigMu.Lock()
		already = already || t.pending&bit != 0
		t.pending |= bit
		t.publishSigMuLocked()
		t.sigMu.Unlock()
	} else {
		p.shared.Store(p.shared.Load() | bit)
	}
	p.sigMu.Unlock()
	if !already || sig >= sigRTMin {
		p.sigQueue.Notify(0)
	}
}

// chooseThreadSigMuLocked picks the thread for a process-directed signal: the
// main thread if it does not block it and has no signal pending, else the
// first such thread, else the first that does not block it, else nil.
//
// +checklocks:p.sigMu
func (p *Process) chooseThreadSigMuLocked(bit uint64) *Task {
	var fallback *Task
	for _, t := range p.tasks {
		if t.SignalMask()&bit != 0 {
			continue
		}
		if !t.SignalPending() {
			return t
		}
		if fallback == nil {
			fallback = t
		}
	}
	return fallback
}

// SharedPendingSignals returns the signals pending for the whole process
// (every thread blocked them when they came).
func (p *Process) SharedPendingSignals() uint64 { return p.shared.Load() }

// SignalRegister hooks e on the task's signal queue (its process's, which
// every thread of the process shares, as Linux's sighand), which Interrupt
// notifies each time a signal becomes pending (blocked or not), after the
// signal is pending, with key 0 ("all events") and one exclusive wakeup, as
// Linux's signalfd_notify wakes the signalfd wait queue. It is the
// EventRegister of a signalfd: hook an epoll registration or a blocked
// read's entry here, and report readiness from PendingSignals. The waker
// runs in the sender's goroutine with the queue's lock held; it must not
// call SignalRegister or SignalUnregister of this task. Safe from any
// goroutine.
func (t *Task) SignalRegister(e *waiter.Entry) { t.proc.sigQueue.Register(e) }

// SignalUnregister unhooks e (see SignalRegister). After it returns, e's
// waker is not running and will not run for this task.
func (t *Task) SignalUnregister(e *waiter.Entry) { t.proc.sigQueue.Unregister(e) }

// DequeueSignal takes one pending signal in mask (bit sig-1), the lowest
// numbered, whether blocked or not, and returns its number, or 0 if none
// is pending: one step, as signalfd_read dequeues. The task's own pending
// signals come first, then its process's (dequeue_signal's order). A
// dequeued signal is not delivered (no handler runs, Delivered does not
// count it). Safe from any goroutine.
func (t *Task) DequeueSignal(mask uint64) int {
	p := t.proc
	p.sigMu.Lock()
	defer p.sigMu.Unlock()
	t.sigMu.Lock()
	defer t.sigMu.Unlock()
	if ready := t.pending & mask; ready != 0 {
		bit := ready & -ready
		t.pending &^= bit
		t.publishSigMuLocked()
		return bits.TrailingZeros64(bit) + 1
	}
	if ready := p.shared.Load() & mask; ready != 0 {
		bit := ready & -ready
		p.shared.Store(p.shared.Load() &^ bit)
		return bits.TrailingZeros64(bit) + 1
	}
	return 0
}

// PendingSignals returns the signals pending (not yet delivered) for the
// task: its own and its process's.
func (t *Task) PendingSignals() uint64 {
	t.sigMu.Lock()
	defer t.sigMu.Unlock()
	return t.pending | t.proc.shared.Load()
}

// OwnPendingSignals returns the signals pending for the task alone.
func (t *Task) OwnPendingSignals() uint64 {
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
		t.publishSigMuLocked()
	}
	t.sigMu.Unlock()
}
