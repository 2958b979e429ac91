// Package waiter holds event masks and wait queues: the mechanism by which a
// file tells the things that watch it (epoll registrations, blocked tasks,
// poll callers) that its state changed.
//
// # Model
//
// A Queue is Linux's wait_queue_head. An Entry is a wait_queue_entry: a Waker
// to call and whether the entry is exclusive. Non-exclusive entries are
// inserted at the head of the queue and exclusive ones at the tail, exactly
// as add_wait_queue and add_wait_queue_exclusive do, because the order in
// which hooks are called is observable (it decides the order in which an
// epoll instance queues two registrations of one file). RegisterHead puts
// an exclusive entry at the head instead, as __add_wait_queue_exclusive does
// for threads blocked in epoll_wait (the last to block is woken first).
//
// Notify(key) is wake_up with nr_exclusive = 1: it calls every non-exclusive
// entry, then exclusive entries in order until one of them reports that it
// took the wakeup. NotifyAll(key) calls every entry. The key is the event
// mask the state change signals; key 0 means "all events". Filtering by key
// is the callee's business, as in Linux.
//
// A List is the same list without a lock of its own, for an owner that
// already holds a lock on every path that registers and notifies (an epoll
// instance keeps its sleepers on a List guarded by its wait lock, as
// Linux guards ep->wq with ep->lock); a Queue is a List plus its lock.
//
// # Invariants
//
//   - An Entry is on at most one Queue or List at a time, and is
//     unregistered from the one it was registered on (an entry does not
//     record its queue).
//   - Wake is called with the queue's lock (a List's owner's lock) held, so
//     after Unregister returns no Wake of that entry is running or will
//     run.
//   - An entry marked auto-remove is unlinked by the walk when its Wake
//     returns true; Linked reports whether that happened, and
//     Entry.Unlinked lets the entry's owner ask without the lock (the
//     walk clears the entry's linked word last, atomically; Linux's
//     list_empty_careful).
//   - Misuse panics naming it: Register of an entry already on a queue or
//     never Init, Init of an entry on a queue or with a nil Waker, and
//     Unregister from a queue the entry is not at either end of (an entry
//     in the middle of another queue cannot be told apart). A Queue
//     releases its lock on the way out.
//
// # Lock order and the rule for callers
//
// Lock annotations and the names of functions that need a lock follow
// docs/locking.md; Queue.publishLocked refreshes the lockless mirror below.
//
// Queue.mu is a leaf with respect to file state: a Waker runs under it and
// may take its own locks (an epoll instance's wait lock, another queue's lock
// when it forwards a wakeup upwards through nested epoll), but it must never
// call Register or Unregister on the queue that is calling it and never take
// a lock that a readiness check needs. Files therefore call Notify only
// after releasing the locks that guard their state: a readiness check may
// then run at any time, and a notification never waits for one.
//
// Queue.Empty, and Notify of an empty queue, take no lock (Linux's
// waitqueue_active): a registrant must re-check the state it waits for
// after Register, and a notifier must change that state before Notify.
// The lockless mirror they read is set by the registration that makes the
// queue non-empty and cleared by the first notification (or Empty) that
// finds it empty, not by Unregister, so that an entry that comes and goes
// between notifications stores nothing.
//
// Queue.Lock and Unlock let an owner guard more state with the queue's
// lock and register or unregister in the same critical section
// (RegisterLocked, UnregisterLocked): a file's watch list (package fs)
// is guarded by the lock of the one queue its type hooks. That state is
// then under a lock wakers run under, so its holder must not notify the
// queue or take a lock that a waker takes before the queue's.
//
// Notify, NotifyAll, Register and Unregister allocate nothing.
package waiter
