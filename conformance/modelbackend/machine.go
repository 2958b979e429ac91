package modelbackend

import (
	"fmt"
	"maps"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/conformance"
	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/syscalls"
)

func init() {
	conformance.Register(conformance.BackendSpec{
		Name:       "model",
		NewMachine: func() (conformance.Machine, error) { return New(), nil },
		Doc:        "the in-process kernel model, through the syscall layer",
	})
}

const (
	pageSize = 4096
	// allocBase is where Alloc starts handing out guest memory; each
	// allocation is followed by an unmapped guard page.
	allocBase = 0x10000000
	// badPtr is a user-space address that is never mapped.
	badPtr = 0x7ff000000000
)

// Machine is a conformance.Machine over one model kernel: the script's
// process (an fd table and an address space) whose threads are
// syscall-layer tasks, and the processes it forks (processes.go).
type Machine struct {
	kernel *syscalls.Kernel
	fds    *fd.Table
	mem    *syscalls.GuestMemory
	// +checklocks:mu
	proc *syscalls.Process // the script's process

	mu sync.Mutex
	// +checklocks:mu
	tasks map[conformance.ThreadID]*syscalls.Task
	// +checklocks:mu
	nextMem uint64
	// children are the forked processes, forkedTasks the main tasks Fork
	// made that StartThread has not taken yet, threadProc the process of
	// each child thread.
	// +checklocks:mu
	children map[conformance.ProcessID]*child
	// +checklocks:mu
	forkedTasks map[conformance.ThreadID]*syscalls.Task
	// +checklocks:mu
	threadProc map[conformance.ThreadID]conformance.ProcessID
}

// New returns a machine with a fresh kernel and an empty process.
func New() *Machine { return NewOnKernel(syscalls.NewKernel()) }

// NewOnKernel returns a machine with an empty process on kernel k, which
// the caller has set up (the hostfd backend gives it a FileCreator).
func NewOnKernel(k *syscalls.Kernel) *Machine {
	m := &Machine{
		kernel:      k,
		fds:         fd.NewTable(),
		mem:         syscalls.NewGuestMemory(),
		tasks:       map[conformance.ThreadID]*syscalls.Task{},
		nextMem:     allocBase,
		children:    map[conformance.ProcessID]*child{},
		forkedTasks: map[conformance.ThreadID]*syscalls.Task{},
		threadProc:  map[conformance.ThreadID]conformance.ProcessID{},
	}
	m.proc = k.NewProcess(m.fds, m.mem)
	m.proc.SetIgnoredSignals(runnerIgnored(m.proc))
	m.proc.SetCaughtSignals(runnerCaught)
	return m
}

// Process is what a machine runs: its kernel, the script's process (its
// fd table, address space and model process) with one task per running
// script thread (children's threads included), and the forked processes.
type Process struct {
	Kernel *syscalls.Kernel
	Table  *fd.Table
	Memory *syscalls.GuestMemory
	Tasks  map[conformance.ThreadID]*syscalls.Task
	// Main is the script's process. Children are the forked ones with
	// their address spaces (ChildMemories); ForkedTasks the main tasks of
	// children whose thread has not started yet.
	Main          *syscalls.Process
	Children      map[conformance.ProcessID]*syscalls.Process
	ChildMemories map[conformance.ProcessID]*syscalls.GuestMemory
	ForkedTasks   map[conformance.ThreadID]*syscalls.Task
}

