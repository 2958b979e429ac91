package waiter

import "sync"

// Waker is called when the queue an entry is on is notified. key is the
// event mask of the state change (0: all events). The result matters only
// for exclusive entries: true means the entry took the wakeup, which ends a
// wake-one walk.
type Waker interface {
	Wake(key EventMask) bool
}

// Entry is one registration on a Queue. Its zero value is unusable; call
// Init. An Entry is owned by its registrant and lives as long as it does.
type Entry struct {
	// next and prev link the entry into q's list. Guarded by q.mu.
	next, prev *Entry
	// q is the queue the entry is on, nil when unlinked. Guarded by q.mu.
	q *Queue

	waker      Waker // immutable after Init
	exclusive  bool  // immutable after Init
	autoRemove bool  // immutable after Init
}

// Init sets the entry's waker and kind. exclusive entries take part in
// wake-one walks; autoRemove entries are unlinked by the walk once their
// Wake returns true (Linux's autoremove_wake_function), which is how a
// sleeper learns it was woken rather than timed out.
func (e *Entry) Init(w Waker, exclusive, autoRemove bool) {
	e.waker = w
	e.exclusive = exclusive
	e.autoRemove = autoRemove
}

// Exclusive reports whether the entry takes part in wake-one walks.
func (e *Entry) Exclusive() bool { return e.exclusive }

// Queue is a wait queue. The zero value is an empty queue.
type Queue struct {
	mu sync.Mutex
	// head and tail of a doubly linked list of entries: non-exclusive
	// entries first (newest first), exclusive entries after (oldest first).
	// Guarded by mu.
	head, tail *Entry
}

// Register links e into q: at the head if it is non-exclusive, at the tail
// if it is exclusive. e must not be on any queue.
func (q *Queue) Register(e *Entry) {
	q.mu.Lock()
	q.link(e)
	q.mu.Unlock()
}

// RegisterHead links e at the head of q whatever its kind, as Linux's
// __add_wait_queue_exclusive does for threads blocked in epoll_wait: the
// most recent sleeper is the first woken.
func (q *Queue) RegisterHead(e *Entry) {
	q.mu.Lock()
	q.linkAt(e, true)
	q.mu.Unlock()
}

func (q *Queue) link(e *Entry) { q.linkAt(e, !e.exclusive) }

func (q *Queue) linkAt(e *Entry, atHead bool) {
	if e.q != nil {
		panic("waiter: entry registered twice")
	}
	e.q = q
	if !atHead || q.head == nil {
		e.prev, e.next = q.tail, nil
		if q.tail != nil {
			q.tail.next = e
		} else {
			q.head = e
		}
		q.tail = e
		return
	}
	e.prev, e.next = nil, q.head
	q.head.prev = e
	q.head = e
}

func (q *Queue) unlink(e *Entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		q.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		q.tail = e.prev
	}
	e.next, e.prev, e.q = nil, nil, nil
}

// Unregister unlinks e from q and reports whether it was still linked (an
// auto-remove entry that was woken has already been unlinked). After it
// returns, e's Wake is not running and will not be called by q.
func (q *Queue) Unregister(e *Entry) bool {
	q.mu.Lock()
	linked := e.q == q
	if linked {
		q.unlink(e)
	}
	q.mu.Unlock()
	return linked
}

// Linked reports whether e is on q.
func (q *Queue) Linked(e *Entry) bool {
	q.mu.Lock()
	linked := e.q == q
	q.mu.Unlock()
	return linked
}

// Empty reports whether nobody is registered (Linux's !waitqueue_active).
func (q *Queue) Empty() bool {
	q.mu.Lock()
	empty := q.head == nil
	q.mu.Unlock()
	return empty
}

// Notify is wake_up with one exclusive wakeup: every non-exclusive entry is
// called, then exclusive entries in order until one takes the wakeup.
func (q *Queue) Notify(key EventMask) { q.notify(key, 1) }

// NotifyAll calls every entry, exclusive or not (wake_up_all, key 0 style
// state changes such as a pipe losing its last writer).
func (q *Queue) NotifyAll(key EventMask) { q.notify(key, 0) }

func (q *Queue) notify(key EventMask, exclusiveBudget int) {
	q.mu.Lock()
	for e := q.head; e != nil; {
		next := e.next
		taken := e.waker.Wake(key)
		if taken && e.autoRemove && e.q == q {
			q.unlink(e)
		}
		if taken && e.exclusive && exclusiveBudget > 0 {
			exclusiveBudget--
			if exclusiveBudget == 0 {
				break
			}
		}
		e = next
	}
	q.mu.Unlock()
}
