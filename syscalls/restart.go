package syscalls

import "golang.org/x/sys/unix"

// Linux's restart codes. A handler that a signal or a Stop interrupted
// returns one of them (or plain EINTR, which is never restarted), and
// Syscall settles it, as Linux's signal delivery does on the way back to
// user space, into one of two answers: ErrRestart (issue the same call
// again) or EINTR. Only ErrRestart ever leaves Syscall.
const (
	// ErrRestart is ERESTARTSYS: restart unless a handler without
	// SA_RESTART ran (SetRestartSignals). It is also what Syscall returns
	// for every call it decided to restart: the embedder must not pass it
	// to the guest, but issue the same call again, with the same number
	// and arguments, when the thread next runs (on this kernel or on a
	// restored one), as Linux re-executes the system call instruction.
	ErrRestart = unix.Errno(512)
	// ErrRestartNoIntr is ERESTARTNOINTR: always restart.
	ErrRestartNoIntr = unix.Errno(513)
	// ErrRestartNoHand is ERESTARTNOHAND: restart only if no handler ran
	// (ppoll and pselect, which write back their time left).
	ErrRestartNoHand = unix.Errno(514)
	// ErrRestartBlock is ERESTART_RESTARTBLOCK: as ErrRestartNoHand, and
	// the call issued again is told so (Task.Restarting) so that it can
	// resume instead of starting over, as Linux's restart_syscall runs the
	// interrupted call's restart block (poll keeps its first deadline).
	ErrRestartBlock = unix.Errno(516)
)

// isRestartCode reports whether e is one of the codes settleRestart turns
// into ErrRestart or EINTR.
func isRestartCode(e unix.Errno) bool {
	switch e {
	case ErrRestart, ErrRestartNoIntr, ErrRestartNoHand, ErrRestartBlock:
		return true
	}
	return false
}

// builtinRestartCode is the code Linux's own handler returns where the
// package's returns EINTR because its sleep was interrupted: pipe, eventfd,
// timerfd and socket reads and writes ERESTARTSYS, poll
// ERESTART_RESTARTBLOCK (do_restart_poll), ppoll ERESTARTNOHAND; the epoll
// waits return EINTR itself (ep_poll), which is never restarted.
func builtinRestartCode(id sysID) unix.Errno {
	switch id {
	case sysRead, sysReadv, sysWrite, sysWritev, sysWait4, sysSendto, sysRecvfrom,
		sysConnect, sysAccept, sysAccept4, sysOpenat:
		return ErrRestart
	case sysPoll:
		return ErrRestartBlock
	case sysPpoll:
		return ErrRestartNoHand
	}
	return unix.EINTR
}

// SetRestartSignals replaces the set of signals (bit sig-1) whose handlers
// the guest installed with SA_RESTART, and returns the old set. Dispositions
// belong to the embedder; it keeps this set equal to what sigaction says on
// every task of the guest process. Empty by default: every handler
// interrupts. It is not part of a checkpoint: the embedder sets it again
// on a restored task. Safe from any goroutine.
func (t *Task) SetRestartSignals(mask uint64) uint64 { return t.saRestart.Swap(mask) }

// RestartSignals returns the set SetRestartSignals installed.
func (t *Task) RestartSignals() uint64 { return t.saRestart.Load() }

// settleRestart is the restart decision of Linux's signal delivery
// (handle_signal when a handler runs, the no-handler path of
// arch_do_signal_or_restart otherwise) for a call that returned code: with
// no handler run during the call (a Stop ended it), every restart code
// restarts; otherwise the first signal delivered (the lowest number, which
// Linux dequeues first) decides: ERESTARTSYS restarts if its handler has
// SA_RESTART, ERESTARTNOINTR always, the others fail with EINTR (checked
// on Linux 6.18 with two signals pending at once: handlers_test.go).
func (t *Task) settleRestart(code unix.Errno) unix.Errno {
	if code == unix.EINTR {
		return unix.EINTR
	}
	delivered := t.callDelivered
	if delivered == 0 {
		return ErrRestart
	}
	first := delivered & -delivered
	switch {
	case code == ErrRestartNoIntr,
		code == ErrRestart && first&t.saRestart.Load() != 0:
		return ErrRestart
	}
	return unix.EINTR
}

// restartState is where the task stands with a call that ended with
// ErrRestartBlock and was restarted.
type restartState uint8

const (
	restartNone     restartState = iota
	restartRecorded              // the last call is to be issued again
	restartResuming              // the current call is that call issued again
)

// restartBlock is Linux's restart block, reduced to what identifies the
// call: a call whose number and arguments equal the recorded ones is its
// re-issue; any other call forgets it.
type restartBlock struct {
	nr    uintptr
	args  [6]uintptr
	state restartState
}

// begin is called when a call starts with a restart block in any state.
func (b *restartBlock) begin(nr uintptr, args *[6]uintptr) {
	if b.state == restartRecorded && nr == b.nr && *args == b.args {
		b.state = restartResuming
		return
	}
	b.state = restartNone
}

func (b *restartBlock) record(nr uintptr, args *[6]uintptr) {
	b.nr, b.args, b.state = nr, *args, restartRecorded
}

// Restarting reports, during a call, whether it is the re-issue of a call
// that returned ErrRestartBlock and that Syscall restarted (ErrRestart):
// its handler resumes where that call was interrupted (a timed wait keeps
// its first deadline, which the handler kept). A checkpoint does not keep
// this state: a restored task starts the call over.
func (t *Task) Restarting() bool { return t.restart.state == restartResuming }

// finishInterrupted settles an interrupted call's code and records the
// restart block of a restarted ErrRestartBlock call.
func (t *Task) finishInterrupted(nr uintptr, args *[6]uintptr, code unix.Errno) unix.Errno {
	e := t.settleRestart(code)
	if e == ErrRestart && code == ErrRestartBlock {
		t.restart.record(nr, args)
	}
	return e
}
