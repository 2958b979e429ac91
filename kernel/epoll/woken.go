package epoll

import "sync/atomic"

// wokenList is the lock-free list that wakeup callbacks push items to, and
// that the holder of ep.mu drains into the ready list (absorbLocked). It
// is the tail of the ready list between harvests and the overflow list
// during one (Linux's ep->ovflist), so a wakeup never takes a lock to queue
// an item and a harvest finds it with one atomic operation.
//
// It is a stack (the newest item first, linked through wokenNext, the last
// pointing to itself); a drain reverses it, so items join the ready list
// in the order they were woken. Pushes only add at the head and a drain
// takes the whole list, so a concurrent pop, the source of the ABA problem
// of lock-free stacks, never happens.
type wokenList struct{ head atomic.Pointer[item] }

// push puts it on the list unless it is there already (a second wakeup of
// a queued item changes nothing, as in Linux). Pushes of one item are
// serialised by its target's queue lock, under which Wake runs; a drain
// that has taken it but not yet cleared its link counts as "there": the
// drain polls it after clearing the link, and the notifier changed the
// target's state before notifying.
func (w *wokenList) push(it *item) {
	if it.wokenNext.Load() != nil {
		return
	}
	for {
		old := w.head.Load()
		next := old
		if old == nil {
			next = it
		}
		it.wokenNext.Store(next)
		if w.head.CompareAndSwap(old, it) {
			return
		}
	}
}

// empty reports whether nothing was pushed since the last drain.
func (w *wokenList) empty() bool { return w.head.Load() == nil }

// absorbLocked moves the woken items onto the tail of ep.ready, oldest
// first, skipping those already queued there or on also (the re-queued
// list of a harvest ending; may be nil). Any holder of ep.mu may absorb
// at any time outside a scan: the woken list is the ready list's tail.
// It publishes the events-available mirror (the woken items move to where
// the mirror watches).
//
// +checklocks:ep.mu
func (ep *EventPoll) absorbLocked(also *itemList) {
	if ep.woken.empty() {
		return
	}
	it := ep.woken.head.Swap(nil)
	var fresh itemList // built oldest first from the newest-first stack
	for it != nil {
		next := it.wokenNext.Load()
		if next == it {
			next = nil
		}
		// Cleared before the item is polled (see push).
		it.wokenNext.Store(nil)
		if it.prev == nil && ep.ready.head != it && (also == nil || also.head != it) {
			fresh.pushFront(it)
		}
		it = next
	}
	ep.ready.appendList(&fresh)
	ep.publishLocked()
}
