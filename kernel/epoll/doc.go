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
// Wakeups queue items without a lock: they push them on a lock-free list
// (woken.go) that is the ready list's tail, and whoever holds EventPoll.mu
// drains it into the ready list, oldest first. A harvest takes the ready
// list (with what was woken so far) and walks it holding EventPoll.mu;
// wakeups that arrive meanwhile stay on the woken list, which plays
// Linux's overflow list and is merged when the walk ends.
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
//     it may also be on the woken list (at most once). Items carry no
//     flags for these: an item is on a list when it has a prev or is the
//     list's head, and on the woken list when wokenNext is set (the last
//     points to itself).
//   - The ready list in Linux's order is: the ready list, then the woken
//     list oldest first, without the items already on the ready list.
//     Draining the woken list (absorbLocked) keeps that order, so any
//     holder of EventPoll.mu may drain it at any time outside a scan; at a
//     scan's end it is drained between the leftovers and the re-queued
//     items, as Linux merges its overflow list.
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
// FileIdentifier with a nil File, an EventPoll not made by NewFile,
// NewFile with a nil Domain, and an ADD of an epoll instance of another
// Domain (whose nesting no lock of this one covers) panic naming the
// misuse. A target that is not pollable is EPERM at every op, so its queue
// is never hooked (fs.File.EventRegister of such a file panics).
//
// # Memory and cost
//
// A registration is one 128-byte item (the only allocation of an ADD, and
// none when the instance has a spare: the item of its last registration
// removed by DEL or by its target's release, kept for the next ADD) plus
// about one pointer in the interest table (index.go, a chained hash table
// rather than a Go map, which would cost some 40 bytes more); epoll-in-epoll
// registrations are also in a small per-instance set. An ADD and a DEL
// each take EventPoll.mu and, on an eventfd target, one lock pair (its
// watch list is guarded by its queue's lock; two pairs on other types),
// and one atomic add of the max_user_watches count. A harvest takes
// EventPoll.mu once and no other lock (plus one atomic swap when
// something was woken, and waitMu when a thread sleeps), and polls each
// queued target once; docs/performance.md has the measurements.
//
// # Lock order
//
//	Domain.nestMu                    (ADDs that need a full check)
//	  EventPoll.mu                   (outer instance before inner ones;
//	                                  guards the ready list too)
//	    file state locks             (polling a target)
//	    a target's queue locks and   (hooking and unhooking at ADD and
//	      watch lock                  DEL: one critical section for an
//	                                  eventfd, fs.File.HookWatch)
//	    Domain.graphMu               (nested lists; leaf except for...)
//	      file watch locks           (...watch lists, walked bottom-up;
//	                                  an eventfd's is its queue's lock)
//	    EventPoll.waitMu             (ep.waiters only; sleepers' wakers
//	                                  run under it)
//
// The fields these locks guard carry +checklocks annotations, and the
// functions that need one are named and annotated as docs/locking.md says
// (fooLocked: ep.mu; fooWaitMuLocked: ep.waitMu). An item's fields stay
// in prose (item.go): the tool names a lock by the path it is reached
// through, and an item's instance is reached both as it.ep and as the
// receiver. The nesting walks hold their Domain's locks while visiting
// other instances of the same Domain, which the tool cannot tell apart
// from another Domain's; those calls carry +checklocksignore.
//
// SaveInstances (state.go, for package checkpoint) holds the EventPoll.mu
// of every saved instance at once, taken in the caller's order rather than
// outer before inner: it runs only in a quiescent kernel, where nothing
// else takes EventPoll.mu (wakeups take no epoll lock but waitMu). Inside
// it takes each target's watch lock, then each instance's waitMu, in turn.
//
// Wakeup callbacks run with the target's queue lock held and take no lock
// to queue: they push the item on the woken list. Only if a thread sleeps
// in Wait (the lockless sleeping mirror) do they take waitMu and wake one
// under it (ep.waiters is a waiter.List guarded by waitMu, as Linux guards
// ep->wq); then they notify the instance's pollers queue, whose callbacks
// are outer instances' items (nesting order again). No callback takes
// EventPoll.mu, and nothing is polled while waitMu is held.
//
// What makes the lock-free queueing safe:
//
//   - Only wakeup callbacks push, and the pushes of one item are
//     serialised by its target's queue lock (an entry is on one queue);
//     only holders of EventPoll.mu drain, taking the whole list with one
//     swap, so no pop races a push (no ABA).
//   - A drain clears an item's wokenNext before the item is polled; a
//     wakeup that finds it still set skips the push. Either the drain's
//     poll sees the state the notifier changed before notifying, or the
//     clear came first and the wakeup pushes again.
//   - Wait registers under waitMu, publishes sleeping, then looks for
//     events (EventsAvailable); a wakeup pushes, then looks at sleeping.
//     With sequentially consistent atomics, one of the two sees the
//     other: no wakeup is lost. A harvest or ADD or MOD that leaves items
//     queued publishes avail, then looks at sleeping, likewise.
//   - An item is unhooked (fs.File.RemoveWatch, which waits for a running
//     callback) before DEL drains the woken list and unlinks it, so a
//     removed item is never pushed again, and may become the instance's
//     spare (below).
//
// # Lockless reads
//
// These are read without their lock, as Linux reads their counterparts:
//
//   - item.ep, by a target's final release that found the item on the
//     target's watch list and calls item.FileReleased after dropping the
//     watch lock. A DEL may meanwhile remove the item and keep it as the
//     instance's spare, and an ADD reuse it for another file (Linux
//     frees an epitem through RCU for the same kind of reader; here the
//     collector keeps the memory, and reuse is the question). The release
//     reads the item's owner under the watch lock, and item.ep, which
//     nothing rewrites, without a lock; everything else under
//     EventPoll.mu, where item.file tells whether the item still watches
//     the released file (an ADD of that file fails once its release has
//     begun).
//   - item.events, by the wakeup callback's filter (see item.Wake for why
//     a racing MOD loses nothing, and why a racing ONESHOT disarm at most
//     queues an item the next harvest drops, as in Linux).
//   - EventPoll.avail, the mirror of "ready list non-empty or a scan in
//     progress", and the head of the woken list, by EventsAvailable
//     (Linux's lockless ep_events_available); Wait looks again after it
//     registers as a sleeper. Every EventPoll.mu section that changes the
//     ready list or the scan flag ends with publishLocked.
//   - EventPoll.sleeping, the mirror of "ep.waiters is not empty", by
//     wakeup callbacks and harvests before they take waitMu.
//   - A sleeper's own wait entry, by the sleeper after Sleep
//     (waiter.Entry.Unlinked, Linux's list_empty_careful in ep_poll): the
//     waker unlinks it under waitMu and clears its linked word last,
//     atomically, after publishing sleeping; a sleeper that finds it
//     unlinked skips waitMu, one that finds it linked (timeout, signal)
//     unregisters under waitMu as before.
//   - The emptiness of the pollers queue and of targets' queues (the
//     lockless look of waiter.Queue.Notify): pollers poll the instance
//     (taking EventPoll.mu) after registering.
//   - EventPoll.watchers, the number of other instances' registrations
//     of this one (kept with the nested sets under graphMu), by Add to
//     decide whether a full check is needed; Linux reads the file's
//     f_ep link without a lock for the same question. The count changes
//     just after the watch list does (under the outer instance's mu), so
//     the answer is the one a read of the list would have given.
//
// ADD allocates the item unless the instance has a spare (and may grow the
// interest table, or the nested set for an epoll target); MOD, DEL,
// wakeups and harvests allocate
// nothing.
package epoll
