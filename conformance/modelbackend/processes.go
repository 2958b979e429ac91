package modelbackend

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/conformance"
	"github.com/guestpoll/guestpoll/syscalls"
)

// The script's child processes (conformance.ProcessMachine): each 'fork P'
// is a syscalls.Task.Fork of the forking thread's task, with an address
// space of its own.

// child is one forked process: the model's process and its memory.
type child struct {
	proc *syscalls.Process
	mem  *processMemory
}

// processMemory is a child's guest memory, allocated as the script's is.
type processMemory struct {
	mem *syscalls.GuestMemory
	mu  sync.Mutex
	// +checklocks:mu
	nextMem uint64
}

func newProcessMemory(mem *syscalls.GuestMemory) *processMemory {
	return &processMemory{mem: mem, nextMem: allocBase}
}

// Alloc implements conformance.Memory.
func (pm *processMemory) Alloc(size uint64) (uint64, error) {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	return allocIn(pm.mem, &pm.nextMem, size)
}

// ReadMem implements conformance.Memory.
func (pm *processMemory) ReadMem(addr uint64, b []byte) error { return pm.mem.CopyIn(addr, b) }

// WriteMem implements conformance.Memory.
func (pm *processMemory) WriteMem(addr uint64, b []byte) error { return pm.mem.CopyOut(addr, b) }

// BadPtr implements conformance.Memory.
func (pm *processMemory) BadPtr() uint64 { return badPtr }

// runnerIgnored is what the runner's processes ignore: the defaults, and
// SIGPIPE (the runner sets SIG_IGN).
func runnerIgnored(p *syscalls.Process) uint64 {
	return p.IgnoredSignals() | 1<<(unix.SIGPIPE-1)
}

// runnerCaught is the signals the runner's processes have handlers for:
// SIGUSR1 (the one 'interrupt' sends).
const runnerCaught = 1 << (unix.SIGUSR1 - 1)

// processOperations are the version 3 process and signal operations the
// model serves (ServesOperation, serves.go).
var processOperations = map[string]bool{
	"fork": true, "exit": true, "waitpid": true, "pidfd_open": true,
	"kill": true, "tkill": true, "sigmask": true, "signalfd": true, "signalfd_read": true,
}

// Fork implements conformance.ProcessMachine: thread from's task forks;
// the child's main task waits for StartThread(main).
func (m *Machine) Fork(parent conformance.ProcessID, from conformance.ThreadID, id conformance.ProcessID, main conformance.ThreadID) (int32, error) {
	if parent != conformance.MainProcess {
		return 0, fmt.Errorf("model: fork from process %d: only the script's process forks", parent)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	tk := m.tasks[from]
	if tk == nil {
		return 0, fmt.Errorf("model: fork from unknown thread %d", from)
	}
	if _, ok := m.children[id]; ok {
		return 0, fmt.Errorf("model: process %d forked twice", id)
	}
	mem := newProcessMemory(syscalls.NewGuestMemory())
	ct := tk.Fork(mem.mem)
	m.children[id] = &child{proc: ct.Process(), mem: mem}
	m.forkedTasks[main] = ct
	m.threadProc[main] = id
	return ct.Process().Pid(), nil
}

// Exit implements conformance.ProcessMachine: p's thread has stopped
// (StopThread ended its task); the process exits with status 0.
func (m *Machine) Exit(p conformance.ProcessID) error {
	m.mu.Lock()
	c := m.children[p]
	m.mu.Unlock()
	if c == nil {
		return fmt.Errorf("model: exit of unknown process %d", p)
	}
	if c.proc.Exited() {
		return fmt.Errorf("model: process %d exited twice", p)
	}
	if n := len(c.proc.Tasks()); n != 0 {
		return fmt.Errorf("model: exit of process %d with %d threads running", p, n)
	}
	c.proc.Exit(0)
	return nil
}

// Memory implements conformance.ProcessMachine.
func (m *Machine) Memory(p conformance.ProcessID) conformance.Memory {
	if p == conformance.MainProcess {
		return m
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.children[p]; c != nil {
		return c.mem
	}
	return nil
}

// Pid implements conformance.ProcessMachine.
func (m *Machine) Pid(p conformance.ProcessID) int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p == conformance.MainProcess {
		return m.proc.Pid()
	}
	if c := m.children[p]; c != nil {
		return c.proc.Pid()
	}
	return 0
}

// Tid implements conformance.ProcessMachine.
func (m *Machine) Tid(t conformance.ThreadID) (int32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if tk := m.tasks[t]; tk != nil {
		return tk.Tid(), nil
	}
	return 0, fmt.Errorf("model: no running thread %d", t)
}

// killChildren kills the children still running (a run that ended
// early), so that their tables are closed, and reaps every zombie.
func (m *Machine) killChildren() {
	m.mu.Lock()
	var procs []*syscalls.Process
	for _, c := range m.children {
		procs = append(procs, c.proc)
	}
	for t, tk := range m.forkedTasks {
		delete(m.forkedTasks, t)
		tk.Exit()
	}
	m.mu.Unlock()
	for _, p := range procs {
		p.Kill(int(unix.SIGKILL))
		p.Reap()
	}
}
