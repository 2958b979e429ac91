package syscalls

import (
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// Blocking for handlers: the sleep the package's blocking reads and writes
// use, for an embedder's Handler.

// Waitable is what Task.Block sleeps on: a wait queue and the readiness
// its wakeups announce. A pollable *fs.File is one; so is any type of the
// embedder's that hooks entries on a waiter.Queue it notifies after each
// state change (a wait for signals hooks the task's signal queue:
// SignalRegister).
type Waitable interface {
	// Readiness returns the current events (Wait.Mask is checked
	// against it when Wait.Ready is not set).
	Readiness(mask waiter.EventMask) waiter.EventMask
	// EventRegister hooks e on the queue; EventUnregister unhooks it.
	EventRegister(e *waiter.Entry)
	EventUnregister(e *waiter.Entry)
}

// Wait describes one blocking step of a handler (Task.Block).
type Wait struct {
	// Mask is the events the step waits for: Block returns at once if the
	// Waitable reports one of them after the task is registered. Ignored
	// when Ready is set.
	Mask waiter.EventMask
	// Ready, if set, replaces the readiness check: Block calls it after
	// registering and does not sleep if it reports true. Use it when the
	// call waits for less than a readiness bit says (an eventfd write waits
	// for room for its value, not for OUT), or to retry the operation
	// itself. It runs on the task's goroutine.
	Ready func() bool
	// Deadline ends the sleep with unix.ETIMEDOUT; zero means none.
	Deadline time.Time
	// Exclusive makes the task an exclusive waiter: a wake-one wakeup
	// (waiter.Queue.Notify) wakes the first exclusive waiter only, as
	// Linux wakes one thread blocked in accept (prepare_to_wait_exclusive).
	Exclusive bool
	// Interrupted is what Block returns when a signal or a Stop ends the
	// wait: a restart code (restart.go) or unix.EINTR; zero means
	// ErrRestart (ERESTARTSYS, what most blocking calls return).
	Interrupted unix.Errno
}

// Block puts the task to sleep on the wait queue of on until it is woken, w's
// condition holds, w.Deadline passes, or a signal the mask does not block
// (or a Stop) arrives. It returns:
//
//   - 0 when the condition held or the task was woken (which may be
//     spurious, or another waiter may have taken what the wakeup announced):
//     the handler tries its operation again, and blocks again if it still
//     cannot proceed. A wakeup wins over a signal that arrives with it, so
//     an exclusive waiter never loses the wakeup it took: the signal ends
//     the next Block;
//   - unix.ETIMEDOUT when the deadline passed: the handler returns its
//     call's own answer (EAGAIN for a socket timeout, 0 for a poll, ...);
//   - w.Interrupted (default ErrRestart) when a signal or a Stop ended the
//     wait, or was there before it began: the handler returns it as its
//     errno (after undoing anything partial), and Syscall settles it.
//
// The handler must try its operation before blocking: Block does not look
// at the condition when a signal is already pending. It registers the task
// on the queue (EventRegister) only for its duration, and never sleeps on
// a wakeup that came between the check and the sleep. A file must be
// pollable (Block on a file without poll operations panics). Block on a
// file allocates nothing.
func (t *Task) Block(on Waitable, w Wait) unix.Errno {
	if f, ok := on.(*fs.File); ok && f.Pollable() == nil {
		panic(fmt.Sprintf("syscalls: Task.Block on a file whose type %T has no poll operations (fs.Pollable)", f.Impl()))
	}
	if t.SignalPending() {
		return w.interrupted()
	}
	return blockEndErrno(t.blockOn(on, &w), &w)
}

// blockEnd is how one blocking step ended.
type blockEnd uint8

const (
	blockReady       blockEnd = iota // the condition held after registering
	blockWoken                       // the task's entry was woken
	blockTimedOut                    // the deadline passed
	blockInterrupted                 // a signal or a Stop
)

func blockEndErrno(end blockEnd, w *Wait) unix.Errno {
	switch end {
	case blockTimedOut:
		return unix.ETIMEDOUT
	case blockInterrupted:
		return w.interrupted()
	}
	return 0
}

func (w *Wait) interrupted() unix.Errno {
	if w.Interrupted == 0 {
		return ErrRestart
	}
	return w.Interrupted
}

// blockOn registers the task's I/O entry on on's queue, checks w's
// condition, sleeps unless it holds, and unregisters. The package's
// blocking reads and writes sleep through it too.
func (t *Task) blockOn(on Waitable, w *Wait) blockEnd {
	t.prepareSleep()
	t.blockWake.woken.Store(false)
	t.ioEntry.Init(&t.blockWake, w.Exclusive, true)
	file, isFile := on.(*fs.File)
	if isFile {
		file.EventRegisterFor(&t.ioEntry, t)
	} else {
		on.EventRegister(&t.ioEntry)
	}
	end := blockReady
	if !w.ready(on, t) {
		end = blockInterrupted
		if t.Sleep(w.Deadline) {
			end = blockTimedOut
		}
	}
	on.EventUnregister(&t.ioEntry)
	if end != blockReady && t.blockWake.woken.Load() {
		end = blockWoken
	}
	if end == blockInterrupted && !t.SignalPending() {
		end = blockWoken // a stale token: try again
	}
	return end
}

// ready checks w's condition; a file's readiness is the one the task
// sees (fs.CallerPollable).
func (w *Wait) ready(on Waitable, t *Task) bool {
	if w.Ready != nil {
		return w.Ready()
	}
	if f, ok := on.(*fs.File); ok {
		return f.ReadinessFor(w.Mask, t)&w.Mask != 0
	}
	return on.Readiness(w.Mask)&w.Mask != 0
}

// blockWaker is the waker of the task's entry while it blocks: it posts
// the sleeper's token and records that the entry was woken, so that a
// wakeup and a signal arriving together count as the wakeup.
type blockWaker struct {
	sleeper *waiter.Sleeper
	woken   atomic.Bool
}

// Wake implements waiter.Waker.
func (b *blockWaker) Wake(key waiter.EventMask) bool {
	b.woken.Store(true)
	return b.sleeper.Wake(key)
}
