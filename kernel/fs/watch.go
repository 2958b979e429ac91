package fs

import "github.com/guestpoll/guestpoll/kernel/waiter"

// Watch is an epoll registration's presence on the file it watches: its
// hook on the file's wait queue(s) (Linux's eppoll_entry) and its link on
// the file's watch list, so that the file's final release can remove the
// registration (Linux's epitem.fllink on file.f_ep). The registration does
// not hold a reference on the file.
//
// The hook's waker is the registration, and it is also the watch's owner:
// it must implement WatchOwner. One interface value serves both, which
// keeps the registration, embedded in every epoll item, in a smaller size
// class.
type Watch struct {
	// Hook is the entry on the file's wait queue(s). Init it, with a Waker
	// that implements WatchOwner, before AddWatch or HookWatch.
	Hook waiter.Entry

	next, prev *Watch // guarded by the watched file's watch lock
	linked     bool   // guarded by the watched file's watch lock
}

// Owner returns the registration that owns w (its hook's waker), or nil if
// the hook was not initialised with a WatchOwner.
func (w *Watch) Owner() WatchOwner {
	o, _ := w.Hook.Waker().(WatchOwner)
	return o
}

// WatchOwner is implemented by epoll registrations.
type WatchOwner interface {
	waiter.Waker
	// FileReleased removes the registration because the last reference
	// of f, the file it watched through w, is gone. It is called without
	// any of f's locks held and must call f.RemoveWatch(w) (directly or
	// through its own removal path), unless w has left f's list since the
	// release found it there: a concurrent removal got there first, and
	// the owner may already use w for another file (an epoll instance
	// reuses a deleted registration), which the call must leave alone.
	FileReleased(f *File, w *Watch)
	// WatcherFile is the epoll file that owns the registration (used to walk
	// watch graphs upwards for nested-epoll limits).
	WatcherFile() *File
}

// HookQueuer is implemented by a Pollable type that hooks every entry of a
// file on one wait queue for the file's whole life: its EventRegister and
// EventUnregister are that queue's Register and Unregister. The file's
// watch list is then guarded by that queue's lock, so that HookWatch and
// RemoveWatch (an epoll ADD and DEL) take one lock pair on the file
// instead of two. A CallerPollable type, whose queue depends on the
// caller, cannot be one.
type HookQueuer interface {
	Pollable
	HookQueue(f *File) *waiter.Queue
}

type watchList struct{ head, tail *Watch }

// checkNewWatch panics unless w can be added: an Owner, and on no list
// (the watch lock held).
//
// +checklocks:f.watchQ.mu
func (f *File) checkNewWatch(w *Watch) {
	switch {
	case w.Owner() == nil:
		panic("fs: File.AddWatch of a Watch without an Owner (its Hook's Waker must be a WatchOwner)")
	case w.linked:
		panic("fs: File.AddWatch of a Watch that is already on a watch list")
	}
}

// AddWatch links w into f's watch list, without hooking w.Hook, and
// reports true, or links nothing and reports false when f is already
// released: its final release has removed, or is removing, every watch,
// and would never see w (Linux's fdget fails for such a file, so epoll_ctl
// reports EBADF). w must have an Owner and be on no list; otherwise
// AddWatch panics. An epoll ADD that checks wakeup paths links the watch
// first (the check walks watch lists), and hooks after the check.
func (f *File) AddWatch(w *Watch) bool {
	f.watchQ.Lock()
	defer f.watchQ.Unlock() // a misuse panic leaves the lock free
	f.checkNewWatch(w)
	// The final DecRef makes refs 0 before releaseWatches takes the watch
	// lock, so under it either this sees the release or the release sees w.
	if f.Released() {
		return false
	}
	f.linkWatchLocked(w)
	return true
}

// HookWatch is AddWatch followed by hooking w.Hook on f's queue(s) on
// behalf of thread caller (EventRegisterFor), as one step: it reports
// false, with nothing linked or hooked, when f is already released. For a
// HookQueuer type both happen in one critical section of the queue's
// lock.
func (f *File) HookWatch(w *Watch, caller any) bool {
	if !f.hookOnWatchQ {
		if !f.AddWatch(w) {
			return false
		}
		f.EventRegisterFor(&w.Hook, caller)
		return true
	}
	f.watchQ.Lock()
	defer f.watchQ.Unlock()
	f.checkNewWatch(w)
	if f.Released() {
		return false
	}
	f.watchQ.RegisterLocked(&w.Hook)
	f.linkWatchLocked(w)
	return true
}

// linkWatchLocked appends w to the watch list.
//
// +checklocks:f.watchQ.mu
func (f *File) linkWatchLocked(w *Watch) {
	w.prev, w.next = f.watches.tail, nil
	if f.watches.tail != nil {
		f.watches.tail.next = w
	} else {
		f.watches.head = w
	}
	f.watches.tail = w
	w.linked = true
}

// RemoveWatch unhooks w.Hook from f's queue(s) (EventUnregister; nothing
// happens if it is not hooked) and unlinks w from f's watch list if it is
// there; after it returns, w's owner is not being woken and will not be.
// w must be on f's list or on none; a w at either end of another file's
// list panics (one in the middle of it cannot be told apart).
func (f *File) RemoveWatch(w *Watch) {
	if !f.hookOnWatchQ {
		if f.poll != nil {
			f.poll.EventUnregister(f, &w.Hook)
		}
		f.watchQ.Lock()
		defer f.watchQ.Unlock()
		f.unlinkWatchLocked(w)
		return
	}
	f.watchQ.Lock()
	defer f.watchQ.Unlock()
	f.unlinkWatchLocked(w) // first: a misuse panics with nothing unhooked
	f.watchQ.UnregisterLocked(&w.Hook)
}

// unlinkWatchLocked takes w off the watch list if it is on it, and panics
// if w is at either end of another file's list.
//
// +checklocks:f.watchQ.mu
func (f *File) unlinkWatchLocked(w *Watch) {
	if !w.linked {
		return
	}
	if w.prev == nil && f.watches.head != w || w.next == nil && f.watches.tail != w {
		panic("fs: File.RemoveWatch of a Watch that is on another file's watch list")
	}
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		f.watches.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		f.watches.tail = w.prev
	}
	w.next, w.prev, w.linked = nil, nil, false
}

// Watched reports whether any epoll registration watches f.
func (f *File) Watched() bool {
	f.watchQ.Lock()
	w := f.watches.head != nil
	f.watchQ.Unlock()
	return w
}

// ForEachWatch calls fn for each watch with f's watch lock held; fn must not
// add or remove watches of f, and must not take a lock that wakers take
// before f's queue's (the watch lock of a HookQueuer type is its queue's
// lock). It stops when fn returns false.
func (f *File) ForEachWatch(fn func(w *Watch) bool) {
	f.watchQ.Lock()
	defer f.watchQ.Unlock()
	for w := f.watches.head; w != nil; w = w.next {
		if !fn(w) {
			return
		}
	}
}

// releaseWatches removes every watch at final release. The owner is read
// under the watch lock: once the lock is dropped, a concurrent removal
// may hand w to another registration of its owner.
func (f *File) releaseWatches() {
	for {
		f.watchQ.Lock()
		w := f.watches.head
		var o WatchOwner
		if w != nil {
			o = w.Owner()
		}
		f.watchQ.Unlock()
		if w == nil {
			return
		}
		o.FileReleased(f, w)
		// FileReleased must have unlinked w; if a concurrent removal did it
		// first, the loop simply moves on to the next head.
	}
}
