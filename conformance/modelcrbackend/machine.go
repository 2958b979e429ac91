package modelcrbackend

import (
	"fmt"
	"slices"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/checkpoint"
	"github.com/guestpoll/guestpoll/conformance"
	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/syscalls"
)

func init() {
	conformance.Register(conformance.BackendSpec{
		Name:       "model-cr",
		NewMachine: func() (conformance.Machine, error) { return New(), nil },
		Doc:        "the model, checkpointed and restored into a new kernel between every two steps",
	})
}

const (
	pageSize  = 4096
	allocBase = 0x10000000 // as the model backend
	badPtr    = 0x7ff000000000
)

// Machine is a conformance.Machine over a model kernel that is replaced
// by a restored copy at every Checkpoint.
type Machine struct {
	mu      sync.Mutex
	kernel  *syscalls.Kernel
	fds     *fd.Table
	mem     *syscalls.GuestMemory
	tasks   map[conformance.ThreadID]*syscalls.Task
	nextMem uint64
	buf     []byte // the last checkpoint's storage, reused by the next

	// Checkpoints and Bytes count the checkpoints taken and their total
	// size (for tests).
	Checkpoints int
	Bytes       int
}

// New returns a machine with a fresh kernel and an empty process.
func New() *Machine {
	return &Machine{
		kernel:  syscalls.NewKernel(),
		fds:     fd.NewTable(),
		mem:     syscalls.NewGuestMemory(),
		tasks:   map[conformance.ThreadID]*syscalls.Task{},
		nextMem: allocBase,
	}
}

func (m *Machine) task(t conformance.ThreadID) *syscalls.Task {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tasks[t]
}

func (m *Machine) memory() *syscalls.GuestMemory {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mem
}

// StartThread creates the guest task for script thread t.
func (m *Machine) StartThread(t conformance.ThreadID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.tasks[t]; ok {
		return fmt.Errorf("model-cr: thread %d started twice", t)
	}
	m.tasks[t] = syscalls.NewTask(m.kernel, m.fds, m.mem, syscalls.AMD64)
	return nil
}

// StopThread ends thread t's task.
func (m *Machine) StopThread(t conformance.ThreadID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if tk := m.tasks[t]; tk != nil {
		delete(m.tasks, t)
		tk.Exit()
	}
}

// Syscall runs one system call on t's task.
func (m *Machine) Syscall(t conformance.ThreadID, nr uintptr, args [6]uintptr) (uintptr, syscall.Errno) {
	tk := m.task(t)
	if tk == nil {
		return 0, syscall.ESRCH
	}
	tk.DeliverPendingSignals()
	r, e := tk.Syscall(nr, args)
	return r, syscall.Errno(e)
}

// Interrupt sends SIGUSR1 to t's task.
func (m *Machine) Interrupt(t conformance.ThreadID) error {
	tk := m.task(t)
	if tk == nil {
		return fmt.Errorf("model-cr: interrupt of unknown thread %d", t)
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

// Alloc maps size bytes of zeroed guest memory followed by a guard page.
func (m *Machine) Alloc(size uint64) (uint64, error) {
	if size == 0 {
		size = 1
	}
	size = (size + pageSize - 1) &^ (pageSize - 1)
	m.mu.Lock()
	defer m.mu.Unlock()
	addr := m.nextMem
	if addr+size >= badPtr {
		return 0, fmt.Errorf("model-cr: guest address space exhausted")
	}
	m.nextMem += size + pageSize
	if err := m.mem.Map(addr, size); err != nil {
		return 0, err
	}
	return addr, nil
}

// ReadMem copies guest memory into b.
func (m *Machine) ReadMem(addr uint64, b []byte) error { return m.memory().CopyIn(addr, b) }

// WriteMem copies b into guest memory.
func (m *Machine) WriteMem(addr uint64, b []byte) error { return m.memory().CopyOut(addr, b) }

// BadPtr returns an address that is never mapped.
func (m *Machine) BadPtr() uint64 { return badPtr }

// Checkpoint implements conformance.Checkpointer: it saves the kernel, its
// tasks, the process's table and memory, restores them into a new kernel,
// switches every thread to its restored task and tears the old kernel
// down.
func (m *Machine) Checkpoint() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]conformance.ThreadID, 0, len(m.tasks))
	for id := range m.tasks {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	tasks := make([]*syscalls.Task, len(ids))
	for i, id := range ids {
		tasks[i] = m.tasks[id]
	}
	b, err := checkpoint.AppendSave(m.buf[:0], m.kernel, tasks, checkpoint.SaveOptions{
		Tables:   []*fd.Table{m.fds},
		Memories: []*syscalls.GuestMemory{m.mem},
	})
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	r, err := checkpoint.Restore(b, checkpoint.RestoreOptions{Clock: fs.RealClock{}})
	m.buf = b // a restored kernel keeps none of b's bytes
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	m.Checkpoints++
	m.Bytes += len(b)
	if err := checkRestored(r); err != nil {
		for _, t := range r.Tasks {
			t.Exit()
		}
		for _, t := range r.Tables {
			t.CloseAll()
		}
		return fmt.Errorf("restored kernel: %w", err)
	}

	oldKernel, oldFds := m.kernel, m.fds
	for i, id := range ids {
		tasks[i].Exit()
		m.tasks[id] = r.Tasks[i]
	}
	oldFds.CloseAll()
	m.kernel, m.fds, m.mem = r.Kernel, r.Tables[0], r.Memories[0]
	if n := oldKernel.EpollDomain().Watches(); n != 0 {
		return fmt.Errorf("old kernel: %d epoll registrations survived its teardown", n)
	}
	return nil
}

// OpenFDs returns the number of fds open in the machine's process.
func (m *Machine) OpenFDs() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fds.Len()
}

// Close closes whatever fds the script left open, so every model file is
// released.
func (m *Machine) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fds.CloseAll()
	if n := m.kernel.EpollDomain().Watches(); n != 0 {
		return fmt.Errorf("model-cr: %d epoll registrations leaked after every fd was closed", n)
	}
	return nil
}

// checkRestored checks the restored kernel with each package's invariant
// checker, and that every file has exactly one reference per fd.
func checkRestored(r *checkpoint.Restored) error {
	refs := map[*fs.File]int64{}
	var files []*fs.File
	for _, t := range r.Tables {
		if err := t.CheckInvariants(); err != nil {
			return err
		}
		t.ForEach(func(_ int32, f *fs.File, _ bool) {
			if refs[f] == 0 {
				files = append(files, f)
			}
			refs[f]++
		})
	}
	for _, f := range files {
		if got := f.Refs(); got != refs[f] {
			return fmt.Errorf("a %T file has %d references for %d fds", f.Impl(), got, refs[f])
		}
		if err := fs.CheckInvariants(f); err != nil {
			return err
		}
		if ep, ok := epoll.FromFile(f); ok {
			if err := ep.CheckInvariants(); err != nil {
				return err
			}
		}
	}
	return nil
}
