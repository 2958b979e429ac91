package waiter

import (
	"sync"
	"sync/atomic"
)

// Waker is called when the queue an entry is on is notified. key is the
// event mask of the state change (0: all events). The result matters only
// for exclusive entries: true means the entry took the wakeup, which ends a
// wake-one walk.
type Waker interface {
	Wake(key EventMask) bool
}

// Entry is one registration on a Queue or a List. Its zero value is
// unusable; call Init. An Entry is owned by its registrant and lives as
// long as it does.
type Entry struct {
	// next and prev link the entry into its list; linked is 1 while it
	// is on it. Guarded by the list's lock. An entry does not record which
	// list it is on (it is embedded in every epoll registration, so every
	// word counts): callers always unregister from the list they
	// registered on. linked is also read without the lock by the entry's
	// owner (Unlinked): a wake-one walk that auto-removes the entry clears
	// it with an atomic store, after every other write to the entry; every
	// other write happens under the lock in the owner's own calls, so it is
	// ordered before the owner's lockless read anyway. (next and prev are
	// declared apart: checklocks matches a field's annotation by its
	// position in the declaration list, so two names on one line would
	// move linked's onto waker.)
	next  *Entry
	prev  *Entry
	waker Waker // immutable after Init
	// +checklocksignore: written under the list's lock, read under it or atomically by the owner.
	linked     uint32
	exclusive  bool // immutable after Init
	autoRemove bool // immutable after Init
}

// Init sets the entry's waker and kind. exclusive entries take part in
// wake-one walks; autoRemove entries are unlinked by the walk once their
// Wake returns true (Linux's autoremove_wake_function), which is how a
// sleeper learns it was woken rather than timed out. The entry must be on
// no list, and w must not be nil; otherwise Init panics.
func (e *Entry) Init(w Waker, exclusive, autoRemove bool) {
	switch {
	case e.linked != 0:
		panic("waiter: Entry.Init of an entry that is on a queue (Unregister it first)")
	case w == nil:
		panic("waiter: Entry.Init with a nil Waker")
	}
	e.waker = w
	e.exclusive = exclusive
	e.autoRemove = autoRemove
}

// Exclusive reports whether the entry takes part in wake-one walks.
func (e *Entry) Exclusive() bool { return e.exclusive }

// Unlinked reports, without the list's lock, whether e is on no list, as
// Linux's list_empty_careful lets a thread woken in ep_poll skip the wait
// queue's lock. Only e's owner may call it: the goroutine that registers
// and unregisters e, between those calls. True means a walk auto-removed e
// (Wake returned true) and is done with it, so the owner need not
// Unregister; false means e may still be linked, and the owner must
// Unregister it under the list's lock as usual.
func (e *Entry) Unlinked() bool { return atomic.LoadUint32(&e.linked) == 0 }

// Waker returns the entry's waker (nil before Init).
func (e *Entry) Waker() Waker { return e.waker }

// List is a wait list with no lock of its own: its owner guards every call
// with a lock it already holds on the paths that register and notify (an
// epoll instance guards its sleepers with its wait lock), and wakers
// run under that lock. The zero value is an empty list.
type List struct {
	// head and tail of a doubly linked list of entries: non-exclusive
	// entries first (newest first), exclusive entries after (oldest first).
	head, tail *Entry
}

// Register links e: at the head if it is non-exclusive, at the tail if it
// is exclusive. e must not be on any list.
func (l *List) Register(e *Entry) { l.linkAt(e, !e.exclusive) }

// RegisterHead links e at the head whatever its kind, as Linux's
// __add_wait_queue_exclusive does for threads blocked in epoll_wait: the
// most recent sleeper is the first woken.
func (l *List) RegisterHead(e *Entry) { l.linkAt(e, true) }

func (l *List) linkAt(e *Entry, atHead bool) {
	switch {
	case e.linked != 0:
		panic("waiter: entry registered twice (it is already on a queue)")
	case e.waker == nil:
		panic("waiter: Register of an entry that was never Init")
	}
	e.linked = 1
	if !atHead || l.head == nil {
		e.prev, e.next = l.tail, nil
		if l.tail != nil {
			l.tail.next = e
		} else {
			l.head = e
		}
		l.tail = e
		return
	}
	e.prev, e.next = nil, l.head
	l.head.prev = e
	l.head = e
}

func (l *List) unlink(e *Entry) {
	// An entry at either end of another list would corrupt this one; one
	// in the middle of another list is not detected (an entry does not
	// record its list).
	if e.prev == nil && l.head != e || e.next == nil && l.tail != e {
		panic("waiter: Unregister of an entry from a queue it is not on")
	}
	l.detach(e)
	e.linked = 0
}

// unlinkWoken is unlink for a walk that auto-removes a woken entry (which
// is on l by construction): the owner may be reading linked without the
// lock (Unlinked), so it is cleared atomically and last.
func (l *List) unlinkWoken(e *Entry) {
	l.detach(e)
	atomic.StoreUint32(&e.linked, 0)
}

// detach takes e out of l's links.
func (l *List) detach(e *Entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.next, e.prev = nil, nil
}

// Unregister unlinks e and reports whether it was still linked (an
// auto-remove entry that was woken has already been unlinked). e must be on
// l or on no list.
func (l *List) Unregister(e *Entry) bool {
	linked := e.linked != 0
	if linked {
		l.unlink(e)
	}
	return linked
}

// Empty reports whether nobody is registered.
func (l *List) Empty() bool { return l.head == nil }

// Notify is wake_up with one exclusive wakeup: every non-exclusive entry is
// called, then exclusive entries in order until one takes the wakeup.
func (l *List) Notify(key EventMask) { l.notify(key, 1) }

