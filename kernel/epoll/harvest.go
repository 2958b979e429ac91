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
	if w == nil && max > len(buf) {
		max = len(buf)
	}
	if max <= 0 || len(buf) == 0 {
		return 0, nil
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()

	committer, _ := w.(EventCommitter)
	s := sendScan{ep: ep, tx: ep.startScan(), buf: buf, w: w, commitEachChunk: committer == nil}
	s.run(max)
	if committer != nil && s.delivered > 0 {
		if cerr := committer.CommitEvents(s.delivered); cerr != nil {
			ep.doneScan(&s.tx, 0)
			return 0, cerr
		}
	}
	// The last items are committed together with the end of the scan,
	// under one acquisition of the ready-list lock.
	ep.doneScan(&s.tx, s.uncommitted)
	if s.delivered > 0 {
		return s.delivered, nil
	}
	return 0, s.err
}

// sendScan is one harvest's walk over its private copy of the ready list.
//
// Linux copies each event before it polls the next item; the walk instead
// gathers a chunk of events and copies them together, and still leaves
// what Linux leaves when a copy faults. Polling an ordinary target has no
// effect, so polling past the faulting item is harmless, with two
// exceptions that the walk takes care of:
//
//   - a stale item met behind a pending (not yet copied) event is not
//     dropped at once: it is unlinked from tx and held, in walk order, on
//     a chain through its next link, its prev link pointing at the pending
//     item in front of it. When the chunk is copied, held items in front of
//     the first event not accepted are dropped and the others are linked
//     back into tx where they were (settleHeld). A stale item met with
//     nothing pending is dropped at once: every copy before it succeeded.
//   - polling an epoll target drops the target's own stale items, so the
//     pending chunk is copied before such an item is polled, and the walk
//     stops there if that copy faults.
type sendScan struct {
	ep          *EventPoll
	tx          itemList
	buf         []Event
	w           EventWriter
	lastPending *item // the item behind buf[pending-1], while pending > 0
	// chunkHead is the item behind buf[0] while pending > 0. The items
	// behind buf[:pending] follow it in tx without a gap, since stale items
	// met among them are held off tx.
	chunkHead          *item
	heldHead, heldTail *item
	commitEachChunk    bool // no committer: consume each chunk once copied
	delivered, pending int
	uncommitted        int // the first uncommitted items of tx were delivered
	err                error
}

// run walks tx until max events are delivered, the list ends, or a copy
// faults.
func (s *sendScan) run(max int) {
	for it := s.tx.head; it != nil && s.delivered+s.pending < max; {
		next := it.next
		if s.pending == len(s.buf) || s.mayFault() && it.target() != nil {
			if !s.flush() {
				return
			}
			s.commitChunk()
		}
		mask := it.file.Readiness(it.events) & it.events
		if mask == 0 {
			s.tx.remove(it)
			if s.mayFault() {
				s.hold(it)
			}
			it = next
			continue
		}
		if s.pending == 0 {
			s.chunkHead = it
		}
		s.buf[s.pending] = Event{Events: mask, Data: it.data}
		s.pending++
		s.lastPending = it
		it = next
	}
	if s.pending > 0 {
		s.flush()
	}
}

// mayFault reports whether a copy that has not happened yet may still
// fault: events are pending and there is a writer (without one, buf is the
// destination and nothing faults).
func (s *sendScan) mayFault() bool { return s.pending > 0 && s.w != nil }

// flush hands the pending events to the writer and settles the stale items
// held behind them. It reports whether the writer took them all; if not,
// the harvest ends with the writer's error.
func (s *sendScan) flush() bool {
	n, err := s.ep.write(s.buf[:s.pending], s.w)
	s.settleHeld(n)
	s.delivered += n
	s.uncommitted += n
	full := n == s.pending
	s.pending = 0
	if !full {
		s.err = err
	}
	return full
}

// commitChunk consumes what was copied so far, unless a committer decides
// that at the end.
func (s *sendScan) commitChunk() {
	if !s.commitEachChunk {
		return
	}
	s.ep.readyMu.Lock()
	s.ep.commitLocked(&s.tx, s.uncommitted)
	s.ep.readyMu.Unlock()
	s.uncommitted = 0
}

// hold takes a stale item (already unlinked from tx) met behind the pending
// event of s.lastPending.
func (s *sendScan) hold(it *item) {
	it.prev, it.next = s.lastPending, nil
	if s.heldTail != nil {
		s.heldTail.next = it
	} else {
		s.heldHead = it
	}
	s.heldTail = it
}

// settleHeld decides the held stale items once the writer took the first
// n pending events. A held item behind pending event i was passed by
// Linux's walk when i < n (the fault, if any, came later), and is dropped;
// otherwise Linux stopped before it, and it goes back into tx right behind
// event i's item (behind the held items before it with the same anchor).
func (s *sendScan) settleHeld(n int) {
	h := s.heldHead
	if h == nil {
		return
	}
	s.heldHead, s.heldTail = nil, nil
	// anchor is the item of pending event slot; behind is what followed
	// it in tx before any held item went back behind it, and after is the
	// last item put back behind it (or anchor itself).
	anchor, slot := s.chunkHead, 0
	behind, after := anchor.next, anchor
	for h != nil {
		next, front := h.next, h.prev
		h.next, h.prev = nil, nil
		for anchor != front {
			anchor, slot = behind, slot+1
			behind, after = anchor.next, anchor
		}
		if slot >= n {
			s.tx.insertAfter(after, h)
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
// an edge-triggered one simply leaves. ep.readyMu must be held.
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

// Wait is epoll_wait's loop (Linux's ep_poll). It harvests whenever events
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
			if n, err := ep.ReadEvents(buf, max, w); n != 0 || err != nil {
				return n, err
			}
		}
		if timedOut {
			return 0, nil
		}
		if b.SignalPending() {
			return 0, unix.EINTR
		}
		ep.readyMu.Lock()
		eavail = !ep.ready.empty() || ep.scanning
		if !eavail {
			// Linux puts epoll sleepers at the head: the last thread to
			// block is the first woken.
			ep.waiters.RegisterHead(e)
		}
		ep.readyMu.Unlock()
		if eavail {
			continue
		}
		timedOut = b.Sleep(deadline)
		// Woken threads were unlinked by the waker; one that is still linked
		// timed out or was interrupted.
		ep.readyMu.Lock()
		stillLinked := ep.waiters.Unregister(e)
		ep.readyMu.Unlock()
		eavail = !(timedOut && stillLinked)
	}
}
