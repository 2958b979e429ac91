package epoll

import (
	"time"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// FileIdentifier is the key of a registration: the open file description
// and the fd number it was registered through, exactly as Linux keys
// epitems. Two fds of one file are two keys.
type FileIdentifier struct {
	File *fs.File
	Fd   int32
}

// Event is one delivered event: the reported mask and the registration's
// data.
type Event struct {
	Events waiter.EventMask
	Data   uint64
}

// EventWriter receives harvested events in chunks, as the syscall layer
// copies them to guest memory. WriteEvents returns how many of evs it
// accepted, in order; a short count must come with an error (EFAULT), and
// the events not accepted go back to the ready list untouched (not disarmed,
// not re-queued: as if they had never been harvested).
type EventWriter interface {
	WriteEvents(evs []Event) (int, error)
}

// Blocker is the thread that blocks in Wait: the syscall layer's task.
type Blocker interface {
	// WaitEntry returns the thread's reusable wait-queue entry. It must be
	// initialised exclusive and auto-removing, with a waker that ends Sleep.
	// The waker runs with the instance's ready-list lock held, so it must
	// not call into epoll or take a file's lock (waiter.Sleeper only posts
	// a token).
	WaitEntry() *waiter.Entry
	// SignalPending reports whether a signal that is not blocked is pending.
	SignalPending() bool
	// Sleep returns when the entry's waker fires, a signal arrives, or the
	// deadline passes (the zero time means no deadline), and reports
	// whether the deadline passed.
	Sleep(deadline time.Time) (timedOut bool)
}

// Interest describes one registration for fdinfo.
type Interest struct {
	Fd     int32
	File   *fs.File
	Events waiter.EventMask // the stored interest, as fdinfo shows it
	Data   uint64
}
