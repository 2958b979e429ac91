package syscalls

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// Checkpoint state of processes, pidfds and signalfds (package checkpoint
// owns the object graph). Processes are named by their index in the
// caller's list of saved processes; tables and memories by theirs.

// ProcessState is one process.
type ProcessState struct {
	Pid    int32
	Parent int32 // index of its parent, or -1
	State  uint8 // 0 running, 1 zombie, 2 reaped
	Status uint32
	// Table and Memory index the process's fd table and address space;
	// -1 for a process that has exited (its table is closed, and no task
	// uses its memory any more).
	Table, Memory int32
	Forked        bool   // Exit closes its table
	Implicit      bool   // made by NewTask for its table
	Shared        uint64 // signals pending for the whole process
	Ignored       uint64
	Caught        uint64
}

// ProcessRelatives returns p's parent (if any) and children, the
// processes a checkpoint of p must hold too.
func (p *Process) ProcessRelatives() []*Process {
	pt := &p.k.procs
	pt.mu.Lock()
	defer pt.mu.Unlock()
	out := slices.Clone(p.children) // in fork order
	if p.parent != nil {
		out = append(out, p.parent)
	}
	return out
}

// SaveState returns p's state; index names processes, table and memory
// are the indices of p's table and memory (-1 if not saved). No task of p
// may be inside a system call.
func (p *Process) SaveState(index func(*Process) int32, table, memory int32) ProcessState {
	pt := &p.k.procs
	pt.mu.Lock()
	defer pt.mu.Unlock()
	st := ProcessState{
		Pid: p.pid, Parent: -1, State: uint8(p.state.Load()), Status: p.status,
		Table: table, Memory: memory, Forked: p.forked,
		Implicit: pt.implicit[p.table] == p, Shared: p.shared.Load(), Ignored: p.ignored.Load(),
		Caught: p.caught.Load(),
	}
	if p.parent != nil {
		st.Parent = index(p.parent)
	}
	return st
}

// ValidateProcesses checks states against the numbers of saved tables and
// memories: parents in range and not cyclic, pids positive and unique
// among the processes not reaped, tables and memories in range (or -1
// for a process that exited).
func ValidateProcesses(states []ProcessState, nTables, nMems int) error {
	pids := map[int32]bool{}
	for i := range states {
		st := &states[i]
		switch {
		case st.Pid <= 0:
			return fmt.Errorf("syscalls: process %d: pid %d", i, st.Pid)
		case st.State > uint8(procReaped): // procExiting never lasts past a call
			return fmt.Errorf("syscalls: process %d: state %d", i, st.State)
		case st.Parent < -1 || int(st.Parent) >= len(states) || st.Parent == int32(i):
			return fmt.Errorf("syscalls: process %d: parent %d", i, st.Parent)
		case st.Table < -1 || int(st.Table) >= nTables || st.Memory < -1 || int(st.Memory) >= nMems:
			return fmt.Errorf("syscalls: process %d: table %d memory %d out of range", i, st.Table, st.Memory)
		case st.State == uint8(procRunning) && (st.Table < 0 || st.Memory < 0):
			return fmt.Errorf("syscalls: process %d runs without a table or memory", i)
		case st.State == uint8(procReaped) && st.Parent >= 0:
			return fmt.Errorf("syscalls: process %d is reaped but has a parent", i)
		}
		if st.State != uint8(procReaped) {
			if pids[st.Pid] {
				return fmt.Errorf("syscalls: pid %d used twice", st.Pid)
			}
			pids[st.Pid] = true
		}
	}
	for i := range states {
		seen := 0
		for p := states[i].Parent; p >= 0; p = states[p].Parent {
			if seen++; seen > len(states) {
				return fmt.Errorf("syscalls: process %d: parent cycle", i)
			}
		}
	}
	return nil
}

