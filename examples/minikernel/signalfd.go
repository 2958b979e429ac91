package minikernel

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
	"github.com/guestpoll/guestpoll/syscalls"
)

// SiginfoSize is sizeof(struct signalfd_siginfo): a signalfd's read
// returns whole records of this size.
const SiginfoSize = 128

// Signalfd is a foreign file type: a signalfd, fed by the task signal
// hook of package syscalls. Interrupt notifies the task's signal queue
// whenever a signal becomes pending (Linux's signalfd_notify); the
// signalfd hooks an entry of its own there (Task.SignalRegister) that
// passes each wakeup on to the signalfd's queue, where epoll
// registrations and blocked reads wait. Its readiness is IN while a
// signal of its mask is pending (signalfd_poll); a read dequeues them
// (signalfd_read, Task.DequeueSignal), so the dequeued signals are never
// delivered to a handler.
//
// Why a queue of its own rather than the task's (which would do for a
// signalfd made once and never restored): a restored signalfd exists,
// with its registrations, before the tasks do, and is linked to its task
// only once they exist (RestoreContext.Defer); and signalfd4 on an
// existing signalfd wakes its waiters after changing the mask, which the
// task's queue cannot be made to do. The one difference from Linux, whose
// signalfds of one process share one queue: a signal wakes one
// EPOLLEXCLUSIVE registration per signalfd, not one in all.
//
// Its readiness is the calling task's (fs.CallerPollable), as Linux's;
// Read has no caller, so a Signalfd reads the signals of the task that
// created it (Linux's reads the caller's). Only ssi_signo is filled in:
// the model's signals carry no sender, code or value.
type Signalfd struct {
	task atomic.Pointer[syscalls.Task] // set once (at restore, by a deferred link)
	mask atomic.Uint64                 // bit sig-1; never SIGKILL or SIGSTOP

	q   waiter.Queue // epoll registrations and blocked reads
	fwd waiter.Entry // on the task's signal queue from link to Release
}

// unblockable are SIGKILL and SIGSTOP, which a signalfd never takes.
const unblockable = 1<<(unix.SIGKILL-1) | 1<<(unix.SIGSTOP-1)

// NewSignalfd returns a signalfd of task t for the signals in mask (bit
// sig-1), with one reference, owned by the caller. flags may hold
// O_NONBLOCK.
func NewSignalfd(t *syscalls.Task, mask uint64, flags uint32) *fs.File {
	s := newSignalfd(mask)
	s.link(t)
	return fs.New(s, unix.O_RDWR|flags&unix.O_NONBLOCK)
}

func newSignalfd(mask uint64) *Signalfd {
	s := &Signalfd{}
	s.mask.Store(mask &^ unblockable)
	s.fwd.Init(forwarder{s}, false, false)
	return s
}

// link binds the signalfd to its task and hooks the forwarding entry on
// the task's signal queue.
func (s *Signalfd) link(t *syscalls.Task) {
	s.task.Store(t)
	t.SignalRegister(&s.fwd)
}

// forwarder passes the task's signal-queue wakeups on to the signalfd's
// queue. It runs with the task's queue lock held and takes only the
// signalfd's (lock order: task signal queue > Signalfd.q).
type forwarder struct{ s *Signalfd }

func (w forwarder) Wake(key waiter.EventMask) bool {
	w.s.q.Notify(key)
	return false
}

// Mask returns the signals the signalfd takes.
func (s *Signalfd) Mask() uint64 { return s.mask.Load() }

// Read is signalfd_read: EINVAL for a buffer smaller than one record,
// then one record per pending signal of the mask that fits, lowest first;
// EAGAIN if none is pending (the syscall layer then blocks, on the
// task's signal queue, unless the file is non-blocking).
func (s *Signalfd) Read(_ *fs.File, dst []byte) (int, error) {
	if len(dst) < SiginfoSize {
		return 0, unix.EINVAL
	}
	t, n := s.task.Load(), 0
	for ; t != nil && len(dst)-n >= SiginfoSize; n += SiginfoSize {
		sig := t.DequeueSignal(s.mask.Load())
		if sig == 0 {
			break
		}
		rec := dst[n : n+SiginfoSize]
		clear(rec)
		binary.LittleEndian.PutUint32(rec, uint32(sig)) // ssi_signo
	}
	if n == 0 {
		return 0, unix.EAGAIN
	}
	return n, nil
}

