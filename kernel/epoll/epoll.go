package epoll

import (
	"sort"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// EventPoll is an epoll instance (Linux's struct eventpoll). It is the
// implementation of an fs.File, so it is reference counted, pollable and can
// be watched by other instances.
type EventPoll struct {
	domain *Domain  // immutable
	file   *fs.File // immutable; the instance's own open file description

	// mu serialises control operations and harvests (Linux's ep->mtx). It
	// guards interest and makes a harvest's walk exclusive. Readiness of
	// targets is checked under mu but never under readyMu.
	mu       sync.Mutex
	interest interestSet

	// readyMu guards the ready list, the scan state and the overflow list
	// (Linux's ep->lock). Wakeup callbacks take it; nothing is polled under
	// it.
	readyMu sync.Mutex
	ready   itemList
	// scanning is set while a harvest or a readiness check walks a private
	// copy of the ready list; wakeups then go to the overflow list.
	scanning         bool
	ovfHead, ovfTail *item
	// avail mirrors "ready list non-empty or a scan in progress" (Linux's
	// ep_events_available) for lockless reads: every readyMu section that
	// changes either ends with publishLocked.
	avail atomic.Bool

	// waiters holds the threads blocked in Wait (exclusive, auto-removing
	// entries). Guarded by readyMu, like Linux's ep->wq under ep->lock: the
	// wakeup callback that queues an item wakes a sleeper under the same
	// acquisition, and a thread registers under the one that finds nothing
	// ready.
	waiters waiter.List
	// pollers holds whoever polls the instance's own file (outer instances,
	// poll callers); it has its own lock and is notified after readyMu is
	// released.
	pollers waiter.Queue

	// nested holds the items whose target is an epoll (nil until the
	// first). Guarded by domain.graphMu.
	nested map[*item]struct{}
	// watchers counts the items of other instances whose target is this
	// instance: the sum, over all instances, of their nested items that
	// point here. It changes with those nested sets (under
	// domain.graphMu, or in RestoreInstances before the instances are
	// shared) and is read without a lock by Add, to ask "is this instance
	// watched?" without taking its file's watch lock. Between operations
	// it equals the length of the file's watch list; during an outer ADD
	// or DEL it may lag the list briefly, which is no different from
	// reading the list a moment earlier or later (a DEL decrements after
	// unlinking the watch, so a stale value only forces a needless full
	// check).
	watchers atomic.Int32
	// gen and depth cache the longest downward chain during one full check.
	// Guarded by domain.nestMu.
	gen   uint64
	depth int
}

// NewFile creates an epoll instance in d and returns its file, with one
// reference owned by the caller and status flags O_RDWR. A nil d panics.
func NewFile(d *Domain) *fs.File {
	if d == nil {
		panic("epoll: NewFile with a nil Domain (use NewDomain)")
	}
	ep := &EventPoll{domain: d}
	ep.file = fs.New(ep, unix.O_RDWR)
	return ep.file
}

// FromFile returns the instance behind f, if f is an epoll file.
func FromFile(f *fs.File) (*EventPoll, bool) {
	ep, ok := f.Impl().(*EventPoll)
	return ep, ok
}

// File returns the instance's own file.
func (ep *EventPoll) File() *fs.File { return ep.file }

// Read implements fs.Impl: reading an epoll file is EINVAL.
func (ep *EventPoll) Read(*fs.File, []byte) (int, error) { return 0, unix.EINVAL }

// Write implements fs.Impl: writing an epoll file is EINVAL.
func (ep *EventPoll) Write(*fs.File, []byte) (int, error) { return 0, unix.EINVAL }

// Release implements fs.Impl: the last reference is gone, so every
// registration goes (their watch units are given back) and pollers are told.
func (ep *EventPoll) Release(*fs.File) {
	ep.mu.Lock()
	ep.interest.forEach(ep.removeLocked)
	ep.mu.Unlock()
	if !ep.pollers.Empty() {
		ep.pollers.Notify(waiter.EventIn)
	}
}

// EventRegister implements fs.Pollable: outer instances and poll callers
// hook the instance's poll queue.
func (ep *EventPoll) EventRegister(_ *fs.File, e *waiter.Entry) { ep.pollers.Register(e) }

// CallerEventRegister implements fs.CallerPollable: the instance's own
// queue does not depend on the caller.
func (ep *EventPoll) CallerEventRegister(_ *fs.File, e *waiter.Entry, _ any) {
	ep.pollers.Register(e)
}

// EventUnregister implements fs.Pollable.
func (ep *EventPoll) EventUnregister(_ *fs.File, e *waiter.Entry) { ep.pollers.Unregister(e) }

// Readiness implements fs.Pollable (Linux's ep_eventpoll_poll): IN|RDNORM
// if some queued item is ready now, else 0. As in Linux, queued items found
// not ready are dropped from the ready list on the way; the walk stops at
// the first ready one.
func (ep *EventPoll) Readiness(f *fs.File, mask waiter.EventMask) waiter.EventMask {
	return ep.CallerReadiness(f, mask, nil)
}

// CallerReadiness implements fs.CallerPollable: the queued items are
// polled as caller sees them (a nested signalfd reports the caller's
// signals, as ep_eventpoll_poll polls with current).
func (ep *EventPoll) CallerReadiness(_ *fs.File, _ waiter.EventMask, caller any) waiter.EventMask {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	tx := ep.startScan()
	var res waiter.EventMask
	for it := tx.head; it != nil; {
		next := it.next
		if it.file.ReadinessFor(it.events, caller)&it.events != 0 {
			res = waiter.EventIn | waiter.EventRdNorm
			break
		}
		tx.remove(it)
		it = next
	}
	ep.doneScan(&tx, 0)
	return res
}

// startScan hands the ready list to the caller (who holds ep.mu) and sends
// wakeups to the overflow list until doneScan (Linux's ep_start_scan).
func (ep *EventPoll) startScan() itemList {
	ep.readyMu.Lock()
	tx := ep.ready
	ep.ready = itemList{}
	ep.scanning = true
	ep.publishLocked()
	ep.readyMu.Unlock()
	return tx
}

// publishLocked updates the lockless mirror of whether events may be
// available. ep.readyMu must be held.
func (ep *EventPoll) publishLocked() {
	if a := !ep.ready.empty() || ep.scanning; a != ep.avail.Load() {
		ep.avail.Store(a)
	}
}

// doneScan commits the first delivered items of tx (see commitLocked),
// then rebuilds the ready list as: the scan's leftovers in order, then
// items woken during the scan (oldest first, unless already queued), then
// what the scan re-queued (level-triggered deliveries). If anything is
// ready and a thread waits, one is woken (Linux's ep_done_scan).
func (ep *EventPoll) doneScan(tx *itemList, delivered int) {
	ep.readyMu.Lock()
	ep.commitLocked(tx, delivered)
	requeued := ep.ready
	ep.ready = *tx
	*tx = itemList{}
	for it := ep.ovfHead; it != nil; {
		next := it.ovfNext
		if next == it {
			next = nil
		}
		it.ovfNext = nil
		// Unless it is already queued: on the leftovers (now ep.ready) or
		// on the re-queued list.
		if it.prev == nil && ep.ready.head != it && requeued.head != it {
			ep.ready.pushBack(it)
		}
		it = next
	}
	ep.ovfHead, ep.ovfTail = nil, nil
	ep.ready.appendList(&requeued)
	ep.scanning = false
	ep.publishLocked()
	if !ep.ready.empty() && !ep.waiters.Empty() {
		ep.waiters.Notify(waiter.EventIn)
	}
	ep.readyMu.Unlock()
}

// EventsAvailable reports whether anything is queued, or a harvest is in
// progress (Linux's ep_events_available): a hint that a harvest may find
// events, not a promise. It takes no lock, as in Linux: a wakeup that
// happened before the call is seen (it published under readyMu), and Wait
// checks again under readyMu before it sleeps.
func (ep *EventPoll) EventsAvailable() bool { return ep.avail.Load() }

// Interests returns the registrations, as fdinfo lists them, sorted by fd
// number (ties, the same number registered for two files, in no particular
// order).
func (ep *EventPoll) Interests() []Interest {
	ep.mu.Lock()
	out := make([]Interest, 0, ep.interest.n)
	ep.interest.forEach(func(it *item) {
		out = append(out, Interest{Fd: it.fd, File: it.file, Events: it.events, Data: it.data})
	})
	ep.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Fd < out[j].Fd })
	return out
}

