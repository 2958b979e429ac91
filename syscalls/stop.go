package syscalls

import "golang.org/x/sys/unix"

// ErrRestart is what Syscall returns for a call that Stop ended before it
// did anything and that Linux would restart: ERESTARTSYS's number, which
// Linux never shows to user space either. The embedder must not pass it to
// the guest: it issues the same call again, with the same number and
// arguments, when the thread continues (on this kernel or on a restored
// one), as Linux re-executes the system call instruction.
const ErrRestart = unix.Errno(512)

// Stop asks the task to leave its system call, without a signal, as a
// thread stopped by SIGSTOP and later continued sees it (signal(7)):
//
//   - epoll_wait, epoll_pwait and epoll_pwait2 that are blocked return
//     EINTR, whatever their timeout (with pwait's temporary mask restored:
//     no handler runs);
//   - read, readv, write, writev, poll and ppoll that are blocked and have
//     transferred nothing return ErrRestart, for the embedder to issue
//     again: Linux restarts them transparently when no handler runs. A
//     re-issued poll or ppoll waits only the time its first call had left,
//     as in Linux: ppoll has written it back to its timespec, and the task
//     keeps poll's deadline for the same call issued next (Linux's restart
//     block; a checkpoint does not keep it);
//   - a blocking write that has transferred part of its bytes returns that
//     count, as Linux's does.
//
// (Checked on Linux 6.18 with SIGSTOP then SIGCONT and no handlers.) A
// signal delivered by the same call (Interrupt) makes it EINTR as usual.
//
// The stop lasts until Continue: while it does, a call that would block
// returns at once as above, so the embedder may call Stop before or during
// a call and still find the task between calls soon after; non-blocking
// calls run as usual. The stop is not part of a checkpoint: a restored
// task is not stopped. Safe to call from any goroutine.
func (t *Task) Stop() {
	t.sigMu.Lock()
	t.stopped = true
	t.signalsChangedLocked()
	t.sigMu.Unlock()
}

// Continue ends a Stop. Safe to call from any goroutine.
func (t *Task) Continue() {
	t.sigMu.Lock()
	t.stopped = false
	t.signalsChangedLocked()
	t.sigMu.Unlock()
}

// Stopped reports whether the task is stopped (Stop without Continue).
func (t *Task) Stopped() bool {
	t.sigMu.Lock()
	defer t.sigMu.Unlock()
	return t.stopped
}

// restartErrno is called when a syscall returns EINTR: if no signal was
// delivered during the call, the interruption was a Stop's, and a call
// that Linux restarts returns ErrRestart.
func (t *Task) restartErrno(nr uintptr) unix.Errno {
	if t.handled || !t.Stopped() {
		return unix.EINTR
	}
	switch t.table[nr] {
	case sysRead, sysReadv, sysWrite, sysWritev, sysPoll, sysPpoll:
		return ErrRestart
	}
	return unix.EINTR
}
