package fs

import (
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// Impl is what a file type provides to its open file description. Read and
// Write never block: they return unix.EAGAIN when they would, and the
// syscall layer decides whether to wait (by registering on the file's queue
// for the matching events) or to fail.
type Impl interface {
	// Read reads into dst. f carries the status flags (O_NONBLOCK only
	// matters to the syscall layer; O_DIRECT matters to pipes).
	Read(f *File, dst []byte) (int, error)
	// Write writes src.
	Write(f *File, src []byte) (int, error)
	// Release frees the file's resources when the last reference goes. It
	// may notify waiters (a pipe end losing its last reader wakes the other
	// side).
	Release(f *File)
}

// Pollable is implemented by file types that epoll may watch. A type that
// does not implement it (a regular file) makes epoll_ctl fail with EPERM.
type Pollable interface {
	// Readiness returns the file's current event mask. mask is the set of
	// events the caller is interested in; a few types compute some bits only
	// when asked (Linux's poll key), everything else ignores it. Readiness
	// takes the file's state lock and must never be called with a ready-list
	// or queue lock held.
	Readiness(f *File, mask waiter.EventMask) waiter.EventMask
	// EventRegister hooks e on the wait queue(s) whose wakeups describe this
	// file: a pipe's read end hooks the reader queue, its write end the
	// writer queue.
	EventRegister(f *File, e *waiter.Entry)
	// EventUnregister undoes EventRegister.
	EventUnregister(f *File, e *waiter.Entry)
}

// CallerPollable is implemented by a Pollable type whose readiness and
// wait queue depend on the thread that asks, as a signalfd's do: Linux's
// signalfd_poll reports the pending signals of current, and hooks the
// wait queue of current's signal handlers. caller is the asking thread as
// the syscall layer passes it (its task), or nil when no thread asks (the
// type then answers for a thread of its choosing, usually its creator's).
// Epoll passes the thread of the ADD or MOD to the registration and
// readiness check, the thread of epoll_wait to a harvest, and a poll or
// read its own thread. EventUnregister must unhook e from whichever queue
// CallerEventRegister hooked it on.
type CallerPollable interface {
	Pollable
	CallerReadiness(f *File, mask waiter.EventMask, caller any) waiter.EventMask
	CallerEventRegister(f *File, e *waiter.Entry, caller any)
}

// Status flags (the O_* values of Linux's F_GETFL).
const (
	AccessModeMask      = unix.O_ACCMODE
	StatusFlagsSettable = unix.O_NONBLOCK | unix.O_APPEND | unix.O_DIRECT
)

// File is an open file description: what one or more fds, in one or more fd
// tables, refer to. It is reference counted; the last DecRef removes it from
// every epoll instance watching it and then releases the implementation.
type File struct {
	refs  atomic.Int64
	flags atomic.Uint32 // access mode and status flags (O_*)
	impl  Impl
	// poll is impl's poll operations, or nil when it has none: asserted
	// once here rather than on every readiness check and (un)hook.
	poll Pollable
	// callerPoll is impl's CallerPollable, or nil (asserted once too).
	callerPoll CallerPollable

	// watchQ's lock guards watches (the file's watch lock). It is taken
	// inside an epoll instance's mutex and never the other way round.
	// watchQ is the one queue a HookQueuer type hooks entries on (then
	// hookOnWatchQ is set, and an epoll ADD or DEL hooks and links under
	// one lock), or ownWatchQ, a queue nobody hooks, used for its lock
	// only. Both immutable. (The trailing ignore silences the tool's guess
	// that watches needs an annotation: its guess misses one that names a
	// path.)
	watchQ       *waiter.Queue
	hookOnWatchQ bool
	ownWatchQ    waiter.Queue
	// +checklocks:watchQ.mu
	watches watchList // +checklocksignore
}

// New returns a File with one reference, owned by the caller. A nil impl
// panics.
func New(impl Impl, flags uint32) *File {
	if impl == nil {
		panic("fs: New with a nil Impl")
	}
	poll, _ := impl.(Pollable)
	callerPoll, _ := impl.(CallerPollable)
	f := &File{impl: impl, poll: poll, callerPoll: callerPoll}
	f.watchQ = &f.ownWatchQ
	if hq, ok := impl.(HookQueuer); ok && callerPoll == nil {
		f.watchQ, f.hookOnWatchQ = hq.HookQueue(f), true
		if f.watchQ == nil {
			panic("fs: New of a HookQueuer whose HookQueue is nil")
		}
	}
	f.flags.Store(flags)
	f.refs.Store(1)
	return f
}

// Impl returns the file type's implementation.
func (f *File) Impl() Impl { return f.impl }

// IncRef takes a reference. The caller must already hold one (directly or
// through an fd table whose lock it holds); IncRef of a released file
// panics, since the file's resources and registrations are already gone
// (it would otherwise be released a second time).
func (f *File) IncRef() {
	if f.refs.Add(1) <= 1 {
		f.refs.Add(-1) // leave it released for TryIncRef and Released
		panic("fs: File.IncRef on a released file (a DecRef too many, or a reference taken without holding one)")
	}
}

// TryIncRef takes a reference if the file has not been released yet.
func (f *File) TryIncRef() bool {
	for {
		n := f.refs.Load()
		if n <= 0 {
			return false
		}
		if f.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Refs returns the current reference count (for invariant checks).
func (f *File) Refs() int64 { return f.refs.Load() }

// DecRef drops a reference. The last one removes every watch (epoll
// registrations of this file) and then releases the implementation. It must
// not be called with an epoll instance's lock held. DecRef of a released
// file panics: the implementation is released exactly once.
func (f *File) DecRef() {
	switch n := f.refs.Add(-1); {
	case n > 0:
		return
	case n < 0:
		panic("fs: File.DecRef on a released file (a DecRef too many)")
	}
	f.releaseWatches()
	f.impl.Release(f)
}

// Released reports whether the last reference has gone.
func (f *File) Released() bool { return f.refs.Load() <= 0 }

// StatusFlags returns the access mode and status flags.
func (f *File) StatusFlags() uint32 { return f.flags.Load() }

// DirectIO is implemented by file types that may take O_DIRECT through
// F_SETFL (Linux's FMODE_CAN_ODIRECT). Of the model's types only pipes do;
// a type of another package answers per file.
type DirectIO interface {
	CanDirectIO(f *File) bool
}

// SetStatusFlags replaces the settable status flags (F_SETFL), keeping the
// access mode and anything not settable. O_DIRECT on a file whose type
// cannot do direct I/O is EINVAL, and nothing changes.
func (f *File) SetStatusFlags(flags uint32) error {
	if flags&unix.O_DIRECT != 0 {
		if d, ok := f.impl.(DirectIO); !ok || !d.CanDirectIO(f) {
			return unix.EINVAL
		}
	}
	for {
		old := f.flags.Load()
		nf := old&^StatusFlagsSettable | flags&StatusFlagsSettable
		if f.flags.CompareAndSwap(old, nf) {
			return nil
		}
	}
}

// Nonblocking reports whether O_NONBLOCK is set.
func (f *File) Nonblocking() bool { return f.flags.Load()&unix.O_NONBLOCK != 0 }

// Readable and Writable report the access mode.
func (f *File) Readable() bool { return f.flags.Load()&AccessModeMask != unix.O_WRONLY }
func (f *File) Writable() bool { return f.flags.Load()&AccessModeMask != unix.O_RDONLY }

// Pollable returns the file's poll operations, or nil when the file type has
// none (epoll_ctl then fails with EPERM).
func (f *File) Pollable() Pollable { return f.poll }

// Readiness returns the file's whole current event mask, as the type
// computes it for a caller interested in mask (the caller intersects it with
// its interest). A file that is not pollable or is already released reports
// 0.
func (f *File) Readiness(mask waiter.EventMask) waiter.EventMask {
	if f.poll == nil || f.Released() {
		return 0
	}
	return f.poll.Readiness(f, mask)
}

// ReadinessFor is Readiness as thread caller sees it (CallerPollable);
// for every other type it is Readiness.
func (f *File) ReadinessFor(mask waiter.EventMask, caller any) waiter.EventMask {
	if f.poll == nil || f.Released() {
		return 0
	}
	if f.callerPoll != nil {
		return f.callerPoll.CallerReadiness(f, mask, caller)
	}
	return f.poll.Readiness(f, mask)
}

// EventRegister hooks e on the file's wait queue(s). The file must be
// pollable: callers check Pollable first (epoll_ctl fails with EPERM), and
// a call on a file that is not panics.
func (f *File) EventRegister(e *waiter.Entry) { f.EventRegisterFor(e, nil) }

// EventRegisterFor is EventRegister on behalf of thread caller
// (CallerPollable).
func (f *File) EventRegisterFor(e *waiter.Entry, caller any) {
	if f.poll == nil {
		panic(notPollable("EventRegister"))
	}
	if f.callerPoll != nil {
		f.callerPoll.CallerEventRegister(f, e, caller)
		return
	}
	f.poll.EventRegister(f, e)
}

// EventUnregister unhooks e. Like EventRegister, it panics on a file that
// is not pollable.
func (f *File) EventUnregister(e *waiter.Entry) {
	if f.poll == nil {
		panic(notPollable("EventUnregister"))
	}
	f.poll.EventUnregister(f, e)
}

func notPollable(op string) string {
	return "fs: File." + op + " on a file whose type is not Pollable (check File.Pollable first; epoll_ctl gives EPERM)"
}

// Read and Write call the implementation after checking the access mode
// (EBADF, as Linux's vfs_read and vfs_write do). The caller holds a
// reference: on a released file they panic rather than reach an
// implementation whose resources are gone.
func (f *File) Read(dst []byte) (int, error) {
	if f.Released() {
		panic("fs: File.Read on a released file (the caller holds no reference)")
	}
	if !f.Readable() {
		return 0, unix.EBADF
	}
	return f.impl.Read(f, dst)
}

func (f *File) Write(src []byte) (int, error) {
	if f.Released() {
		panic("fs: File.Write on a released file (the caller holds no reference)")
	}
	if !f.Writable() {
		return 0, unix.EBADF
	}
	return f.impl.Write(f, src)
}
