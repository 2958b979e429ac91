package syscalls

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// signalfd, signalfd4 and the signalfd file type.

func init() {
	register(sysSignalfd, func(t *Task, a *[6]uintptr) (uintptr, errno) {
		return t.signalfd4(int32(a[0]), uint64(a[1]), a[2], 0)
	})
	register(sysSignalfd4, func(t *Task, a *[6]uintptr) (uintptr, errno) {
		return t.signalfd4(int32(a[0]), uint64(a[1]), a[2], uint32(a[3]))
	})
}

// signalfdInfoSize is sizeof(struct signalfd_siginfo).
const signalfdInfoSize = 128

// signalfd4 is signalfd4(ufd, mask, sizemask, flags), in Linux's order:
// sizemask other than 8 (EINVAL), the mask's copy-in (EFAULT), flags other
// than SFD_NONBLOCK and SFD_CLOEXEC (EINVAL); then ufd -1 makes a signalfd
// (O_RDWR, plus O_NONBLOCK if asked), any other ufd must be an open fd
// (EBADF) of a signalfd (EINVAL), whose mask is replaced (the calling
// thread's signalfd queue is woken, as do_signalfd4 does), and is
// returned. SIGKILL and SIGSTOP are never in a signalfd's mask.
func (t *Task) signalfd4(ufd int32, maskAddr uint64, size uintptr, flags uint32) (uintptr, errno) {
	if size != sigsetSize {
		return 0, unix.EINVAL
	}
	var b [8]byte
	if e := t.copyIn(maskAddr, b[:]); e != 0 {
		return 0, e
	}
	if flags&^(unix.SFD_NONBLOCK|unix.SFD_CLOEXEC) != 0 {
		return 0, unix.EINVAL
	}
	mask := binary.LittleEndian.Uint64(b[:]) &^ unblockable
	if ufd == -1 {
		f := fs.New(newSignalFile(mask, t, t.proc), unix.O_RDWR|flags&unix.SFD_NONBLOCK)
		return t.install(f, flags&unix.SFD_CLOEXEC != 0)
	}
	f, e := t.getFile(ufd)
	if e != 0 {
		return 0, e
	}
	defer f.DecRef()
	sf, ok := f.Impl().(*signalFile)
	if !ok {
		return 0, unix.EINVAL
	}
	sf.mask.Store(mask)
	t.proc.sigQueue.Notify(0)
	return uintptr(ufd), 0
}

// signalFile is a signalfd. As Linux's, it has no signals of its own: its
// readiness is the calling thread's pending signals (its own and its
// process's) in the fd's mask, IN when there is one (signalfd_poll), and
// its wait queue is the calling thread's process's signalfd queue, which
// every signal made pending there notifies (signalfd_notify). Whoever
// polls it, in whichever process, sees its own signals, and an epoll
// registration hooks the queue of the thread that added it. A read
// dequeues the reader's signals. With no calling thread (fs.File's own
// Readiness), the creating thread is the caller (if it has exited, the
// signals pending for its process are), and the hook is its process's.
//
// hooks records, for each hooked entry, the process whose queue holds it,
// so that EventUnregister unhooks it there (Linux's epoll keeps the queue
// in its poll entry). mu guards hooks and is a leaf but for the queue lock
// taken inside it.
type signalFile struct {
	creator *Task    // nil once restored after it exited
	owner   *Process // the creator's process
	mask    atomic.Uint64
	mu      sync.Mutex
	// +checklocks:mu
	hooks map[*waiter.Entry]*Process
}

func newSignalFile(mask uint64, creator *Task, owner *Process) *signalFile {
	sf := &signalFile{creator: creator, owner: owner, hooks: map[*waiter.Entry]*Process{}}
	sf.mask.Store(mask)
	return sf
}

// pending returns the signals pending for caller c (a *Task), or for the
// creator.
func (sf *signalFile) pending(c any) uint64 {
	if t, ok := c.(*Task); ok {
		return t.PendingSignals()
	}
	if sf.creator != nil {
		return sf.creator.PendingSignals()
	}
	return sf.owner.shared.Load()
}

// hookProcess returns the process whose queue a hook for caller c goes
// on: the caller's (a *Task, or a *Process when a checkpoint restores a
// hook), else the owner.
func (sf *signalFile) hookProcess(c any) *Process {
	switch c := c.(type) {
	case *Task:
		return c.proc
	case *Process:
		return c
	}
	return sf.owner
}

// Mask returns the signals the signalfd reports.
func (sf *signalFile) Mask() uint64 { return sf.mask.Load() }

func (sf *signalFile) Read(f *fs.File, dst []byte) (int, error) {
	if sf.creator == nil {
		return 0, unix.EAGAIN
	}
	return sf.read(sf.creator, dst)
}

