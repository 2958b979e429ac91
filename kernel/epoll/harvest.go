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
// fewer events than offered, the rest go back to the head of the ready
// list untouched, and ReadEvents returns the count accepted so far with
// w's error only when that count is 0.
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
	tx := ep.startScan()
	// The first uncommitted items of tx are the ones delivered and not yet
	// consumed: with a committer, all of them until the end.
	delivered, pending, uncommitted := 0, 0, 0
	var err error
	for it := tx.head; it != nil && delivered+pending < max; {
		next := it.next
		mask := it.file.Readiness(it.events) & it.events
		if mask == 0 {
			tx.remove(it)
			it = next
			continue
		}
		buf[pending] = Event{Events: mask, Data: it.data}
		pending++
		it = next
		if pending == len(buf) && it != nil && delivered+pending < max {
			// A full chunk and more to walk: hand it over now.
			n, werr := ep.write(buf[:pending], w)
			delivered += n
			uncommitted += n
			if committer == nil {
				ep.readyMu.Lock()
				ep.commitLocked(&tx, uncommitted)
				ep.readyMu.Unlock()
				uncommitted = 0
			}
			pending = 0
			if n < len(buf) {
				err = werr
				break
			}
		}
	}
	if pending > 0 {
		n, werr := ep.write(buf[:pending], w)
		delivered += n
		uncommitted += n
		err = werr
	}
	if committer != nil && delivered > 0 {
		if cerr := committer.CommitEvents(delivered); cerr != nil {
			ep.doneScan(&tx, 0)
			return 0, cerr
		}
	}
	// The last items are committed together with the end of the scan,
	// under one acquisition of the ready-list lock.
	ep.doneScan(&tx, uncommitted)
	if delivered > 0 {
		return delivered, nil
	}
	return 0, err
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
// out (stale items were dropped as the walk met them): a ONESHOT item is
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