// Len returns the number of registrations.
func (ep *EventPoll) Len() int {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.interest.n
}

// removeLocked takes it out of the instance: off the target's queue (after
// which its callback cannot run), off the target's watch list, out of the
// interest set and the ready list. ep.mu must be held, and no scan can be
// in progress (scans hold ep.mu too).
func (ep *EventPoll) removeLocked(it *item) {
	it.file.EventUnregister(&it.hook)
	it.file.RemoveWatch(&it.watch)
	ep.interest.remove(it)
	if it.target() != nil {
		ep.domain.graphMu.Lock()
		delete(ep.nested, it)
		it.target().watchers.Add(-1)
		ep.domain.graphMu.Unlock()
	}
	// With nothing queued (avail false), it is not queued either and
	// readyMu is not needed: it was unhooked above, so no wakeup can queue
	// it any more, and whatever queued it earlier (a wakeup, finished when
	// EventUnregister took the queue's lock, or a harvest or ADD or MOD,
	// under ep.mu) published avail first.
	if ep.avail.Load() {
		ep.readyMu.Lock()
		if it.queued() {
			ep.ready.remove(it)
			ep.publishLocked()
		}
		ep.readyMu.Unlock()
	}
	ep.domain.watches.Add(-1)
}

// HasWaiters reports whether a thread is blocked in Wait (for tests and
// diagnostics).
func (ep *EventPoll) HasWaiters() bool {
	ep.readyMu.Lock()
	defer ep.readyMu.Unlock()
	return !ep.waiters.Empty()
}