// ReplaceProcess calls replace with what the machine runs and, unless it
// fails, makes the machine run what it returns instead (the model-cr
// backend's restored copy), which must have a task for exactly the same
// threads and the same children. The machine's lock is held throughout,
// so no thread starts or stops meanwhile; replace must not call the
// machine. The caller disposes of the old one. Only while no system call
// is in progress.
func (m *Machine) ReplaceProcess(replace func(old Process) (Process, error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := Process{
		Kernel: m.kernel, Table: m.fds, Memory: m.mem, Tasks: maps.Clone(m.tasks), Main: m.proc,
		Children:      map[conformance.ProcessID]*syscalls.Process{},
		ChildMemories: map[conformance.ProcessID]*syscalls.GuestMemory{},
		ForkedTasks:   maps.Clone(m.forkedTasks),
	}
	for id, c := range m.children {
		old.Children[id] = c.proc
		old.ChildMemories[id] = c.mem.mem
	}
	p, err := replace(old)
	if err != nil {
		return err
	}
	if err := sameShape(&old, &p); err != nil {
		return err
	}
	m.kernel, m.fds, m.mem, m.tasks, m.proc = p.Kernel, p.Table, p.Memory, maps.Clone(p.Tasks), p.Main
	m.forkedTasks = maps.Clone(p.ForkedTasks)
	for id, c := range m.children {
		c.proc = p.Children[id]
		c.mem.mu.Lock()
		c.mem.mem = p.ChildMemories[id]
		c.mem.mu.Unlock()
	}
	return nil
}

// sameShape checks that p has what old has: the same threads, forked
// tasks and children.
func sameShape(old, p *Process) error {
	if p.Main == nil {
		return fmt.Errorf("model: no main process")
	}
	for _, pair := range [][2]map[conformance.ThreadID]*syscalls.Task{{old.Tasks, p.Tasks}, {old.ForkedTasks, p.ForkedTasks}} {
		if len(pair[1]) != len(pair[0]) {
			return fmt.Errorf("model: %d tasks for %d threads", len(pair[1]), len(pair[0]))
		}
		for id := range pair[0] {
			if pair[1][id] == nil {
				return fmt.Errorf("model: no task for thread %d", id)
			}
		}
	}
	for id := range old.Children {
		if p.Children[id] == nil || p.ChildMemories[id] == nil {
			return fmt.Errorf("model: no process or memory for child %d", id)
		}
	}
	return nil
}

func (m *Machine) task(t conformance.ThreadID) *syscalls.Task {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tasks[t]
}

// StartThread creates the guest task for script thread t, with the main
// thread's signal mask (a new thread inherits its creator's, and the
// runner creates its threads from the main one), or takes the one Fork
// made for a child's main thread.
func (m *Machine) StartThread(t conformance.ThreadID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.tasks[t]; ok {
		return fmt.Errorf("model: thread %d started twice", t)
	}
	if tk := m.forkedTasks[t]; tk != nil {
		delete(m.forkedTasks, t)
		m.tasks[t] = tk
		return nil
	}
	tk := m.proc.NewTask(syscalls.AMD64)
	if main := m.tasks[conformance.MainThread]; main != nil {
		tk.SetSignalMask(main.SignalMask())
	}
	m.tasks[t] = tk
	return nil
}

// StopThread ends thread t's task.
func (m *Machine) StopThread(t conformance.ThreadID) {
	m.mu.Lock()
	tk := m.tasks[t]
	delete(m.tasks, t)
	m.mu.Unlock()
	if tk != nil {
		tk.Exit()
	}
}

// Syscall runs one system call on t's task.
func (m *Machine) Syscall(t conformance.ThreadID, nr uintptr, args [6]uintptr) (uintptr, syscall.Errno) {
	tk := m.task(t)
	if tk == nil {
		return 0, syscall.ESRCH
	}
	// A SIGUSR1 that arrived as the previous call was returning has had its
	// handler run by now; it must not interrupt this call.
	tk.DeliverPendingSignals()
	r, e := tk.Syscall(nr, args)
	return r, syscall.Errno(e)
}

// Interrupt sends SIGUSR1 to t's task.
func (m *Machine) Interrupt(t conformance.ThreadID) error {
	tk := m.task(t)
	if tk == nil {
		return fmt.Errorf("model: interrupt of unknown thread %d", t)
	}
	tk.Interrupt(int(unix.SIGUSR1))
	return nil
}

// Fdinfo renders /proc/self/fdinfo/fd as the syscall layer produces it.
func (m *Machine) Fdinfo(t conformance.ThreadID, fdnum int32) (string, syscall.Errno) {
	tk := m.task(t)
	if tk == nil {
		return "", syscall.ESRCH
	}
	s, e := syscalls.FDInfo(tk, fdnum)
	return s, syscall.Errno(e)
}

// Alloc maps size bytes of zeroed guest memory (backed lazily) followed by
// an unmapped guard page.
func (m *Machine) Alloc(size uint64) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return allocIn(m.mem, &m.nextMem, size)
}

// allocIn maps size bytes of mem at *next, then a guard page, and moves
// *next past them.
func allocIn(mem *syscalls.GuestMemory, next *uint64, size uint64) (uint64, error) {
	if size == 0 {
		size = 1
	}
	size = (size + pageSize - 1) &^ (pageSize - 1)
	addr := *next
	if addr+size >= badPtr {
		return 0, fmt.Errorf("model: guest address space exhausted")
	}
	*next += size + pageSize
	if err := mem.Map(addr, size); err != nil {
		return 0, err
	}
	return addr, nil
}

// ReadMem copies guest memory into b.
func (m *Machine) ReadMem(addr uint64, b []byte) error { return m.mem.CopyIn(addr, b) }

// WriteMem copies b into guest memory.
func (m *Machine) WriteMem(addr uint64, b []byte) error { return m.mem.CopyOut(addr, b) }

// BadPtr returns an address that is never mapped.
func (m *Machine) BadPtr() uint64 { return badPtr }

// Close closes whatever fds the script left open (the executor closes the
// ones it knows of first) and kills the children still running, so every
// model file is released.
func (m *Machine) Close() error {
	m.killChildren()
	m.fds.CloseAll()
	if n := m.kernel.EpollDomain().Watches(); n != 0 {
		return fmt.Errorf("model: %d epoll registrations leaked after every fd was closed", n)
	}
	return nil
}