// NotifyAll calls every entry, exclusive or not.
func (l *List) NotifyAll(key EventMask) { l.notify(key, 0) }

func (l *List) notify(key EventMask, exclusiveBudget int) {
	for e := l.head; e != nil; {
		next := e.next
		taken := e.waker.Wake(key)
		if taken && e.autoRemove && e.linked != 0 {
			l.unlinkWoken(e)
		}
		if taken && e.exclusive && exclusiveBudget > 0 {
			exclusiveBudget--
			if exclusiveBudget == 0 {
				break
			}
		}
		e = next
	}
}

// Queue is a wait queue: a List with its own lock. The zero value is an
// empty queue.
type Queue struct {
	mu sync.Mutex
	// +checklocks:mu
	list List
	// active is true whenever the list is not empty, for notify's
	// lockless look (Linux's waitqueue_active), so that a Notify of an
	// empty queue takes no lock. It is written under mu only: set by a
	// registration that finds it false, cleared by a notify (or an Empty)
	// that finds the list empty, not by Unregister. A queue whose entries
	// come and go between notifications (an epoll ADD and DEL of a quiet
	// file) thus stores nothing; the first notify after the last entry
	// left pays one lock pair to clear it.
	active atomic.Bool
}

// Register links e into q: at the head if it is non-exclusive, at the tail
// if it is exclusive. e must not be on any queue.
func (q *Queue) Register(e *Entry) {
	q.mu.Lock()
	defer q.mu.Unlock() // a misuse panic leaves the queue usable
	q.list.Register(e)
	q.publishLocked()
}

// RegisterHead links e at the head of q whatever its kind (see
// List.RegisterHead).
func (q *Queue) RegisterHead(e *Entry) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.list.RegisterHead(e)
	q.publishLocked()
}

// publishLocked updates the lockless mirror of the list's emptiness. It
// stores only when the value changes: an atomic store is a full barrier.
//
// +checklocks:q.mu
func (q *Queue) publishLocked() {
	if a := !q.list.Empty(); a != q.active.Load() {
		q.active.Store(a)
	}
}

// Unregister unlinks e from q and reports whether it was still linked (an
// auto-remove entry that was woken has already been unlinked). After it
// returns, e's Wake is not running and will not be called by q. e must be
// on q or on no queue. It leaves the lockless mirror set (see active).
func (q *Queue) Unregister(e *Entry) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.list.Unregister(e)
}

// Lock takes q's lock, for an owner that guards more state with it (a
// file's watch list, fs.File) and changes that state in the same critical
// section as RegisterLocked or UnregisterLocked. Wakers run under this
// lock: the holder must not notify q or take a lock a waker takes before
// it.
//
// +checklocksacquire:q.mu
func (q *Queue) Lock() { q.mu.Lock() }

// Unlock releases the lock Lock took.
//
// +checklocksrelease:q.mu
func (q *Queue) Unlock() { q.mu.Unlock() }

// RegisterLocked is Register with q's lock held (Lock). A misuse panics
// with the lock still held: the caller's deferred Unlock releases it.
//
// +checklocks:q.mu
func (q *Queue) RegisterLocked(e *Entry) {
	q.list.Register(e)
	q.publishLocked()
}

// UnregisterLocked is Unregister with q's lock held (Lock).
//
// +checklocks:q.mu
func (q *Queue) UnregisterLocked(e *Entry) bool { return q.list.Unregister(e) }

// Linked reports whether e is on q (e must be on q or on no queue).
func (q *Queue) Linked(e *Entry) bool {
	q.mu.Lock()
	linked := e.linked != 0
	q.mu.Unlock()
	return linked
}

// Empty reports whether nobody is registered (Linux's !waitqueue_active).
// It takes no lock when the lockless mirror says so; the answer is then
// exact for a caller that holds a lock the registrants also hold while
// registering, and otherwise obeys the rule of Notify below. When the
// mirror is set, Empty looks at the list under the lock (clearing a mirror
// left set by Unregister). A caller about to Notify need not ask: Notify
// makes the same lockless look.
func (q *Queue) Empty() bool {
	if !q.active.Load() {
		return true
	}
	q.mu.Lock()
	empty := q.list.Empty()
	q.publishLocked()
	q.mu.Unlock()
	return empty
}

// Notify is wake_up with one exclusive wakeup: every non-exclusive entry is
// called, then exclusive entries in order until one takes the wakeup.
//
// An empty queue is not locked (the look is inlined into the caller). This
// loses no wakeup as long as every registrant re-checks the state it waits
// for after Register (which every caller does: epoll polls after hooking a
// file, a sleeper re-checks after registering) and every notifier changes
// the state before calling Notify: with sequentially consistent atomics,
// either the look sees the registration or the registrant's check sees
// the new state.
func (q *Queue) Notify(key EventMask) {
	if q.active.Load() {
		q.notify(key, 1)
	}
}

// NotifyAll calls every entry, exclusive or not (wake_up_all, key 0 style
// state changes such as a pipe losing its last writer). Like Notify, it
// does not lock an empty queue.
func (q *Queue) NotifyAll(key EventMask) {
	if q.active.Load() {
		q.notify(key, 0)
	}
}

// notify walks the queue for Notify and NotifyAll, whose lockless look
// found the mirror set.
func (q *Queue) notify(key EventMask, exclusiveBudget int) {
	q.mu.Lock()
	q.list.notify(key, exclusiveBudget)
	q.publishLocked() // clears a mirror left set by Unregister, too
	q.mu.Unlock()
}
