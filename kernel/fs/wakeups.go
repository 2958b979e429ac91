package fs

import "github.com/guestpoll/guestpoll/kernel/waiter"

// wakeup is one notification an operation owes a queue, possibly repeated.
type wakeup struct {
	q     *waiter.Queue
	key   waiter.EventMask
	all   bool // NotifyAll (wake_up_all) rather than Notify (wake one exclusive)
	count int
}

// wakeups records, in order, the notifications an operation decided on while
// holding its state lock, so that they can be sent after the lock is
// released (package waiter's rule). It is a small fixed array meant to live
// on the caller's stack: recording and sending allocate nothing.
//
// Consecutive identical notifications are kept as one entry with a count,
// because Linux does send them one by one (a socket read that frees three
// skbs wakes the writer three times) and each one is a separate walk of the
// queue for edge-triggered and exclusive waiters.
type wakeups struct {
	list [4]wakeup
	n    int
}

// add records a wake-one notification (Notify) when all is false, a
// wake-all notification (NotifyAll) otherwise.
func (w *wakeups) add(q *waiter.Queue, key waiter.EventMask, all bool) {
	if w.n > 0 {
		last := &w.list[w.n-1]
		if last.q == q && last.key == key && last.all == all {
			last.count++
			return
		}
	}
	if w.n == len(w.list) {
		panic("fs: too many pending wakeups for one operation")
	}
	w.list[w.n] = wakeup{q: q, key: key, all: all, count: 1}
	w.n++
}

// run sends the recorded notifications in order. The caller must not hold
// any file state lock.
func (w *wakeups) run() {
	for i := 0; i < w.n; i++ {
		x := &w.list[i]
		for j := 0; j < x.count; j++ {
			if x.all {
				x.q.NotifyAll(x.key)
			} else {
				x.q.Notify(x.key)
			}
		}
	}
}
