package syscalls

// Stop asks the task to leave its system call, without a signal, as a
// thread stopped by SIGSTOP and later continued sees it (signal(7)):
//
//   - epoll_wait, epoll_pwait and epoll_pwait2 that are blocked return
//     EINTR, whatever their timeout (with pwait's temporary mask restored:
//     no handler runs);
//   - read, readv, write, writev, poll and ppoll that are blocked and have
//     transferred nothing return ErrRestart, for the embedder to issue
//     again: Linux restarts them transparently when no handler runs
//     (restart.go; an embedder's handler decides the same way through the
//     code it returns, Task.Block). A re-issued poll or ppoll waits only
//     the time its first call had left, as in Linux: ppoll has written it
//     back to its timespec, and the task keeps poll's deadline for the
//     same call issued next (Linux's restart block; a checkpoint does not
//     keep it);
//   - a blocking write that has transferred part of its bytes returns that
//     count, as Linux's does.
//
// (Checked on Linux 6.18 with SIGSTOP then SIGCONT and no handlers.) A
// signal delivered by the same call (Interrupt) decides instead, as usual
// (EINTR, or a restart for a read or write whose handler has SA_RESTART).
//
// While the task is stopped SignalPending reports true, so that every sleep
// ends and none starts: an embedder's handler that sleeps through
// Task.Block needs nothing more.
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