// read dequeues signals of t into dst, 128 bytes each: EINVAL for less
// than 128 bytes, EAGAIN when none is pending (signalfd_read without
// blocking).
func (sf *signalFile) read(t *Task, dst []byte) (int, error) {
	if len(dst) < signalfdInfoSize {
		return 0, unix.EINVAL
	}
	n := 0
	for len(dst)-n >= signalfdInfoSize {
		sig := t.DequeueSignal(sf.mask.Load())
		if sig == 0 {
			break
		}
		fillSignalfdInfo(dst[n:n+signalfdInfoSize], sig)
		n += signalfdInfoSize
	}
	if n == 0 {
		return 0, unix.EAGAIN
	}
	return n, nil
}

// fillSignalfdInfo writes a signalfd_siginfo for sig. The model keeps no
// siginfo: only ssi_signo is set (ssi_code 0, SI_USER).
func fillSignalfdInfo(b []byte, sig int) {
	clear(b)
	binary.LittleEndian.PutUint32(b, uint32(sig))
}

func (sf *signalFile) Write(*fs.File, []byte) (int, error) { return 0, unix.EINVAL }
func (sf *signalFile) Release(*fs.File)                    {}

// Readiness implements fs.Pollable for the creating thread.
func (sf *signalFile) Readiness(f *fs.File, mask waiter.EventMask) waiter.EventMask {
	return sf.CallerReadiness(f, mask, nil)
}

// CallerReadiness implements fs.CallerPollable.
func (sf *signalFile) CallerReadiness(_ *fs.File, _ waiter.EventMask, c any) waiter.EventMask {
	if sf.pending(c)&sf.mask.Load() != 0 {
		return waiter.EventIn
	}
	return 0
}

// EventRegister implements fs.Pollable for the creating thread.
func (sf *signalFile) EventRegister(f *fs.File, e *waiter.Entry) { sf.CallerEventRegister(f, e, nil) }

// CallerEventRegister implements fs.CallerPollable: e hooks the caller's
// process's signalfd queue.
func (sf *signalFile) CallerEventRegister(_ *fs.File, e *waiter.Entry, c any) {
	p := sf.hookProcess(c)
	sf.mu.Lock()
	sf.hooks[e] = p
	p.sigQueue.Register(e)
	sf.mu.Unlock()
}

// EventUnregister implements fs.Pollable: e leaves the queue it hooked.
func (sf *signalFile) EventUnregister(_ *fs.File, e *waiter.Entry) {
	sf.mu.Lock()
	if p, ok := sf.hooks[e]; ok {
		delete(sf.hooks, e)
		p.sigQueue.Unregister(e)
	}
	sf.mu.Unlock()
}

// readSignalfd is read(2) of a signalfd by t: the first signal is waited
// for unless the file is O_NONBLOCK (interruptibly, ERESTARTSYS), the
// rest are taken while pending (signalfd_read). Signals are dequeued
// into the I/O buffer and copied out at the end; a fault loses them
// (EFAULT), as Linux's copy-out does.
func (t *Task) readSignalfd(f *fs.File, sf *signalFile) (int, errno) {
	want := min(t.seq.left, 64*signalfdInfoSize)
	want -= want % signalfdInfoSize
	if want == 0 {
		return 0, unix.EINVAL
	}
	t.growIOBuf(want)
	buf := t.ioBuf[:want]
	for {
		n, err := sf.read(t, buf)
		if err == nil {
			if c, _ := t.seq.CopyOut(buf[:n]); c < n {
				return 0, unix.EFAULT
			}
			return n, 0
		}
		if err != unix.EAGAIN || f.Nonblocking() {
			return 0, fileErrno(f, err)
		}
		w := Wait{Ready: func() bool { return t.PendingSignals()&sf.mask.Load() != 0 }, Interrupted: unix.EINTR}
		if e := t.Block(signalWait{t}, w); e != 0 {
			return 0, e
		}
	}
}

// signalWait is the Waitable of a blocked signalfd read: the reader's
// process's signalfd queue.
type signalWait struct{ t *Task }

func (s signalWait) Readiness(waiter.EventMask) waiter.EventMask { return 0 }
func (s signalWait) EventRegister(e *waiter.Entry)               { s.t.SignalRegister(e) }
func (s signalWait) EventUnregister(e *waiter.Entry)             { s.t.SignalUnregister(e) }

// WriteFDInfo implements fs.FDInfoWriter: the mask (signalfd_show_fdinfo).
func (sf *signalFile) WriteFDInfo(_ *fs.File, w io.Writer) {
	fmt.Fprintf(w, "sigmask:\t%016x\n", sf.mask.Load())
}
