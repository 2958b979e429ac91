package syscalls

import (
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// Processes: a Process is a thread group (its tasks, its fd table, its
// signal handlers' shared state), forked from a task of another process
// and reaped by wait4, as Linux's copy_process, do_exit and
// wait_task_zombie shape one.

// procState is where a process is in its life.
type procState uint32

const (
	procRunning procState = iota // has run or may run tasks
	procZombie                   // exited, not reaped: its pid and pidfds stay
	procReaped                   // reaped: its pid is gone (pidfd_open ESRCH)
	procExiting                  // Exit or Kill has begun: signals are discarded
)

// Process is a guest process: a thread group whose tasks share one fd
// table (until one unshares it), one address space and one set of signal
// handlers (a process-directed signal's pending set, the signalfd wait
// queue, the signals it ignores). Make one with Kernel.NewProcess, its
// threads with NewTask, a child with Task.Fork.
type Process struct {
	k      *Kernel
	pid    int32
	mem    Memory
	table  *fd.Table // the process's table: closed by Exit
	forked bool      // made by Fork: Exit closes table (else its maker does)

	// state is written under k.procs.mu and read without it (pidfd
	// readiness). parent, children and status are guarded by k.procs.mu.
	state    atomic.Uint32 // procState
	parent   *Process
	children []*Process
	status   uint32 // the wait status once a zombie

	// sigMu guards tasks and the thread choice of a process-directed
	// signal; shared (signals pending for the whole process, blocked by
	// every thread when they came) changes under it and is read without
	// it. Lock order: Kernel.procs.mu > Process.sigMu > Task.sigMu.
	sigMu sync.Mutex
	// +checklocks:sigMu
	tasks   []*Task // tasks[0] is the main thread while it runs
	shared  atomic.Uint64
	ignored atomic.Uint64 // signals the process ignores (SIG_IGN or by default)
	caught  atomic.Uint64 // signals the process has handlers for

	// sigQueue is the signal handlers' signalfd queue (Linux's
	// sighand->signalfd_wqh): notified when a signal becomes pending for
	// any of its tasks. exitQueue is the pidfd queue (pid->wait_pidfd),
	// notified at exit and at reaping; childQueue the wait4 sleepers'
	// (signal->wait_chldexit), notified when a child exits.
	sigQueue   waiter.Queue
	exitQueue  waiter.Queue
	childQueue waiter.Queue
}

// defaultIgnored is the signals whose default action is to ignore them:
// SIGCHLD, SIGURG and SIGWINCH.
const defaultIgnored = 1<<(unix.SIGCHLD-1) | 1<<(unix.SIGURG-1) | 1<<(unix.SIGWINCH-1)

// firstPid is the first pid a kernel hands out.
const firstPid = 100

// processTable is the kernel's pids: processes by pid, tasks by tid (one
// number space, as Linux's), and the processes NewTask made implicitly.
type processTable struct {
	mu sync.Mutex
	// +checklocks:mu
	nextPid int32
	// +checklocks:mu
	procs map[int32]*Process
	// +checklocks:mu
	threads map[int32]*Task
	// +checklocks:mu
	implicit map[*fd.Table]*Process
}

// initLocked makes the maps of a table not used yet.
//
// +checklocks:pt.mu
func (pt *processTable) initLocked() {
	if pt.procs == nil {
		pt.procs = map[int32]*Process{}
		pt.threads = map[int32]*Task{}
		pt.implicit = map[*fd.Table]*Process{}
		pt.nextPid = firstPid
	}
}

// allocPidLocked takes the next free pid.
//
// +checklocks:pt.mu
func (pt *processTable) allocPidLocked() int32 {
	pt.initLocked()
	for {
		pid := pt.nextPid
		pt.nextPid++
		if pt.nextPid <= 0 {
			pt.nextPid = firstPid
		}
		if pt.procs[pid] == nil && pt.threads[pid] == nil {
			return pid
		}
	}
}

// NewProcess returns a new process of k with no parent (as if its parent
// were init, which reaps it at exit) running on table and mem, which the
// caller made and keeps: Exit does not close table. It has no tasks yet
// (NewTask).
func (k *Kernel) NewProcess(table *fd.Table, mem Memory) *Process {
	k.procs.mu.Lock()
	defer k.procs.mu.Unlock()
	return k.newProcessLocked(table, mem)
}

// newProcessLocked makes a process and gives it a pid.
//
// +checklocks:k.procs.mu
func (k *Kernel) newProcessLocked(table *fd.Table, mem Memory) *Process {
	p := &Process{k: k, pid: k.procs.allocPidLocked(), mem: mem, table: table}
	p.ignored.Store(defaultIgnored)
	k.procs.procs[p.pid] = p
	return p
}

// ProcessByPid returns the process with pid, zombies included, or nil.
func (k *Kernel) ProcessByPid(pid int32) *Process {
	k.procs.mu.Lock()
	defer k.procs.mu.Unlock()
	return k.procs.procs[pid]
}

// implicitProcess is the process of tasks made by NewTask on table: one
// per table, so that the tasks of one table are threads of one process.
func (k *Kernel) implicitProcess(table *fd.Table, mem Memory) *Process {
	k.procs.mu.Lock()
	defer k.procs.mu.Unlock()
	if p := k.procs.implicit[table]; p != nil {
		return p
	}
	p := k.newProcessLocked(table, mem)
	k.procs.implicit[table] = p
	return p
}

// Pid returns the process's pid (its main thread's tid).
func (p *Process) Pid() int32 { return p.pid }

// Table returns the process's fd table (the one it was made or forked
// with).
func (p *Process) Table() *fd.Table { return p.table }

// Memory returns the process's address space.
func (p *Process) Memory() Memory { return p.mem }

// Parent returns the process's parent, or nil (made by NewProcess, or
// orphaned).
func (p *Process) Parent() *Process {
	p.k.procs.mu.Lock()
	defer p.k.procs.mu.Unlock()
	return p.parent
}

// Exited reports whether the process has begun to exit (it may be a
// zombie or reaped by now).
func (p *Process) Exited() bool { return procState(p.state.Load()) != procRunning }

// SetIgnoredSignals replaces the signals (bit sig-1) the process ignores,
// by SIG_IGN or by default, and returns the old set; a new process
// ignores SIGCHLD, SIGURG and SIGWINCH (their default action). A signal
// sent to an ignored signal is discarded unless the target thread blocks
// it, as Linux's sig_ignored decides: the embedder keeps this equal to its
// dispositions. A fork copies it.
func (p *Process) SetIgnoredSignals(mask uint64) uint64 { return p.ignored.Swap(mask) }

// IgnoredSignals returns the signals the process ignores.
func (p *Process) IgnoredSignals() uint64 { return p.ignored.Load() }

// SetCaughtSignals replaces the signals (bit sig-1) the process has
// handlers for and returns the old set; none for a new process, a fork
// copies it. A signal that is neither caught nor ignored has its default
// action: Signal and SendSignal (kill, tgkill) end the process with it
// (Kill) when it reaches a thread that does not block it, as Linux's
// complete_signal does for a fatal signal; a stop signal (SIGSTOP,
// SIGTSTP, SIGTTIN, SIGTTOU) and SIGCONT are not modelled and are made
// pending like a caught one. Interrupt applies no disposition, nor does
// delivery: a fatal signal that was blocked when it came and is unblocked
// later is delivered like a caught one (SignalsDelivered), for the
// embedder to act on (Kill).
func (p *Process) SetCaughtSignals(mask uint64) uint64 { return p.caught.Swap(mask) }

// notFatalByDefault is the signals whose default action stops or
// continues the process rather than terminating it (those ignored by
// default are in Process.ignored).
const notFatalByDefault = 1<<(unix.SIGSTOP-1) | 1<<(unix.SIGTSTP-1) | 1<<(unix.SIGTTIN-1) |
	1<<(unix.SIGTTOU-1) | 1<<(unix.SIGCONT-1)

// fatal reports whether sig, unblocked, would terminate the process.
func (p *Process) fatal(sig int) bool {
	bit := sigBit(sig)
	return sig == int(unix.SIGKILL) ||
		(p.caught.Load()|p.ignored.Load()|notFatalByDefault)&bit == 0
}

// NewTask returns a new thread of p using the process's fd table and
// address space. Call Task.Exit when it is done.
func (p *Process) NewTask(arch Arch) *Task {
	if p.Exited() {
		panic(fmt.Sprintf("syscalls: Process.NewTask on process %d, which has exited", p.pid))
	}
	return newTask(p, p.table, p.mem, arch)
}

// Tasks returns the process's running tasks, its main thread first.
func (p *Process) Tasks() []*Task {
	p.sigMu.Lock()
	defer p.sigMu.Unlock()
	return append([]*Task(nil), p.tasks...)
}

// addTask records t as a thread of p with thread id tid, or if tid is 0
// a fresh one (the pid for the first thread).
func (p *Process) addTask(t *Task, tid int32) {
	pt := &p.k.procs
	pt.mu.Lock()
	p.sigMu.Lock()
	switch {
	case tid != 0:
		t.tid = tid
	case len(p.tasks) == 0 && pt.threads[p.pid] == nil:
		t.tid = p.pid
	default:
		t.tid = pt.allocPidLocked()
	}
	pt.threads[t.tid] = t
	p.tasks = append(p.tasks, t)
	p.sigMu.Unlock()
	pt.mu.Unlock()
}

// removeTask forgets t; an implicit process goes with its last task.
func (p *Process) removeTask(t *Task) {
	pt := &p.k.procs
	pt.mu.Lock()
	p.sigMu.Lock()
	for i, x := range p.tasks {
		if x == t {
			p.tasks = append(p.tasks[:i], p.tasks[i+1:]...)
			break
		}
	}
	last := len(p.tasks) == 0
	p.sigMu.Unlock()
	delete(pt.threads, t.tid)
	if last && pt.implicit[p.table] == p {
		delete(pt.implicit, p.table)
		delete(pt.procs, p.pid)
		p.state.Store(uint32(procReaped))
	}
	pt.mu.Unlock()
}

// Process returns the task's process.
func (t *Task) Process() *Process { return t.proc }

// Tid returns the task's thread id.
func (t *Task) Tid() int32 { return t.tid }

// Fork makes a child of t's process, as fork(2) from t does, and returns
// the child's main task: the child's fd table is a copy of t's (every open
// file shared, epoll instances included, so a registration stays until the
// last reference of its file goes, in whichever process), its signal mask
// t's, its SA_RESTART set and ignored signals t's process's, its pending
// signals none; mem is its address space (the embedder copies it). Exit
// the child's tasks, then the child (Process.Exit); its parent reaps it
// with wait4.
func (t *Task) Fork(mem Memory) *Task {
	parent := t.proc
	k := t.k
	table := t.fds.Fork()
	pt := &k.procs
	pt.mu.Lock()
	if parent.Exited() {
		pt.mu.Unlock()
		panic(fmt.Sprintf("syscalls: Task.Fork from process %d, which has exited", parent.pid))
	}
	child := k.newProcessLocked(table, mem)
	child.forked = true
	child.parent = parent
	parent.children = append(parent.children, child)
	pt.mu.Unlock()
	child.ignored.Store(parent.ignored.Load())
	child.caught.Store(parent.caught.Load())
	ct := newTask(child, table, mem, t.arch)
	ct.saRestart.Store(t.saRestart.Load())
	ct.rlimits = t.rlimits
	ct.SetSignalMask(t.SignalMask())
	return ct
}

// Exit ends the process with exit code code (0..255), as exit_group does
// once its threads are gone: every task of the process must have exited
// (Task.Exit) before, else Exit panics. The process's fd table is closed
// (a forked process's; a NewProcess table is its maker's to close), then
// the process becomes a zombie: its pidfds report IN, its parent's wait4
// finds it and its parent gets SIGCHLD (discarded if the parent ignores it
// without blocking it). A process without a parent is reaped at once.
func (p *Process) Exit(code int) { p.exit(uint32(code&0xff) << 8) }

// ExitSignaled ends the process as killed by signal sig (its wait status
// says so), as Exit does otherwise.
func (p *Process) ExitSignaled(sig int) { p.exit(uint32(sig & 0x7f)) }

func (p *Process) exit(status uint32) {
	p.sigMu.Lock()
	running := len(p.tasks)
	p.sigMu.Unlock()
	if running != 0 {
		panic(fmt.Sprintf("syscalls: Process.Exit of process %d with %d tasks that have not exited", p.pid, running))
	}
	if !p.beginExit() {
		panic(fmt.Sprintf("syscalls: Process.Exit of process %d, which has already exited", p.pid))
	}
	p.finishExit(status)
}

// Kill ends the process as killed by sig (SIGKILL: kill and tgkill call
// it for that signal), whatever its tasks are doing: each task gets sig
// pending, which ends its sleep as a signal does, and the process exits
// as Exit does (its table closed, a zombie, its parent told). Its tasks
// stay the embedder's to stop: they must make no call after Kill but
// Task.Exit. A process that has exited already is left alone.
func (p *Process) Kill(sig int) {
	if !p.beginExit() {
		return
	}
	for _, t := range p.Tasks() {
		t.Interrupt(sig)
	}
	p.finishExit(uint32(sig & 0x7f))
}

// beginExit moves a running process to procExiting; false if it was not
// running.
func (p *Process) beginExit() bool {
	pt := &p.k.procs
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if procState(p.state.Load()) != procRunning {
		return false
	}
	p.state.Store(uint32(procExiting))
	return true
}

func (p *Process) finishExit(status uint32) {
	pt := &p.k.procs
	if p.forked {
		p.table.CloseAll() // exit_files, before the parent hears of it
	}
	pt.mu.Lock()
	p.state.Store(uint32(procZombie))
	p.status = status
	var reaped []*Process
	for _, c := range p.children {
		c.parent = nil
		if procState(c.state.Load()) == procZombie {
			reaped = append(reaped, c)
		}
	}
	p.children = nil
	parent := p.parent
	if parent == nil {
		reaped = append(reaped, p)
	}
	for _, r := range reaped {
		r.reapLocked() // +checklocksignore: one Kernel (r.k is p.k).
	}
	pt.mu.Unlock()
	p.exitQueue.NotifyAll(0) // do_notify_pidfd
	if parent != nil {
		parent.childQueue.NotifyAll(0)
		parent.Signal(int(unix.SIGCHLD))
	}
	for _, r := range reaped {
		r.reaped()
	}
}

// reapLocked makes a zombie reaped: its pid is free again; reaped() must
// follow once k.procs.mu is released.
//
// +checklocks:p.k.procs.mu
func (p *Process) reapLocked() {
	pt := &p.k.procs
	p.state.Store(uint32(procReaped))
	delete(pt.procs, p.pid)
	if par := p.parent; par != nil {
		for i, c := range par.children {
			if c == p {
				par.children = append(par.children[:i], par.children[i+1:]...)
				break
			}
		}
		p.parent = nil
	}
}

// reaped sends the wakeups of a reaping: the pidfds (now HUP too) and the
// signalfd queue of the freed signal handlers (Linux's signalfd_cleanup
// wakes it with POLLHUP|POLLFREE).
func (p *Process) reaped() {
	p.exitQueue.NotifyAll(0)
	p.sigQueue.NotifyAll(waiter.EventHUp)
}

// Reap reaps the process if it is a zombie, as its parent's wait4 would,
// and returns its wait status; ok is false if it has not exited or was
// already reaped. For an embedder cleaning up children nobody waited for.
func (p *Process) Reap() (status uint32, ok bool) {
	pt := &p.k.procs
	pt.mu.Lock()
	if procState(p.state.Load()) != procZombie {
		pt.mu.Unlock()
		return 0, false
	}
	status = p.status
	p.reapLocked()
	pt.mu.Unlock()
	p.reaped()
	return status, true
}
