package epoll

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// ReadEvents harvests up to max events without blocking (Linux's
// ep_send_events). buf is the chunk in which events are gathered; each full
// chunk, and the last one, goes to w. With a nil w every event is accepted
// and max is capped at len(buf), so ReadEvents(dst, len(dst), nil) simply
// fills dst.
//
// Each queued item is polled again: one whose target is no longer ready (for
// the stored interest) is dropped silently; a ready one is reported with
// current readiness ∩ interest. After a successful copy a ONESHOT item is
// disarmed and a level-triggered one re-queued at the tail. If w accepts
// fewer events than offered, ReadEvents returns the count accepted so far
// (with w's error only when that count is 0) and leaves the ready list as
// Linux's walk, which polls and copies one item at a time, leaves it at the
// copy that faults: stale items in front of the first event not accepted
// are dropped, while that event's item and everything behind it, stale
// items included, keep their places untouched.
//
// If w is an EventCommitter, nothing is consumed before its CommitEvents
// accepts the whole harvest; a refusal puts every harvested event back and
// ReadEvents returns 0 with the refusal's error.
func (ep *EventPoll) ReadEvents(buf []Event, max int, w EventWriter) (int, error) {
	return ep.ReadEventsFor(nil, buf, max, w)
}

// ReadEventsFor is ReadEvents by thread caller: targets whose readiness
// depends on the caller (fs.CallerPollable) are polled as it sees them, as
// ep_send_events polls with current.
//
// It follows ep_send_events step by step (and runs over 80 lines for it):
// take the ready list, poll and copy item by item, put back what was not
// delivered, splice the overflow list, re-queue level-triggered items.
func (ep *EventPoll) ReadEventsFor(caller any, buf []Event, max int, w EventWriter) (int, error) {
	if w == nil && max > len(buf) {
		max = len(buf)
	}
	if max <= 0 || len(buf) == 0 {
		return 0, nil
	}
	// mu is released without defer (cheaper on this hot path): a panic in
	// a target's poll or in w would leave the scan unfinished anyway.
	ep.mu.Lock()
	committer, _ := w.(EventCommitter)
	tx := ep.startScanLocked()
	// The first uncommitted items of tx are the ones delivered and not yet
	// consumed: with a committer, all of them until the end. chunkHead is
	// the item of buf[0] while pending > 0, and held the stale items met
	// behind it (see heldChain).
	delivered, pending, uncommitted := 0, 0, 0
	var chunkHead *item
	var held heldChain
	var err error
	for it := tx.head; it != nil && delivered+pending < max; {
		next := it.next
		// Hand the chunk over when it is full, or before polling an epoll
		// target, which drops the target's own stale items: Linux would not
		// have polled it if a copy in front of it faults.
		if pending == len(buf) || pending > 0 && w != nil && it.target() != nil {
			n, werr := ep.write(buf[:pending], w)
			if held.head != nil {
				held.settle(&tx, chunkHead, n)
			}
			delivered += n
			uncommitted += n
			if committer == nil {
				ep.commitLocked(&tx, uncommitted)
				uncommitted = 0
			}
			if n < pending {
				err = werr
				pending = 0
				break
			}
			pending = 0
		}
		mask := it.file.ReadinessFor(it.events, caller) & it.events
		if mask == 0 {
			front := it.prev // the item of buf[pending-1] when pending > 0
			tx.remove(it)
			if pending > 0 && w != nil {
				held.push(it, front)
			}
			it = next
			continue
		}
		if pending == 0 {
			chunkHead = it
		}
		buf[pending] = Event{Events: mask, Data: it.data}
		pending++
		it = next
	}
	if pending > 0 {
		n, werr := ep.write(buf[:pending], w)
		if held.head != nil {
			held.settle(&tx, chunkHead, n)
		}
		delivered += n
		uncommitted += n
		err = werr
	}
	if committer != nil && delivered > 0 {
		if cerr := committer.CommitEvents(delivered); cerr != nil {
			// Refused: nothing is consumed.
			delivered, uncommitted, err = 0, 0, cerr
		}
	}
	// The last items are committed by the end of the scan.
	ep.doneScanLocked(&tx, uncommitted)
	ep.mu.Unlock()
	if delivered > 0 {
		return delivered, nil
	}
	return 0, err
}

// heldChain holds the stale items a harvest met behind an event not copied
// yet (Linux's ep_send_events copies each event before it polls the next
// item; the harvest gathers a chunk of events and copies them together).
// Such an item is unlinked from the scan's list but not dropped at once:
// if a copy in front of it faults, Linux would not have polled it, and it
// must keep its place. The chain links the items in walk order through
// next; each one's prev points at the item whose pending event was in
// front of it. An item held on the chain is on no list.
//
// (A stale item met with no event pending is dropped at once: every copy
// before it succeeded. With no writer there is no fault, and nothing is
// held.)
type heldChain struct{ head, tail *item }

