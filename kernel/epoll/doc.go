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
//	    EventPoll.readyMu
//	      waiter.Queue.mu of ep.waiters
//
// Wakeup callbacks run with the target's queue lock held and take only
// readyMu and the instance's own queues' locks (waiters, then pollers, whose
// callbacks are outer instances' items: nesting order again). No callback
// takes EventPoll.mu, and nothing is polled while readyMu is held.
//
// ADD allocates the item (and may grow the interest table, or the nested
// set for an epoll target); MOD, DEL, wakeups and harvests allocate
// nothing. Waiters' and pollers' queues are tested for emptiness without
// their lock (waiter.Queue.Empty): waiters register under readyMu, which
// the wakeup callback holds while it looks, and pollers poll the instance
// (taking readyMu) after registering.
package epoll