// Write is never called: WriteUnsupported makes write EINVAL first, as
// for Linux's signalfd, which has no write operation.
func (s *Signalfd) Write(*fs.File, []byte) (int, error) { return 0, unix.EINVAL }

// WriteUnsupported implements fs.WriteUnsupported.
func (s *Signalfd) WriteUnsupported() {}

// Release unhooks the forwarding entry from the task's signal queue.
func (s *Signalfd) Release(*fs.File) {
	if t := s.task.Load(); t != nil {
		t.SignalUnregister(&s.fwd)
	}
}

// Readiness implements fs.Pollable: as the signalfd's own task sees it,
// for a caller the syscall layer does not name.
func (s *Signalfd) Readiness(f *fs.File, mask waiter.EventMask) waiter.EventMask {
	return s.CallerReadiness(f, mask, nil)
}

// CallerReadiness implements fs.CallerPollable: IN while a signal of the
// mask is pending for the calling task (its own or its process's), as
// signalfd_poll looks at current's; epoll passes the task that harvests
// or adds, poll the polling task.
func (s *Signalfd) CallerReadiness(_ *fs.File, _ waiter.EventMask, caller any) waiter.EventMask {
	t, ok := caller.(*syscalls.Task)
	if !ok {
		t = s.task.Load()
	}
	if t != nil && t.PendingSignals()&s.mask.Load() != 0 {
		return waiter.EventIn
	}
	return 0
}

// CallerEventRegister implements fs.CallerPollable: every caller waits on
// the signalfd's one queue (see the type's comment).
func (s *Signalfd) CallerEventRegister(_ *fs.File, e *waiter.Entry, _ any) { s.q.Register(e) }

// EventRegister and EventUnregister implement fs.Pollable.
func (s *Signalfd) EventRegister(_ *fs.File, e *waiter.Entry)   { s.q.Register(e) }
func (s *Signalfd) EventUnregister(_ *fs.File, e *waiter.Entry) { s.q.Unregister(e) }

// WriteFDInfo implements fs.FDInfoWriter: signalfd_show_fdinfo's line.
func (s *Signalfd) WriteFDInfo(_ *fs.File, w io.Writer) {
	fmt.Fprintf(w, "sigmask:\t%016x\n", s.mask.Load())
}

// signalfd4(fd, mask, sizemask, flags), checked in sys_signalfd4's and
// do_signalfd4's order, as Linux 6.18 answers: sizemask other than 8
// (EINVAL), the mask (EFAULT), flags other than SFD_NONBLOCK|SFD_CLOEXEC
// (EINVAL); then fd -1 makes a new signalfd, any other fd must be open
// (EBADF) and a signalfd (EINVAL), whose mask is replaced.
// Replacing the mask wakes the signalfd's waiters (key 0), as Linux's
// wake_up of the signalfd queue does.
func signalfd4(t *syscalls.Task, a [6]uintptr) (uintptr, unix.Errno) {
	if a[2] != 8 {
		return 0, unix.EINVAL
	}
	var b [8]byte
	if t.Memory().CopyIn(uint64(a[1]), b[:]) != nil {
		return 0, unix.EFAULT
	}
	mask := binary.LittleEndian.Uint64(b[:])
	flags := uint32(int32(a[3]))
	if flags&^(unix.SFD_CLOEXEC|unix.SFD_NONBLOCK) != 0 {
		return 0, unix.EINVAL
	}
	if fd := int32(a[0]); fd != -1 {
		f, err := t.FDTable().GetFile(fd)
		if err != nil {
			return 0, unix.EBADF
		}
		defer f.DecRef()
		s, ok := f.Impl().(*Signalfd)
		if !ok {
			return 0, unix.EINVAL
		}
		s.mask.Store(mask &^ unblockable)
		s.q.Notify(0)
		return uintptr(fd), 0
	}
	f := NewSignalfd(t, mask, flags&unix.SFD_NONBLOCK)
	fd, err := t.FDTable().Install(f, 0, flags&unix.SFD_CLOEXEC != 0)
	if err != nil {
		f.DecRef()
		return 0, err.(unix.Errno)
	}
	return uintptr(fd), 0
}
