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

// EventCommitter is an EventWriter that confirms each harvest before it
// takes effect: an embedder that answers the guest after the copy (a
// seccomp supervisor) can then take the harvest back when the answer
// cannot be delivered, so that no event is lost.
//
// CommitEvents is called once per harvest that delivered n > 0 events,
// after the last WriteEvents and before any of them is consumed (a ONESHOT
// registration disarmed, a level-triggered one re-queued at the tail). A
// nil error consumes them. An error puts all n back at the head of the
// ready list untouched, in order, as if they had never been harvested, and
// the harvest reports 0 events with that error. CommitEvents runs with the
// instance's harvest lock held: it must not call into the instance.
//
// With a committer, the events of a harvest larger than one chunk are all
// consumed at the end rather than chunk by chunk. The one visible
// difference: a wakeup, during the harvest, of a ONESHOT registration the
// harvest already delivered finds it still armed, and queues it. It is
// dropped, unreported, by the next harvest (it is disarmed by then).
type EventCommitter interface {
	EventWriter
	CommitEvents(n int) error
}

// Blocker is the thread that blocks in Wait: the syscall layer's task.
type Blocker interface {
	// WaitEntry returns the thread's reusable wait-queue entry. It must be
	// initialised exclusive and auto-removing, with a waker that ends Sleep.
	// The waker runs with the instance's wait lock held, so it must
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
