package fs

// Watch is the link an epoll registration keeps on the file it watches, so
// that the file's final release can remove the registration (Linux's
// epitem.fllink on file.f_ep). The registration does not hold a reference
// on the file.
type Watch struct {
	next, prev *Watch // guarded by the watched file's watchMu
	linked     bool   // guarded by the watched file's watchMu

	// Owner is told when the watched file is released. Set before AddWatch.
	Owner WatchOwner
}

// WatchOwner is implemented by epoll registrations.
type WatchOwner interface {
	// FileReleased removes the registration because its file's last
	// reference is gone. It is called without any of the file's locks held
	// and must call RemoveWatch (directly or through its own removal path).
	FileReleased(w *Watch)
	// WatcherFile is the epoll file that owns the registration (used to walk
	// watch graphs upwards for nested-epoll limits).
	WatcherFile() *File
}

type watchList struct{ head, tail *Watch }

// AddWatch links w into f's watch list and reports true, or links nothing
// and reports false when f is already released: its final release has
// removed, or is removing, every watch, and would never see w (Linux's
// fdget fails for such a file, so epoll_ctl reports EBADF). w must have an
// Owner and be on no list; otherwise AddWatch panics.
func (f *File) AddWatch(w *Watch) bool {
	if w.Owner == nil {
		panic("fs: File.AddWatch of a Watch without an Owner")
	}
	f.watchMu.Lock()
	if w.linked {
		f.watchMu.Unlock()
		panic("fs: File.AddWatch of a Watch that is already on a watch list")
	}
	// The final DecRef makes refs 0 before releaseWatches takes watchMu, so
	// under watchMu either this sees the release or the release sees w.
	if f.Released() {
		f.watchMu.Unlock()
		return false
	}
	w.prev, w.next = f.watches.tail, nil
	if f.watches.tail != nil {
		f.watches.tail.next = w
	} else {
		f.watches.head = w
	}
	f.watches.tail = w
	w.linked = true
	f.watchMu.Unlock()
	return true
}

// RemoveWatch unlinks w from f's watch list if it is there. w must be on
// f's list or on none; a w at either end of another file's list panics (one
// in the middle of it cannot be told apart).
func (f *File) RemoveWatch(w *Watch) {
	f.watchMu.Lock()
	if w.linked {
		if w.prev == nil && f.watches.head != w || w.next == nil && f.watches.tail != w {
			f.watchMu.Unlock()
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
	f.watchMu.Unlock()
}

// Watched reports whether any epoll registration watches f.
func (f *File) Watched() bool {
	f.watchMu.Lock()
	w := f.watches.head != nil
	f.watchMu.Unlock()
	return w
}

// ForEachWatch calls fn for each watch with f's watch lock held; fn must not
// add or remove watches of f. It stops when fn returns false.
func (f *File) ForEachWatch(fn func(w *Watch) bool) {
	f.watchMu.Lock()
	defer f.watchMu.Unlock()
	for w := f.watches.head; w != nil; w = w.next {
		if !fn(w) {
			return
		}
	}
}

// releaseWatches removes every watch at final release.
func (f *File) releaseWatches() {
	for {
		f.watchMu.Lock()
		w := f.watches.head
		f.watchMu.Unlock()
		if w == nil {
			return
		}
		w.Owner.FileReleased(w)
		// FileReleased must have unlinked w; if a concurrent removal did it
		// first, the loop simply moves on to the next head.
	}
}
