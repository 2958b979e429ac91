package fs

import (
	"encoding/binary"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// eventfd (docs/semantics.md#eventfd): a 64-bit counter. Writes add to
// it (never reaching 0xffffffffffffffff, the value that signals an error
// state and is only reachable by in-kernel signalling), reads take it (or 1
// in semaphore mode). Every successful write wakes one waiter with IN, every
// successful read with OUT, whatever the counter was: edge-triggered
// entries fire on each of them, a write of 0 included.

// EFDSemaphore is EFD_SEMAPHORE.
const EFDSemaphore = 1

const eventfdMax = ^uint64(0) // ULLONG_MAX

// The counter is one atomic word: reads and writes update it with a
// compare-and-swap and readiness loads it, so no operation takes a lock
// except the queue's, when somebody is registered.
type eventfd struct {
	count     atomic.Uint64
	semaphore bool // immutable

	queue waiter.Queue
}

// NewEventfd returns a new eventfd (eventfd2) with counter initval. flags
// may hold O_NONBLOCK and EFDSemaphore (O_CLOEXEC is the fd table's and is
// ignored; the syscall layer rejects other bits).
func NewEventfd(initval uint64, flags uint32) *File {
	e := &eventfd{semaphore: flags&EFDSemaphore != 0}
	e.count.Store(initval)
	return New(e, unix.O_RDWR|flags&unix.O_NONBLOCK)
}

// Read implements Impl.Read: a buffer shorter than 8 bytes is EINVAL (a
// zero-length one too), a zero counter EAGAIN; otherwise the counter (1 in
// semaphore mode) is returned as 8 little-endian bytes and subtracted.
func (e *eventfd) Read(f *File, dst []byte) (int, error) {
	if len(dst) < 8 {
		return 0, unix.EINVAL
	}
	var v uint64
	for {
		c := e.count.Load()
		if c == 0 {
			return 0, unix.EAGAIN
		}
		v = c
		if e.semaphore {
			v = 1
		}
		if e.count.CompareAndSwap(c, c-v) {
			break
		}
	}
	e.queue.Notify(waiter.EventOut)
	binary.LittleEndian.PutUint64(dst, v)
	return 8, nil
}

// Write implements Impl.Write: exactly 8 bytes (anything else is EINVAL on
// Linux 6.18), not 0xffffffffffffffff (EINVAL); a value that would take
// the counter past 0xfffffffffffffffe is EAGAIN.
func (e *eventfd) Write(f *File, src []byte) (int, error) {
	if len(src) != 8 {
		return 0, unix.EINVAL
	}
	v := binary.LittleEndian.Uint64(src)
	if v == eventfdMax {
		return 0, unix.EINVAL
	}
	for {
		c := e.count.Load()
		if eventfdMax-c <= v {
			return 0, unix.EAGAIN
		}
		if e.count.CompareAndSwap(c, c+v) {
			break
		}
	}
	e.queue.Notify(waiter.EventIn)
	return 8, nil
}

// Release implements Impl.Release.
func (e *eventfd) Release(f *File) {}

// Readiness implements Pollable: IN if the counter is non-zero, OUT while a
// write of 1 would succeed, ERR in the overflow state. No RDNORM/WRNORM.
func (e *eventfd) Readiness(f *File, mask waiter.EventMask) waiter.EventMask {
	c := e.count.Load()
	var m waiter.EventMask
	if c > 0 {
		m |= waiter.EventIn
	}
	if c == eventfdMax {
		m |= waiter.EventErr
	}
	if c < eventfdMax-1 {
		m |= waiter.EventOut
	}
	return m
}

// EventRegister implements Pollable.
func (e *eventfd) EventRegister(f *File, w *waiter.Entry) { e.queue.Register(w) }

// EventUnregister implements Pollable.
func (e *eventfd) EventUnregister(f *File, w *waiter.Entry) { e.queue.Unregister(w) }

// HookQueue implements HookQueuer: every entry goes on the one queue.
func (e *eventfd) HookQueue(*File) *waiter.Queue { return &e.queue }

// Count returns the counter (fdinfo's eventfd-count).
func (e *eventfd) Count() uint64 { return e.count.Load() }

// EventfdInfo is implemented by eventfds.
type EventfdInfo interface {
	Count() uint64
}
