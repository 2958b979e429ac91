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
	// guards interest, the ready list and the scan state, and makes a
	// harvest's walk exclusive. Targets are polled under it.
	mu sync.Mutex
	// ready is the ready list (Linux's ep->rdllist). It stays at offset
	// 24, inside the struct's first 64 bytes: every harvest copies and
	// clears it as one 16-byte access, and an EventPoll (192-byte size
	// class, so 64-byte aligned) placed across a page boundary made that
	// access straddle the page when it sat at offset 56, which cost about
	// a quarter of a harvest (docs/performance.md, round 7).
	// +checklocks:mu
	ready itemList
	// +checklocks:mu
	interest interestSet
	// spare is the item of the last registration removed by DEL or by its
	// target's release, kept for the next ADD to reuse (nil when there is
	// none): an ADD after a removal allocates nothing. Its file is nil, so
	// it keeps no target alive; see item.FileReleased for why reusing it
	// is safe.
	// +checklocks:mu
	spare *item
	// scanning is set while a harvest or a readiness check walks a private
	// copy of the ready list; wakeups then go on woken as always, and the
	// scan's end treats them as Linux's overflow list.
	// +checklocks:mu
	scanning bool
	// avail mirrors "ready list non-empty or a scan in progress" for
	// lockless reads (EventsAvailable, with woken): every ep.mu section
	// that changes either ends with publishLocked.
	avail atomic.Bool

	// woken is where wakeup callbacks queue items, without a lock: the
	// tail of the ready list, drained into it by absorbLocked (woken.go).
	woken wokenList

	// waitMu guards waiters, the threads blocked in Wait (exclusive,
	// auto-removing entries; Linux's ep->wq): the wakeup callback wakes one
	// under it, and a thread registers under it and then looks for events.
	// sleeping mirrors !waiters.Empty() for the wakeup callback's lockless
	// look (publishWaitMuLocked keeps it).
	waitMu sync.Mutex
	// +checklocks:waitMu
	waiters  waiter.List
	sleeping atomic.Bool
	// pollers holds whoever polls the instance's own file (outer instances,
	// poll callers); it has its own lock, and is notified after waitMu is
	// released.
	pollers waiter.Queue

	// nested holds the items whose target is an epoll (nil until the
	// first).
	// +checklocks:domain.graphMu
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
	// (The trailing ignores silence the tool's guess that they need an
	// annotation: its guess misses one that names a path.)
	// +checklocks:domain.nestMu
	gen uint64 // +checklocksignore
	// +checklocks:domain.nestMu
	depth int // +checklocksignore
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
	ep.spare = nil
	ep.mu.Unlock()
	ep.pollers.Notify(waiter.EventIn) // lockless when nobody polls
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
	tx := ep.startScanLocked()
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
	ep.doneScanLocked(&tx, 0)
	return res
}

// startScanLocked hands the ready list, with the items woken so far, to
// the caller; items woken from now on wait on ep.woken until
// doneScanLocked (Linux's ep_start_scan).
//
// +checklocks:ep.mu
func (ep *EventPoll) startScanLocked() itemList {
	ep.absorbLocked(nil)
	tx := ep.ready
	ep.ready = itemList{}
	ep.scanning = true
	ep.publishLocked()
	return tx
}

// publishLocked updates the lockless mirror of whether events may be
// available.
//
// +checklocks:ep.mu
func (ep *EventPoll) publishLocked() {
	if a := !ep.ready.empty() || ep.scanning; a != ep.avail.Load() {
		ep.avail.Store(a)
	}
}

// publishWaitMuLocked updates the lockless mirror of whether a thread
// sleeps in Wait.
//
// +checklocks:ep.waitMu
func (ep *EventPoll) publishWaitMuLocked() {
	if s := !ep.waiters.Empty(); s != ep.sleeping.Load() {
		ep.sleeping.Store(s)
	}
}

