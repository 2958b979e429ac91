package epoll

import (
	"sync/atomic"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// item is one registration (Linux's epitem). Its size is what a
// registration costs (it is the only thing ADD allocates, when the
// instance has no spare: EventPoll.spare), so it holds no
// flag that its links can tell: it is 128 bytes, the fields that harvests
// and wakeups touch first.
type item struct {
	ep   *EventPoll // immutable
	file *fs.File   // immutable; with fd, the key (FileIdentifier)
	fd   int32      // immutable

	// events is the stored interest (with ERR|HUP added, WAKEUP stripped;
	// only private bits once a ONESHOT entry fired) and data the user data.
	// Written with ep.mu held (events with setEvents, atomically), read
	// under it; the wakeup callback reads events without a lock
	// (loadEvents). Those are the only atomic accesses: the rest are
	// ordered by ep.mu, and a new item is initialised before anything
	// else can see it. (Not annotated: the tool would require atomic
	// accesses everywhere or reach ep.mu by the instance's path only.)
	// +checklocksignore: written under ep.mu atomically, read under it or atomically.
	events waiter.EventMask
	data   uint64

	// next and prev link the item into ep.ready, or, during a scan, into
	// the scan's private list; an item is on a list exactly when it has a
	// prev or is the list's head (see queuedLocked). Guarded by ep.mu: wakeups
	// never touch them (they push to ep.woken through wokenNext).
	next, prev *item

	// wokenNext links the item on ep.woken, the lock-free list wakeups push
	// to (woken.go); it is nil when the item is not on it, and the last
	// item points to itself. Set by the wakeup callback (which runs under
	// the target's queue lock, so two wakeups of one item never race) and
	// cleared by whoever drains the list (holding ep.mu); always accessed
	// atomically.
	wokenNext atomic.Pointer[item]

	// hnext chains the item in its bucket of ep.interest. Guarded by ep.mu.
	hnext *item

	// watch is the item's hook on the target's wait queue(s) (watch.Hook,
	// whose waker is the item; hooked while the item is in ep.interest)
	// and its link on the target file's watch list, so the file's final
	// release removes it.
	watch fs.Watch
}

// id returns the registration's key.
func (it *item) id() FileIdentifier { return FileIdentifier{File: it.file, Fd: it.fd} }

// target returns the watched instance when the target is an epoll file.
func (it *item) target() *EventPoll {
	t, _ := FromFile(it.file)
	return t
}

// queuedLocked reports whether it (one of ep's items) is on ep.ready,
// outside scans (when no other list exists).
//
// +checklocks:ep.mu
func (ep *EventPoll) queuedLocked(it *item) bool { return it.prev != nil || ep.ready.head == it }

// loadEvents reads events without a lock (the wakeup filter).
func (it *item) loadEvents() waiter.EventMask {
	return waiter.EventMask(atomic.LoadUint32((*uint32)(&it.events)))
}

// setEvents changes events; ep.mu held.
func (it *item) setEvents(ev waiter.EventMask) {
	atomic.StoreUint32((*uint32)(&it.events), uint32(ev))
}

// ignores reports whether a wakeup with key means nothing to an item whose
// interest is ev: a fired ONESHOT entry, or events nobody asked for.
func ignores(ev, key waiter.EventMask) bool {
	return ev&^waiter.PrivateBits == 0 || key != 0 && key&ev == 0
}

// Wake is the wakeup callback (Linux's ep_poll_callback). It runs with the
// target's queue lock held, never looks at the target's state, and only
// queues the item and wakes whoever waits on the instance. Queueing takes
// no lock: the item is pushed on ep.woken (Linux adds to the ready list,
// and to the overflow list during a harvest, with lockless list operations
// under the read side of ep->lock); only a sleeping thread costs the wait
// lock.
func (it *item) Wake(key waiter.EventMask) bool {
	// A wakeup the interest filters out (an eventfd read's OUT for an IN
	// registration, a fired ONESHOT entry) is ignored, and not counted as
	// taking an exclusive wakeup. A MOD racing with this load loses
	// nothing: it stores the new interest before it polls the target, and
	// the notifier changed the target's state before notifying, so either
	// this load sees the new interest or MOD's poll sees the new state. A
	// harvest disarming a ONESHOT entry concurrently may let one wakeup
	// through: the item is queued with no interest, and the next harvest
	// drops it unreported, as Linux's (which disarms without ep->lock).
	ev := it.loadEvents()
	if ignores(ev, key) {
		return ev&waiter.EventExclusive == 0
	}
	ep := it.ep
	ep.woken.push(it)
	take := ev&waiter.EventExclusive == 0
	if ep.sleeping.Load() {
		ep.waitMu.Lock()
		if !ep.waiters.Empty() {
			// One sleeper is woken under waitMu (it registered under it).
			ep.waiters.Notify(waiter.EventIn)
			if !take {
				// An exclusive hook takes the wakeup only when a thread is
				// there to consume it and the key is what the entry waits
				// for.
				switch key & (waiter.EventIn | waiter.EventOut) {
				case waiter.EventIn:
					take = ev&waiter.EventIn != 0
				case waiter.EventOut:
					take = ev&waiter.EventOut != 0
				case 0:
					take = true
				}
			}
		}
		ep.publishWaitMuLocked()
		ep.waitMu.Unlock()
	}
	ep.pollers.Notify(waiter.EventIn) // lockless when nobody polls
	return take
}

// FileReleased removes the item when its target f's last reference goes,
// unless a DEL or the instance's release got there first. A DEL may also
// have made the item the instance's spare and a later ADD reused it for
// another file: under ep.mu, it.file tells (an ADD of f itself fails once
// f's release has begun). it.ep is never rewritten, so reading it without
// the lock is safe whatever happened to the item.
func (it *item) FileReleased(f *fs.File, _ *fs.Watch) {
	ep := it.ep
	ep.mu.Lock()
	if it.file == f && ep.interest.find(it.file, it.fd) == it {
		ep.removeLocked(it)
		ep.keepSpareLocked(it)
	}
	ep.mu.Unlock()
}

// WatcherFile returns the epoll file that owns the item.
func (it *item) WatcherFile() *fs.File { return it.ep.file }

// itemList is an intrusive FIFO of items linked through next/prev.
type itemList struct{ head, tail *item }

func (l *itemList) empty() bool { return l.head == nil }

func (l *itemList) pushBack(it *item) {
	it.prev, it.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = it
	} else {
		l.head = it
	}
	l.tail = it
}

// pushFront links it at the head of l.
func (l *itemList) pushFront(it *item) {
	it.prev, it.next = nil, l.head
	if l.head != nil {
		l.head.prev = it
	} else {
		l.tail = it
	}
	l.head = it
}

func (l *itemList) remove(it *item) {
	if it.prev != nil {
		it.prev.next = it.next
	} else {
		l.head = it.next
	}
	if it.next != nil {
		it.next.prev = it.prev
	} else {
		l.tail = it.prev
	}
	it.next, it.prev = nil, nil
}

// appendList moves every item of o to the back of l.
func (l *itemList) appendList(o *itemList) {
	if o.head == nil {
		return
	}
	if l.tail == nil {
		*l = *o
	} else {
		l.tail.next = o.head
		o.head.prev = l.tail
		l.tail = o.tail
	}
	*o = itemList{}
}
