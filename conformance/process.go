package conformance

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"syscall"
	"time"
)

// ProcessID identifies one process of a run: MainProcess is the script's
// own, and each 'fork P' makes a new one.
type ProcessID int

// MainProcess is the script's process.
const MainProcess ProcessID = 0

// Memory is a process's guest memory: what the executor builds guest
// structures in. Every Machine is the memory of the script's process.
type Memory interface {
	// Alloc returns the guest address of size bytes of zero-filled,
	// readable and writable memory that stays valid until Close. Sizes up
	// to EventsBufferSize (about 2 GiB) are requested; memory must be
	// backed lazily, so that untouched pages cost nothing.
	Alloc(size uint64) (uint64, error)
	// ReadMem copies guest memory at addr into b.
	ReadMem(addr uint64, b []byte) error
	// WriteMem copies b into guest memory at addr.
	WriteMem(addr uint64, b []byte) error
	// BadPtr returns a guest address in user space below 0x7ffffffff000
	// that is not accessible: range checks pass, accesses fault (EFAULT).
	// At least one page from it is inaccessible.
	BadPtr() uint64
}

// ProcessMachine is implemented by a Machine that runs version 3's
// processes ('fork P', 'P & CALL', 'exit P', and the steps that name a
// process or a thread: waitpid, pidfd_open, kill, tkill). A Machine
// without it runs every other step; a script step that needs it ends that
// backend's trace with an "unsupported step" error naming the step.
//
// Threads of a child are ordinary ThreadIDs: the executor calls
// StartThread, Syscall, Fdinfo, Interrupt and StopThread for them as for
// the script's own threads, and the machine routes them to the process
// that Fork bound the thread to.
type ProcessMachine interface {
	Machine
	// Fork makes process child a fork of process parent (always
	// MainProcess): child gets a copy of parent's fd table (every open fd
	// at the same number, referring to the same open file, epoll instances
	// included, FD_CLOEXEC kept), the signal mask of parent's thread from
	// (the main thread; Fork is called on its goroutine, as its call) and
	// the runner's signal handlers (SIGUSR1 caught without SA_RESTART,
	// SIGPIPE ignored, SIGUSR2 and SIGCHLD default). child has one thread,
	// main, which the executor then starts with StartThread on a goroutine
	// of its own; nothing runs in child until then. The child's exit
	// signal is SIGCHLD to the parent. It returns child's pid as the
	// parent sees it.
	Fork(parent ProcessID, from ThreadID, child ProcessID, main ThreadID) (pid int32, err error)
	// Exit makes process p exit with status 0, as exit_group(0): its fd
	// table is closed. It is called after StopThread of p's thread, on the
	// goroutine of the script's main thread, and returns once p is a
	// zombie, so that a pidfd or waitpid sees the exit at once.
	Exit(p ProcessID) error
	// Memory returns process p's guest memory (the Machine itself for
	// MainProcess). The executor allocates the scratch memory of a
	// process's threads there.
	Memory(p ProcessID) Memory
	// Pid returns process p's pid as the script's process sees it.
	Pid(p ProcessID) int32
	// Tid returns the thread id (gettid) of a started thread t, for tgkill.
	Tid(t ThreadID) (int32, error)
}

// OperationServer is implemented by a Machine that serves some of the
// operations that format version 3 added. The executor runs a version 3
// operation only on a Machine that says it serves it; on any other it
// ends the trace with an "unsupported step" error naming the step (never a
// silent skip). Operations of earlier versions are always run.
type OperationServer interface {
	ServesOperation(op string) bool
}

// serves reports whether the machine runs operation o.
func (ex *executor) serves(o *operation) bool {
	if o == nil || o.version < 3 {
		return true
	}
	if o.needsProcesses {
		if _, ok := ex.m.(ProcessMachine); !ok {
			return false
		}
	}
	s, ok := ex.m.(OperationServer)
	return ok && s.ServesOperation(o.name)
}

// unsupported ends the run at step st, whose operation the machine does
// not serve.
func (ex *executor) unsupported(st *Step) {
	ex.tr.Unsupported = st.Call.Op
	ex.abort("unsupported step: %s:%d: this backend does not implement %q (format version 3) yet", ex.sc.Path, st.Line, st.Call.Op)
}

// processState is the life of a forked process, as the executor sees it.
type processState int

const (
	procRunning processState = iota // forked, its thread serving calls
	procExited                      // 'exit P' done; not yet reaped
	procReaped                      // a waitpid reaped it
)

// process is one forked process of a run.
type process struct {
	id    ProcessID
	name  string
	w     *worker // its main thread
	pid   int32
	state processState
}

// workerFor returns the worker that runs the calls of thread or process
// name, or nil.
func (ex *executor) workerFor(name string) *worker {
	if p := ex.procs[name]; p != nil && p.state == procRunning {
		return p.w
	}
	return ex.threads[name]
}

// memory returns the guest memory of process p.
func (ex *executor) memory(p ProcessID) Memory {
	if p == MainProcess {
		return ex.m
	}
	return ex.m.(ProcessMachine).Memory(p)
}

// killChildren kills (SIGKILL) and reaps, on cw, every forked process not
// reaped yet, at the end of a run.
func (ex *executor) killChildren(cw *worker) {
	var pids []int32
	for _, p := range ex.procList {
		if p.state != procReaped && p.pid > 0 {
			pids = append(pids, p.pid)
		}
	}
	if len(pids) == 0 || cw == nil {
		return
	}
	j := &job{step: -1, done: make(chan struct{}), run: func(w *worker) (Outcome, error) {
		for _, pid := range pids {
			w.sys(sysKill, uintptr(pid), sigKILL)
			if _, e := w.sys(sysWait4, uintptr(pid), 0, 0, 0); e != 0 && e != syscall.ECHILD {
				return Outcome{}, fmt.Errorf("reaping child %d: %v", pid, e)
			}
		}
		return Outcome{}, nil
	}}
	cw.enqueue(j)
	if !j.wait(ex.opts.cleanupTimeout()) {
		ex.abort("runner error: killing the forked processes at the end timed out")
	} else if j.err != nil {
		ex.abort("runner error: %v", j.err)
	}
	for _, p := range ex.procList {
		p.state = procReaped
		if p.w != nil {
			p.w.stop()
		}
	}
}

// stopProcessThread stops process p's thread before its exit, waiting a
// moment for its goroutine to end.
func stopProcessThread(p *process, d time.Duration) {
	p.w.stop()
	p.w.waitExit(d)
}

// runNonce returns a random word that makes a run's abstract socket
// addresses and FIFO directory private to it.
func runNonce() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Sprintf("%x", time.Now().UnixNano())
	}
	return hex.EncodeToString(b[:])
}