// doneScanLocked commits the first delivered items of tx (see
// commitLocked), then rebuilds the ready list as: the scan's leftovers in
// order, then items woken during the scan (oldest first, unless already
// queued), then what the scan re-queued (level-triggered deliveries). If
// anything is ready and a thread waits, one is woken (Linux's
// ep_done_scan).
//
// +checklocks:ep.mu
func (ep *EventPoll) doneScanLocked(tx *itemList, delivered int) {
	ep.commitLocked(tx, delivered)
	requeued := ep.ready
	ep.ready = *tx
	*tx = itemList{}
	// Unless already queued: on the leftovers (now ep.ready) or on the
	// re-queued list.
	ep.absorbLocked(&requeued)
	ep.ready.appendList(&requeued)
	ep.scanning = false
	ep.publishLocked()
	if !ep.ready.empty() {
		ep.wakeOneSleeper()
	}
}

// wakeOneSleeper wakes one thread blocked in Wait, if there is one. The
// lockless look pairs with Wait, which registers before it looks for
// events: either the look sees the sleeper or the sleeper sees the events.
func (ep *EventPoll) wakeOneSleeper() {
	if !ep.sleeping.Load() {
		return
	}
	ep.waitMu.Lock()
	ep.waiters.Notify(waiter.EventIn)
	ep.publishWaitMuLocked()
	ep.waitMu.Unlock()
}

// EventsAvailable reports whether anything is queued or woken, or a harvest
// is in progress (Linux's ep_events_available): a hint that a harvest may
// find events, not a promise. It takes no lock, as in Linux: a wakeup that
// happened before the call is seen (it pushed on ep.woken), and Wait looks
// again after registering as a sleeper.
func (ep *EventPoll) EventsAvailable() bool { return ep.avail.Load() || !ep.woken.empty() }

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
// which its callback cannot run) and watch list, under one lock pair
// when the target's type allows (fs.File.RemoveWatch), out of the
// interest set and the ready list. ep.mu is held, and no scan can be
// in progress (scans hold ep.mu too).
//
// +checklocks:ep.mu
func (ep *EventPoll) removeLocked(it *item) {
	it.file.RemoveWatch(&it.watch)
	ep.interest.remove(it)
	if it.target() != nil {
		ep.domain.graphMu.Lock()
		delete(ep.nested, it)
		it.target().watchers.Add(-1)
		ep.domain.graphMu.Unlock()
	}
	// It was unhooked above, so no wakeup can push it any more; one that
	// did earlier left it on ep.woken, which is drained first.
	ep.absorbLocked(nil)
	if ep.queuedLocked(it) {
		ep.ready.remove(it)
		ep.publishLocked()
	}
	ep.domain.watches.Add(-1)
}

// keepSpareLocked keeps it, just removed, as the instance's spare for the
// next ADD (replacing an older one), dropping its target.
//
// +checklocks:ep.mu
func (ep *EventPoll) keepSpareLocked(it *item) {
	it.file = nil
	ep.spare = it
}

// newItemLocked returns an item for a new registration: the spare, if
// there is one, else a new item. A spare is off every list, out of the
// interest set and unhooked, so, like a new item, nothing else can see it
// until it is hooked: its fields are written plainly (events too, which
// the wakeup callback reads atomically once hooked; the queue's lock
// orders the two). Its ep is never rewritten, and its hook's waker only
// with the same value, after the removal that took the watch lock under
// which a racing release read it (item.FileReleased).
//
// +checklocks:ep.mu
func (ep *EventPoll) newItemLocked(id FileIdentifier, events waiter.EventMask, data uint64) *item {
	it := ep.spare
	if it == nil {
		it = &item{ep: ep}
	}
	ep.spare = nil
	it.file, it.fd, it.data = id.File, id.Fd, data
	it.events = events | waiter.EventErr | waiter.EventHUp
	it.watch.Hook.Init(it, events&waiter.EventExclusive != 0, false)
	return it
}

// HasWaiters reports whether a thread is blocked in Wait (for tests and
// diagnostics).
func (ep *EventPoll) HasWaiters() bool {
	ep.waitMu.Lock()
	defer ep.waitMu.Unlock()
	return !ep.waiters.Empty()
}