// push holds it, met behind the pending event of front.
func (c *heldChain) push(it, front *item) {
	it.prev, it.next = front, nil
	if c.tail != nil {
		c.tail.next = it
	} else {
		c.head = it
	}
	c.tail = it
}

// settle decides the held items once the writer took the first n of the
// chunk's pending events, whose items follow first in tx without a gap
// (stale items among them are held). An item held behind pending event i
// was passed by Linux's walk when i < n (the fault, if any, came later),
// and is dropped; otherwise Linux stopped before it, and it goes back into
// tx right behind event i's item (behind the items held before it with the
// same front).
func (c *heldChain) settle(tx *itemList, first *item, n int) {
	h := c.head
	c.head, c.tail = nil, nil
	// front is the item of pending event slot; behind is what followed it
	// in tx before any held item went back behind it, and after is the
	// last item put back behind it (or front itself).
	front, slot := first, 0
	behind, after := front.next, front
	for h != nil {
		next, hfront := h.next, h.prev
		h.next, h.prev = nil, nil
		for front != hfront {
			front, slot = behind, slot+1
			behind, after = front.next, front
		}
		if slot >= n {
			tx.insertAfter(after, h)
			after = h
		}
		h = next
	}
}

// insertAfter links it into l right behind at, which is on l.
func (l *itemList) insertAfter(at, it *item) {
	it.prev, it.next = at, at.next
	if at.next != nil {
		at.next.prev = it
	} else {
		l.tail = it
	}
	at.next = it
}

// write hands evs to w and returns how many it accepted, with an error
// (EFAULT if w gave none) when that is fewer than len(evs).
func (ep *EventPoll) write(evs []Event, w EventWriter) (int, error) {
	if w == nil {
		return len(evs), nil
	}
	n, err := w.WriteEvents(evs)
	n = max(0, min(n, len(evs)))
	if n < len(evs) && err == nil {
		err = unix.EFAULT
	}
	return n, err
}

// commitLocked commits the first n items of tx, whose events were copied
// out (stale items among them are no longer on tx): a ONESHOT item is
// disarmed, a level-triggered one re-queued at the tail of the ready list,
// an edge-triggered one simply leaves.
//
// +checklocks:ep.mu
func (ep *EventPoll) commitLocked(tx *itemList, n int) {
	for i := 0; i < n; i++ {
		it := tx.head
		tx.remove(it)
		switch {
		case it.events&waiter.EventOneshot != 0:
			it.setEvents(it.events & waiter.PrivateBits)
		case it.events&waiter.EventET == 0:
			ep.ready.pushBack(it)
		}
	}
}

// Wait is epoll_wait's loop (Linux's ep_poll). b is also the caller of
// the harvests (ReadEventsFor). It harvests whenever events
// may be available and returns as soon as it delivered at least one; it
// returns 0 when nonblocking is set or the deadline has passed with nothing
// delivered, and EINTR when a signal is pending and nothing was delivered.
// A thread that was woken always harvests, even if its deadline passed at
// the same time, and a wakeup that finds only stale items puts the thread
// back to sleep until the same deadline: Wait never returns 0 early.
func (ep *EventPoll) Wait(b Blocker, buf []Event, max int, w EventWriter, deadline time.Time, nonblocking bool) (int, error) {
	timedOut := nonblocking
	eavail := ep.EventsAvailable()
	e := b.WaitEntry()
	for {
		if eavail {
			if n, err := ep.ReadEventsFor(b, buf, max, w); n != 0 || err != nil {
				return n, err
			}
		}
		if timedOut {
			return 0, nil
		}
		if b.SignalPending() {
			return 0, unix.EINTR
		}
		// Register, then look for events (a wakeup pushes, then looks
		// for sleepers: one of the two sees the other). Linux puts epoll
		// sleepers at the head: the last thread to block is the first
		// woken.
		ep.waitMu.Lock()
		ep.waiters.RegisterHead(e)
		ep.publishWaitMuLocked()
		eavail = ep.EventsAvailable()
		if eavail {
			ep.waiters.Unregister(e)
			ep.publishWaitMuLocked()
		}
		ep.waitMu.Unlock()
		if eavail {
			continue
		}
		timedOut = b.Sleep(deadline)
		// Woken threads were unlinked by the waker, which also refreshed
		// the sleeping mirror: as Linux's ep_poll, a thread that finds its
		// entry unlinked skips the wait lock. One that is still linked
		// timed out or was interrupted, and unregisters under the lock.
		stillLinked := false
		if !e.Unlinked() {
			ep.waitMu.Lock()
			stillLinked = ep.waiters.Unregister(e)
			ep.publishWaitMuLocked()
			ep.waitMu.Unlock()
		}
		eavail = !(timedOut && stillLinked)
	}
}
