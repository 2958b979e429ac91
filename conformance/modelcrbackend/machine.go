package modelcrbackend

import (
	"fmt"
	"maps"
	"slices"

	"github.com/guestpoll/guestpoll/checkpoint"
	"github.com/guestpoll/guestpoll/conformance"
	"github.com/guestpoll/guestpoll/conformance/modelbackend"
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

// Machine is the model backend's machine whose kernel is replaced by a
// restored copy at every Checkpoint.
type Machine struct {
	*modelbackend.Machine
	buf []byte // the last checkpoint's storage, reused by the next

	// Checkpoints and Bytes count the checkpoints taken and their total
	// size (for tests).
	Checkpoints int
	Bytes       int
}

// New returns a machine with a fresh kernel and an empty process.
func New() *Machine { return &Machine{Machine: modelbackend.New()} }

// Checkpoint implements conformance.Checkpointer: it saves the kernel, its
// tasks, the process's table and memory, restores them into a new kernel,
// switches every thread to its restored task and tears the old kernel
// down.
func (m *Machine) Checkpoint() error {
	var old modelbackend.Process
	err := m.ReplaceProcess(func(p modelbackend.Process) (modelbackend.Process, error) {
		old = p
		return m.saveAndRestore(p)
	})
	if err != nil {
		return err
	}
	for _, t := range old.Tasks {
		t.Exit()
	}
	for _, t := range old.ForkedTasks {
		t.Exit()
	}
	old.Table.CloseAll()
	for _, c := range old.Children {
		c.Table().CloseAll() // a forked process's own table
	}
	if n := old.Kernel.EpollDomain().Watches(); n != 0 {
		return fmt.Errorf("old kernel: %d epoll registrations survived its teardown", n)
	}
	// The model backend's whole-process checks (reference counts, watch
	// back-pointers, watch accounting) on the restored kernel.
	if err := m.CheckInvariants(); err != nil {
		return fmt.Errorf("restored kernel: %w", err)
	}
	return nil
}

// saveAndRestore checkpoints p and returns its restored copy: the tasks
// of the running threads, then those of forked threads not started yet,
// each in thread order; the script's process and its children in process
// order first among the processes.
func (m *Machine) saveAndRestore(p modelbackend.Process) (modelbackend.Process, error) {
	ids := slices.Sorted(maps.Keys(p.Tasks))
	forkedIDs := slices.Sorted(maps.Keys(p.ForkedTasks))
	childIDs := slices.Sorted(maps.Keys(p.Children))
	var tasks []*syscalls.Task
	for _, id := range ids {
		tasks = append(tasks, p.Tasks[id])
	}
	for _, id := range forkedIDs {
		tasks = append(tasks, p.ForkedTasks[id])
	}
	procs := []*syscalls.Process{p.Main}
	for _, id := range childIDs {
		procs = append(procs, p.Children[id])
	}
	b, err := checkpoint.AppendSave(m.buf[:0], p.Kernel, tasks, checkpoint.SaveOptions{
		Tables:    []*fd.Table{p.Table},
		Memories:  []syscalls.Memory{p.Memory},
		Processes: procs,
	})
	if err != nil {
		return modelbackend.Process{}, fmt.Errorf("save: %w", err)
	}
	r, err := checkpoint.Restore(b, checkpoint.RestoreOptions{Clock: fs.RealClock{}})
	m.buf = b // a restored kernel keeps none of b's bytes
	if err != nil {
		return modelbackend.Process{}, fmt.Errorf("restore: %w", err)
	}
	m.Checkpoints++
	m.Bytes += len(b)
	restored := modelbackend.Process{
		Kernel: r.Kernel, Table: r.Tables[0], Memory: r.Memories[0].(*syscalls.GuestMemory), Main: r.Processes[0],
		Tasks:         map[conformance.ThreadID]*syscalls.Task{},
		ForkedTasks:   map[conformance.ThreadID]*syscalls.Task{},
		Children:      map[conformance.ProcessID]*syscalls.Process{},
		ChildMemories: map[conformance.ProcessID]*syscalls.GuestMemory{},
	}
	for i, id := range ids {
		restored.Tasks[id] = r.Tasks[i]
	}
	for i, id := range forkedIDs {
		restored.ForkedTasks[id] = r.Tasks[len(ids)+i]
	}
	for i, id := range childIDs {
		c := r.Processes[1+i]
		restored.Children[id] = c
		mem, _ := c.Memory().(*syscalls.GuestMemory)
		if mem == nil { // an exited child: no thread uses its memory any more
			mem = syscalls.NewGuestMemory()
		}
		restored.ChildMemories[id] = mem
	}
	return restored, nil
}
