// Package epoll implements epoll instances with Linux's exact semantics:
// registrations keyed by (open file description, fd number), level- and
// edge-triggered delivery, ONESHOT, EXCLUSIVE, nesting with Linux's loop,
// depth and wakeup-path limits, and max_user_watches.
//
// # How it works
//
// An EventPoll is the implementation of an fs.File. Each registration (an
// item) hooks the target file's wait queue. When the target signals a state
// change, the item's Wake callback runs: it never looks at the target's
// state, it only queues the item on the ready list (if the key matches the
// interest and the item is armed) and wakes one thread blocked in Wait and
// everyone polling the instance's own file. Readiness is evaluated only when
// events are harvested (and at ADD and MOD, and when the instance's file is
// polled): each queued item is polled again, stale ones are dropped, ready
// ones are reported as current readiness ∩ interest, ONESHOT items are
// disarmed, level-triggered items go back to the tail of the ready list.
// This is Linux's ep_poll_callback / ep_send_events split, and the ready
// list's order rules (FIFO, round robin, wakeups during a harvest placed
// before the harvest's re-queues) fall out of it.
//
// A harvest walks a private copy of the ready list without holding the
// ready-list lock, so targets are never polled under it; wakeups that arrive
// meanwhile go to an overflow list that is merged when the walk ends.
// Events are handed to the caller in chunks (EventWriter); events the caller
// cannot accept (a copy-out fault) go back to the ready list as if never
// harvested.
//
// A target whose readiness depends on the thread that asks
// (fs.CallerPollable, a signalfd) is hooked and polled for a caller, as
// Linux polls with current: the thread of the ADD or MOD (AddFor,
// ModifyFor) for the hook and the check, the thread of Wait (its Blocker)
// or ReadEventsFor for a harvest, and an outer caller for a nested
// instance's readiness (EventPoll is a CallerPollable that passes it on).
//
// Registrations hold no reference on their target: they sit on its watch
// list, and the target's final release removes them. The instance's own
// release removes all of its registrations.
//
// # Invariants
//
//   - An item is in ep.interest from a successful ADD until DEL, the
//     target's final release or the instance's release; only then is its
//     hook on the target's queue and its watch on the target's list.
//   - An item is on at most one of: the ready list, a scan's private list;
//     it may also be on the overflow list during a scan. Items carry no
//     flags for these: an item is on a list when it has a prev or is the
//     list's head, and on the overflow list when ovfNext is set (the last
//     points to itself).
//   - A fired ONESHOT item keeps only its private bits and is ignored by
//     wakeups until MOD re-arms it.
//   - CheckInvariants verifies these.
//
// # Misuse
//
// Add, Modify and Delete check, before anything else, that the instance and
// the target are not released, and fail with EBADF (Linux's fdget of a
// closed fd) leaving nothing behind. A caller holding references never
// sees this; one that does not, racing the release, gets EBADF or a
// registration the release then removes (AddWatch decides atomically with
// the target's release, the instance's mutex with the instance's). A
// FileIdentifier with a nil File, an EventPoll not made by NewFile, and
// NewFile with a nil Domain panic naming the misuse. A target that is not pollable is EPERM at every op, so
// its queue is never hooked (fs.File.EventRegister of such a file panics).
//
// # Memory and cost
//
// A registration is one 144-byte item (the only allocation of an ADD) plus
// about one pointer in the interest table (index.go, a chained hash table
// rather than a Go map, which would cost some 40 bytes more); epoll-in-epoll
// registrations are also in a small per-instance set. A harvest takes
// EventPoll.mu once and readyMu twice, and polls each queued target once;
// docs/performance.md has the measurements.
//
// # Lock order
//
//	Domain.nestMu                    (ADDs that need a full check)
//	  EventPoll.mu                   (outer instance before inner ones)
//	    file state locks             (polling a target)
//	    Domain.graphMu               (nested lists; leaf except for...)
//	      fs.File.watchMu            (...watch lists, walked bottom-up)
//	    EventPoll.readyMu            (also guards ep.waiters; sleepers'
//	                                  wakers run under it)
//
// SaveInstances (state.go, for package checkpoint) holds the EventPoll.mu
// of every saved instance at once, taken in the caller's order rather than
// outer before inner: it runs only in a quiescent kernel, where nothing
// else takes EventPoll.mu (wakeups take readyMu only). Inside it takes each
// target's watchMu, then each instance's readyMu, in turn.
//
// Wakeup callbacks run with the target's queue lock held and take only
// readyMu, wake one sleeper under it (ep.waiters is a waiter.List guarded
// by readyMu, as Linux guards ep->wq with ep->lock), and after releasing
// it notify the instance's pollers queue, whose callbacks are outer
// instances' items (nesting order again). No callback takes EventPoll.mu,
// and nothing is polled while readyMu is held.
//
// # Lockless reads
//
// Four things are read without their lock, the first three as Linux reads
// them:
//
//   - item.events, by the wakeup callback's filter before it takes readyMu
//     (the filter is repeated under the lock; see item.Wake for why a
//     racing MOD loses nothing).
//   - EventPoll.avail, the mirror of "ready list non-empty or a scan in
//     progress", by EventsAvailable at the start of Wait (Linux's lockless
//     ep_events_available); Wait checks again under readyMu before it
//     sleeps. Every readyMu section that changes the ready list or the
//     scan flag ends with publishLocked.
//   - The emptiness of the pollers queue and of targets' queues
//     (waiter.Queue.Empty): pollers poll the instance (taking readyMu)
//     after registering.
//   - EventPoll.watchers, the number of other instances' registrations
//     of this one (kept with the nested sets under graphMu), by Add to
//     decide whether a full check is needed; Linux reads the file's
//     f_ep link without a lock for the same question. The count changes
//     just after the watch list does (under the outer instance's mu), so
//     the answer is the one a read of the list would have given.
//
// ADD allocates the item (and may grow the interest table, or the nested
// set for an epoll target); MOD, DEL, wakeups and harvests allocate
// nothing.
package epoll
