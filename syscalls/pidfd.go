package syscalls

import (
	"fmt"
	"golang.org/x/sys/unix"
	"io"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// pidfd_open and the pidfd file type.

func init() { register(sysPidfdOpen, hPidfdOpen) }

// pidfdThread is PIDFD_THREAD (O_EXCL).
const pidfdThread = unix.O_EXCL

// hPidfdOpen is pidfd_open(pid, flags), in Linux's order: flags other than
// PIDFD_NONBLOCK and PIDFD_THREAD (EINVAL), pid ≤ 0 (EINVAL), no such
// process (ESRCH: a reaped one included; a zombie is found), a thread that
// is not a process's main thread without PIDFD_THREAD (ENOENT). The fd is
// close-on-exec, O_RDWR plus O_NONBLOCK if asked. A pidfd of a single
// thread (PIDFD_THREAD on a non-main thread) is not modelled: EINVAL.
func hPidfdOpen(t *Task, a *[6]uintptr) (uintptr, errno) {
	pid, flags := int32(a[0]), uint32(a[1])
	if flags&^(unix.O_NONBLOCK|pidfdThread) != 0 || pid <= 0 {
		return 0, unix.EINVAL
	}
	pt := &t.k.procs
	pt.mu.Lock()
	p := pt.procs[pid]
	_, isThread := pt.threads[pid]
	pt.mu.Unlock()
	switch {
	case p != nil:
	case !isThread:
		return 0, unix.ESRCH
	case flags&pidfdThread == 0:
		return 0, unix.ENOENT
	default:
		return 0, unix.EINVAL
	}
	f := fs.New(&pidFile{p: p}, unix.O_RDWR|flags&unix.O_NONBLOCK)
	return t.install(f, true)
}

// pidFile is a pidfd: it refers to a process, whatever becomes of it, and
// is readable once the process has exited (Linux's pidfd_poll): IN|RDNORM
// for a zombie, IN|RDNORM|HUP once reaped. Its queue (the process's
// exitQueue, pid->wait_pidfd) is notified with key 0 at exit and at
// reaping. Reads and writes are EINVAL (no read or write operation).
type pidFile struct{ p *Process }

// Process returns the process the pidfd refers to.
func (pf *pidFile) Process() *Process { return pf.p }

func (pf *pidFile) Read(*fs.File, []byte) (int, error)  { return 0, unix.EINVAL }
func (pf *pidFile) Write(*fs.File, []byte) (int, error) { return 0, unix.EINVAL }
func (pf *pidFile) Release(*fs.File)                    {}

// Readiness implements fs.Pollable.
func (pf *pidFile) Readiness(*fs.File, waiter.EventMask) waiter.EventMask {
	switch procState(pf.p.state.Load()) {
	case procZombie:
		return waiter.EventIn | waiter.EventRdNorm
	case procReaped:
		return waiter.EventIn | waiter.EventRdNorm | waiter.EventHUp
	}
	return 0
}

// EventRegister implements fs.Pollable.
func (pf *pidFile) EventRegister(_ *fs.File, e *waiter.Entry) { pf.p.exitQueue.Register(e) }

// EventUnregister implements fs.Pollable.
func (pf *pidFile) EventUnregister(_ *fs.File, e *waiter.Entry) { pf.p.exitQueue.Unregister(e) }

// WriteFDInfo implements fs.FDInfoWriter: the pid, -1 once reaped
// (pidfd_show_fdinfo).
func (pf *pidFile) WriteFDInfo(_ *fs.File, w io.Writer) {
	pid := pf.p.pid
	if procState(pf.p.state.Load()) == procReaped {
		pid = -1
	}
	fmt.Fprintf(w, "Pid:\t%d\nNSpid:\t%d\n", pid, pid)
}
