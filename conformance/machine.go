package conformance

import (
	"syscall"
	"time"
)

// ThreadID identifies one script thread within one run. The main script
// thread is MainThread; every start of a named thread (the first 'T &'
// after all earlier calls of T were joined) gets a new ID, and so does the
// helper thread the executor uses for cleanup when the main thread is stuck.
type ThreadID int

// MainThread runs the steps that are not 'T & CALL'.
const MainThread ThreadID = 0

// Machine is the seam between the shared executor and a backend. The
// executor turns every step into raw x86-64 Linux system calls and guest
// memory accesses; a Machine only has to execute those. Every backend
// therefore sees exactly the same calls with exactly the same arguments,
// and differs only in what executes them.
//
// Threads. The executor runs each script thread on a goroutine of its own.
// StartThread is the first thing that goroutine does and StopThread the
// last (unless the thread is stuck at the end of the run); in between it
// calls Syscall and Fdinfo for that thread only. A backend may pin the
// goroutine to an OS thread (linux) or bind it to a guest task (model).
//
// Concurrency. Methods may be called concurrently from the goroutines of
// different threads and from the executor's own goroutine; each backend
// makes them safe for that.
type Machine interface {
	// StartThread prepares thread t; called on t's goroutine before
	// anything else is done on it.
	StartThread(t ThreadID) error
	// StopThread releases thread t; called on t's goroutine after its last
	// call. The goroutine then exits.
	StopThread(t ThreadID)

	// Syscall executes system call nr (x86-64 numbering, as in
	// golang.org/x/sys/unix for GOARCH=amd64) with six raw arguments on
	// thread t, and returns the result register and the errno (0 on
	// success). It is called on t's goroutine and may block for as long
	// as the call blocks.
	Syscall(t ThreadID, nr uintptr, args [6]uintptr) (r uintptr, errno syscall.Errno)

	// Interrupt delivers SIGUSR1 to thread t, handled without SA_RESTART:
	// a call blocked in Syscall on t returns EINTR wherever Linux would.
	// It is called from another goroutine, only while t is running a call,
	// and never concurrently with t starting its next call. The backend
	// must make sure the signal never reaches a call that starts after
	// Interrupt returned (the linux backend flushes pending signals before
	// each call it makes after an interrupt).
	Interrupt(t ThreadID) error

	// Fdinfo returns the text of /proc/self/fdinfo/<fd> as read by thread
	// t (called on t's goroutine), or an errno (EBADF when fd is not
	// open). It must work even when RLIMIT_NOFILE's soft limit is 0.
	Fdinfo(t ThreadID, fd int32) (string, syscall.Errno)

	// Memory is the guest memory of the script's process: Alloc,
	// ReadMem, WriteMem and BadPtr (see Memory).
	Memory

	// Close releases the machine at the end of the run. It is not called
	// when a thread could not be joined (its call may still use memory).
	Close() error
}

// Checkpointer is implemented by a Machine that can save its whole state
// and continue from a restored copy (the model-cr backend). The executor
// calls Checkpoint before every step but the first when no thread has a
// call running or queued (threads whose calls finished and were not yet
// joined are idle), on the executor's goroutine; no other Machine method
// is called meanwhile except StopThread of a thread that is ending. A
// failed checkpoint aborts the run as a runner error.
type Checkpointer interface {
	Checkpoint() error
}

// Options tune the executor. The zero value means the contract's values.
type Options struct {
	// JoinTimeout bounds a join, and a main-thread call (default 30 s).
	JoinTimeout time.Duration `json:",omitempty"`
	// CleanupTimeout bounds the final join of running threads (default 5 s).
	CleanupTimeout time.Duration `json:",omitempty"`
}

func (o Options) joinTimeout() time.Duration {
	if o.JoinTimeout > 0 {
		return o.JoinTimeout
	}
	return 30 * time.Second
}

func (o Options) cleanupTimeout() time.Duration {
	if o.CleanupTimeout > 0 {
		return o.CleanupTimeout
	}
	return 5 * time.Second
}

// Trace is what one backend produced for one script.
type Trace struct {
	Backend string
	Path    string
	// Steps has one outcome per executed step, in script order. A trace
	// that stopped early (Abort set) has fewer steps than the script.
	Steps []Outcome
	// Abort is set when the backend could not go on or failed at the end
	// (thread timed out or could not be joined, runner error, child crash,
	// script error found while running). Printed as "!! REASON".
	Abort string `json:",omitempty"`
	// Unsupported names the operation of the step at which the backend
	// stopped because it does not implement it yet (Abort says so too);
	// the known-divergences list may excuse it ("step:OP" entries).
	Unsupported string `json:",omitempty"`
	// ScriptError is set when Abort is an error of the script itself
	// (found only while running, e.g. binding a name that is still open).
	ScriptError bool `json:",omitempty"`
	// Duration is the wall time of the run.
	Duration time.Duration
}

// Outcome is the result of one step on one backend.
type Outcome struct {
	Step   int // index in Script.Steps
	Result Result
	// FDs are the fd numbers a call returned, for reports only.
	FDs []int32 `json:",omitempty"`
	// Elapsed is how long the call took on its thread (calls and joins).
	Elapsed time.Duration `json:",omitempty"`
	// WithinFailed is set when the call has a 'within' bound and Elapsed
	// is outside it.
	WithinFailed bool `json:",omitempty"`
}

// Failed reports whether the trace ended abnormally.
func (t *Trace) Failed() bool { return t.Abort != "" }