// RestoreProcesses makes the processes of states (validated by
// ValidateProcesses) in k, on the restored tables and memories, and
// returns them in order. Children are ordered by pid (their fork order).
func RestoreProcesses(k *Kernel, states []ProcessState, tables []*fd.Table, mems []Memory) ([]*Process, error) {
	if err := ValidateProcesses(states, len(tables), len(mems)); err != nil {
		return nil, err
	}
	pt := &k.procs
	pt.mu.Lock()
	defer pt.mu.Unlock()
	pt.initLocked()
	out := make([]*Process, len(states))
	for i := range states {
		st := &states[i]
		p := &Process{k: k, pid: st.Pid, forked: st.Forked, status: st.Status}
		if st.Table >= 0 {
			p.table = tables[st.Table]
		} else {
			p.table = fd.NewTable() // closed with the process
		}
		if st.Memory >= 0 {
			p.mem = mems[st.Memory]
		}
		p.state.Store(uint32(st.State))
		p.shared.Store(st.Shared)
		p.ignored.Store(st.Ignored)
		p.caught.Store(st.Caught)
		if st.State != uint8(procReaped) {
			if pt.procs[p.pid] != nil {
				return nil, fmt.Errorf("syscalls: pid %d already used in the kernel", p.pid)
			}
			pt.procs[p.pid] = p
		}
		if st.Implicit {
			pt.implicit[p.table] = p
		}
		out[i] = p
	}
	for i := range states {
		if par := states[i].Parent; par >= 0 {
			out[i].parent = out[par]
			out[par].children = append(out[par].children, out[i])
		}
	}
	for _, p := range out {
		slices.SortFunc(p.children, func(a, b *Process) int { return cmp.Compare(a.pid, b.pid) })
	}
	return out, nil
}

// RestoreTaskIn returns a new task of process p with st's state, on table
// and mem; st.Tid is its thread id.
func RestoreTaskIn(p *Process, st *TaskState, table *fd.Table, mem Memory) (*Task, error) {
	if err := st.Validate(1<<31-1, 1<<31-1); err != nil {
		return nil, err
	}
	pt := &p.k.procs
	pt.mu.Lock()
	taken := st.Tid <= 0 || pt.threads[st.Tid] != nil ||
		st.Tid != p.pid && pt.procs[st.Tid] != nil
	pt.mu.Unlock()
	if taken {
		return nil, fmt.Errorf("syscalls: task id %d is not free", st.Tid)
	}
	t := newTaskWithTid(p, table, mem, st.Arch, st.Tid)
	t.restoreSignals(st)
	return t, nil
}

// PidfdProcess returns the process of pidfd f, or nil if f is not a
// pidfd.
func PidfdProcess(f *fs.File) *Process {
	if pf, ok := f.Impl().(*pidFile); ok {
		return pf.p
	}
	return nil
}

// NewUnlinkedPidfd returns a new pidfd with status flags flags (one
// reference, the caller's) whose process link sets, for a restore that
// makes files before processes. It must be linked before any use.
func NewUnlinkedPidfd(flags uint32) (*fs.File, func(p *Process)) {
	pf := &pidFile{}
	return fs.New(pf, flags), func(p *Process) { pf.p = p }
}

// SignalfdState returns the mask, creating task and owning process of
// signalfd f; ok is false if f is not a signalfd.
func SignalfdState(f *fs.File) (mask uint64, creator *Task, owner *Process, ok bool) {
	sf, ok := f.Impl().(*signalFile)
	if !ok {
		return 0, nil, nil, false
	}
	return sf.mask.Load(), sf.creator, sf.owner, true
}

// NewUnlinkedSignalfd returns a new signalfd of mask with status flags
// flags whose creating task (nil if it has exited) and process link sets,
// for a restore that makes files before tasks. It must be linked before
// any use.
func NewUnlinkedSignalfd(mask uint64, flags uint32) (*fs.File, func(creator *Task, owner *Process)) {
	sf := newSignalFile(mask, nil, nil)
	return fs.New(sf, flags), func(creator *Task, owner *Process) { sf.creator, sf.owner = creator, owner }
}

// SignalfdHookProcesses returns the processes on whose signalfd queues
// entries of signalfd f are hooked.
func SignalfdHookProcesses(f *fs.File) []*Process {
	sf, ok := f.Impl().(*signalFile)
	if !ok {
		return nil
	}
	sf.mu.Lock()
	defer sf.mu.Unlock()
	var out []*Process
	for _, p := range sf.hooks {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *Process) int { return cmp.Compare(a.pid, b.pid) })
	return out
}

// SignalfdHookProcess returns the process on whose signalfd queue entry e
// of signalfd f is hooked (the process of the thread that hooked it), or
// nil.
func SignalfdHookProcess(f *fs.File, e *waiter.Entry) *Process {
	sf, ok := f.Impl().(*signalFile)
	if !ok {
		return nil
	}
	sf.mu.Lock()
	defer sf.mu.Unlock()
	return sf.hooks[e]
}
