//go:build linux && amd64

package seccompbox

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// thread is the box's state for one guest thread: its pidfd (owned by the
// receiver), its trapped calls, and the worker goroutine that runs its
// blocking waits with the thread's own server.
type thread struct {
	tid   int32
	pidfd int
	// evicted: the pidfd was closed to make room for another thread's
	// (pidfdOpen, when the box is out of fds); it is opened again at the
	// thread's next call.
	evicted bool

	calls threadCalls

	// lastEp is the instance resolveEpfd last found at the thread's guest
	// fd lastEpfd, checked again at each use (a kcmp), without Box.mu.
	// Only the receiver uses them.
	lastEpfd int32
	lastEp   *instance

	// work is the worker's channel; made with the worker
	// (threadCalls.dispatch), closed when the thread is retired.
	work chan *call
	srv  server
}

// threadFor returns the state of guest thread tid, opening a pidfd for it
// the first time (or again, when the cached one names a thread that has
// exited and whose tid was reused).
func (b *Box) threadFor(n *notif) *thread {
	tid := int32(n.pid)
	b.mu.Lock()
	th := b.threads[tid]
	b.mu.Unlock()
	if th != nil && th.pidfd >= 0 {
		return th
	}
	pidfd, e := b.pidfdOpen(tid)
	if e != 0 {
		return nil
	}
	// The tid may have been reused between the notification and the open.
	if !notifIDValid(b.listener, n.id) {
		rawClose(int(pidfd))
		return nil
	}
	if th == nil {
		th = &thread{tid: tid}
		th.srv.mem = guestMem{pid: int(tid), listener: b.listener}
		b.mu.Lock()
		b.threads[tid] = th
		b.mu.Unlock()
	}
	th.pidfd, th.evicted = int(pidfd), false
	return th
}

// getfd duplicates guest fd n of th into the box; on ESRCH (the thread
// exited, or the pidfd names an older thread with this tid) the pidfd is
// reopened once.
func (b *Box) getfd(th *thread, n int32) (int, unix.Errno) {
	fd, e := pidfdGetfd(th.pidfd, n)
	if e == unix.ESRCH {
		rawClose(th.pidfd)
		pidfd, e2 := b.pidfdOpen(th.tid)
		if e2 != 0 {
			th.pidfd = -1
			return -1, e
		}
		th.pidfd = int(pidfd)
		fd, e = pidfdGetfd(th.pidfd, n)
	}
	if e == 0 && fd == b.slot {
		rawClose(fd) // out of fds: see claim
		fd, e = -1, unix.EMFILE
	}
	if (e == unix.EMFILE || e == unix.ENFILE) && b.evictPidfd(th.tid) {
		return b.getfd(th, n) // room made: once per pidfd the box holds
	}
	return fd, e
}

// pidfdOpen opens a pidfd for guest thread tid (claim). Out of fds (more
// new threads than reservedFds since registrations used up the rest), it
// closes another thread's pidfd to make room: pidfds are a cache, and a
// call is never continued to the host for want of one.
func (b *Box) pidfdOpen(tid int32) (int, unix.Errno) {
	for {
		pidfd, _, e := unix.RawSyscall(unix.SYS_PIDFD_OPEN, uintptr(tid), pidfdThread, 0)
		if e == 0 && int(pidfd) == b.slot {
			rawClose(int(pidfd))
			e = unix.EMFILE
		}
		if e == 0 {
			return int(pidfd), 0
		}
		if (e != unix.EMFILE && e != unix.ENFILE) || !b.evictPidfd(tid) {
			return -1, e
		}
	}
}

// evictPidfd closes the pidfd of a guest thread other than tid, and
// reports whether there was one.
func (b *Box) evictPidfd(tid int32) bool {
	for _, th := range b.threadList() {
		if th.tid != tid && th.pidfd >= 0 {
			rawClose(th.pidfd)
			th.pidfd, th.evicted = -1, true
			return true
		}
	}
	return false
}

// startWorker starts th's worker goroutine (threadCalls.dispatch runs it,
// with the thread's lock held) and returns its task.
func (b *Box) startWorker(th *thread) modelWait {
	th.work = make(chan *call, 1)
	th.srv.init(b, int(th.tid))
	b.workers.Add(1)
	go b.worker(th)
	return th.srv.task
}

// exited reports whether guest thread th has exited (its pidfd reports
// POLLIN), or its pidfd is gone.
func (th *thread) exited() bool {
	if th.pidfd < 0 {
		return !th.evicted || !taskExists(th.tid)
	}
	pfd := [1]unix.PollFd{{Fd: int32(th.pidfd), Events: unix.POLLIN}}
	var ts unix.Timespec
	n, _, e := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd[0])), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	return e == 0 && n != 0
}

// reapThreads forgets the guest threads that have exited, with their
// workers. It runs on the receiver, which owns the pidfds.
func (b *Box) reapThreads() {
	for _, th := range b.threadList() {
		if !th.exited() {
			continue
		}
		ok, hadWorker, create := th.calls.retire()
		if !ok {
			continue // a wait still in flight
		}
		if hadWorker {
			close(th.work)
		}
		if th.pidfd >= 0 {
			rawClose(th.pidfd)
			th.pidfd = -1
		}
		b.dropPending(create)
		b.mu.Lock()
		if b.threads[th.tid] == th {
			delete(b.threads, th.tid)
		}
		for k := range b.idCache {
			if k.tid == th.tid {
				delete(b.idCache, k)
			}
		}
		b.mu.Unlock()
	}
}

// threadList returns the known guest threads, for a walk without b.mu
// held.
func (b *Box) threadList() []*thread {
	b.mu.Lock()
	defer b.mu.Unlock()
	threads := make([]*thread, 0, len(b.threads))
	for _, th := range b.threads {
		threads = append(threads, th)
	}
	return threads
}

// taskExists reports whether a task with id tid exists (its /proc entry,
// looked up without an fd: the box may have none to spare). A reused tid
// looks alive, as it does to threadFor.
func taskExists(tid int32) bool {
	var path [32]byte
	p := appendInt(append(path[:0], "/proc/"...), int(tid))
	p = append(p, 0)
	_, _, e := unix.RawSyscall6(unix.SYS_FACCESSAT2, atFDCWD, uintptr(unsafe.Pointer(&p[0])), unix.F_OK, 0, 0, 0)
	return e != unix.ENOENT
}
