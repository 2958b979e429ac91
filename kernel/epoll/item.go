package epoll

import (
	"sync/atomic"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// item is one registration (Linux's epitem). Its size is what a
// registration costs (it is the only thing ADD allocates), so it holds no
// flag that its links can tell: it is 144 bytes, the fields that harvests
// and wakeups touch first.
type item struct {
	ep   *EventPoll // immutable
	file *fs.File   // immutable; with fd, the key (FileIdentifier)
	fd   int32      // immutable

	// events is the stored interest (with ERR|HUP added, WAKEUP stripped;
	// only private bits once a ONESHOT entry fired) and data the user data.
	// Written with both ep.mu and ep.readyMu held (events with
	// setEvents), read under either; the wakeup callback's filter also
	// reads events before it takes readyMu (loadEvents). Those are the only
	// atomic accesses: the rest are ordered by the locks, and a new item
	// is initialised before anything else can see it. The tool cannot check
	// a field read under either of two locks.
	// +checklocksignore: written under ep.mu and ep.readyMu, read under either or atomically.
	events waiter.EventMask
	data   uint64

	// next and prev link the item into ep.ready, or, during a scan, into
	// the scan's private list; an item is on a list exactly when it has a
	// prev or is the list's head (see queuedReadyMuLocked). Guarded by ep.readyMu
	// outside scans; during a scan the scanning thread (holding ep.mu) owns
	// the links of the items on its private list, and wakeups touch only
	// ovfNext.
	next, prev *item

	// ovfNext links the item on ep's overflow list (wakeups that arrive
	// during a scan); it is nil when the item is not on it, and the last
	// item points to itself. Guarded by ep.readyMu.
	ovfNext *item

	// hnext chains the item in its bucket of ep.interest. Guarded by ep.mu.
	hnext *item

	// hook is the entry on the target's wait queue(s); its waker is the
	// item. Registered while the item is in ep.interest.
	hook waiter.Entry
	// watch links the item on the target file's watch list so the file's
	// final release removes it.
	watch fs.Watch
}

// id returns the registration's key.
func (it *item) id() FileIdentifier { return FileIdentifier{File: it.file, Fd: it.fd} }

// target returns the watched instance when the target is an epoll file.
func (it *item) target() *EventPoll {
	t, _ := FromFile(it.file)
	return t
}

// queuedReadyMuLocked reports whether it (one of ep's items) is on
// ep.ready, outside scans (when no other list exists).
//
// +checklocks:ep.readyMu
func (ep *EventPoll) queuedReadyMuLocked(it *item) bool {
	return it.prev != nil || ep.ready.head == it
}

// loadEvents reads events without a lock (the wakeup filter).
func (it *item) loadEvents() waiter.EventMask {
	return waiter.EventMask(atomic.LoadUint32((*uint32)(&it.events)))
}

// setEvents changes events; ep.mu and ep.readyMu held (not annotated:
// the caller holds the locks of it.ep through another path to it).
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
// queues the item and wakes whoever waits on the instance.
func (it *item) Wake(key waiter.EventMask) bool {
	// A wakeup the interest filters out (an eventfd read's OUT for an IN
	// registration) is ignored without taking readyMu, and not counted as
	// taking an exclusive wakeup. The filter is checked again under the
	// lock, where a harvest disarming a ONESHOT item may have changed it.
	// A MOD racing with this lockless look loses nothing: it stores the
	// new interest before it polls the target, and the notifier changed the
	// target's state before notifying, so either this load sees the new
	// interest or MOD's poll sees the new state.
	if ev := it.loadEvents(); ignores(ev, key) {
		return ev&waiter.EventExclusive == 0
	}
	ep := it.ep
	ep.readyMu.Lock()
	ev := it.events
	if ignores(ev, key) {
		ep.readyMu.Unlock()
		return ev&waiter.EventExclusive == 0
	}
	if ep.scanning {
		if it.ovfNext == nil {
			it.ovfNext = it
			if ep.ovfTail != nil {
				ep.ovfTail.ovfNext = it
			} else {
				ep.ovfHead = it
			}
			ep.ovfTail = it
		}
	} else if !ep.queuedReadyMuLocked(it) {
		ep.ready.pushBack(it)
		ep.publishReadyMuLocked()
	}
	take := ev&waiter.EventExclusive == 0
	if !ep.waiters.Empty() {
		// One sleeper is woken under readyMu (it registered under it).
		ep.waiters.Notify(waiter.EventIn)
		if !take {
			// An exclusive hook takes the wakeup only when a thread is
			// there to consume it and the key is what the entry waits for.
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
	wakePollers := !ep.pollers.Empty()
	ep.readyMu.Unlock()

	if wakePollers {
		ep.pollers.Notify(waiter.EventIn)
	}
	return take
}

// FileReleased removes the item when its target's last reference goes
// (unless a DEL or the instance's release got there first).
func (it *item) FileReleased(*fs.Watch) {
	ep := it.ep
	ep.mu.Lock()
	if ep.interest.find(it.file, it.fd) == it {
		ep.removeLocked(it)
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
