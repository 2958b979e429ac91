package syscalls

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
)

// Checkpoint state of the syscall layer (package checkpoint owns the object
// graph and the byte format): the kernel's settings and fdinfo inode
// numbers, each task's signal state and rlimits, and guest memory. Files
// are named by their index in the caller's list of saved files, fd tables
// and memories by their index in its lists of those.

// KernelState is a Kernel's state apart from its files.
type KernelState struct {
	Epoll   epoll.DomainState
	Inos    []InoState
	NextIno uint64
	NextPid int32 // the next pid to try (0: the first)
}

// InoState is one inode number fdinfo has shown: the number of the saved
// file File (and of every file sharing its inode, such as the other end of
// a pipe).
type InoState struct {
	File int32
	Ino  uint64
}

// TaskState is one task.
type TaskState struct {
	Table     int32 // index of its fd table
	Memory    int32 // index of its address space
	Process   int32 // index of its process (procstate.go), set by the caller
	Tid       int32
	Arch      Arch
	Mask      uint64
	Pending   uint64
	Delivered [64]uint32
	Rlimits   [rlimNLimits][2]uint64
}

// MemoryState is a GuestMemory: its mappings and the pages that hold
// anything but zeros.
type MemoryState struct {
	Maps  []MemoryRange // ascending, page aligned, not touching
	Pages []MemoryPage  // ascending Addr, inside Maps
}

// MemoryRange is a mapped range [Start, End).
type MemoryRange struct{ Start, End uint64 }

// MemoryPage is one page of contents (PageSize bytes).
type MemoryPage struct {
	Addr uint64
	Data []byte
}

// RlimitCount is the number of rlimits a task saves (RLIMIT_NOFILE's
// entry is unused: the fd table holds it).
const RlimitCount = rlimNLimits

// Save returns k's state. index returns the saved index of a file, or
// false for a file that is not saved (its inode number is then dropped:
// nothing can show it any more).
func (k *Kernel) Save(files []*fs.File, index func(*fs.File) (int32, bool)) KernelState {
	st := KernelState{Epoll: k.epoll.State()}
	// Files sharing an inode are found by the inode's key.
	byKey := map[any]int32{}
	for _, f := range files {
		if s, ok := f.Impl().(fs.SharedInode); ok {
			if _, dup := byKey[s.InodeKey()]; !dup {
				i, _ := index(f)
				byKey[s.InodeKey()] = i
			}
		}
	}
	k.procs.mu.Lock()
	st.NextPid = k.procs.nextPid
	k.procs.mu.Unlock()
	k.inoMu.Lock()
	defer k.inoMu.Unlock()
	st.NextIno = k.nextIno
	for key, e := range k.inos {
		if !e.live() {
			continue
		}
		var i int32
		var ok bool
		if e.shared != nil {
			i, ok = byKey[key]
		} else {
			i, ok = index(e.file)
		}
		if ok {
			st.Inos = append(st.Inos, InoState{File: i, Ino: e.ino})
		}
	}
	slices.SortFunc(st.Inos, func(a, b InoState) int { return cmp.Compare(a.File, b.File) })
	return st
}

// Validate checks st against nFiles saved files.
func (st *KernelState) Validate(nFiles int) error {
	seen := map[int32]bool{}
	for _, in := range st.Inos {
		if in.File < 0 || int(in.File) >= nFiles || seen[in.File] {
			return fmt.Errorf("syscalls: inode of file %d repeated or out of range", in.File)
		}
		if in.Ino > st.NextIno {
			return fmt.Errorf("syscalls: inode %d beyond the next number %d", in.Ino, st.NextIno)
		}
		seen[in.File] = true
	}
	if st.Epoll.MaxUserWatches < 0 {
		return fmt.Errorf("syscalls: max_user_watches %d", st.Epoll.MaxUserWatches)
	}
	if st.NextPid < 0 {
		return fmt.Errorf("syscalls: next pid %d", st.NextPid)
	}
	return nil
}

// RestoreKernel returns a new kernel on clock with st's settings (its
// epoll domain is the one the restored instances must be made in). The
// inode numbers are set by RestoreInos once the files exist.
func RestoreKernel(st *KernelState, clock fs.Clock) *Kernel {
	k := NewKernelClock(clock)
	k.epoll = epoll.NewDomainFromState(st.Epoll)
	k.nextIno = st.NextIno // +checklocksignore: k is not shared yet.
	if st.NextPid > 0 {
		k.procs.mu.Lock()
		k.procs.initLocked()
		k.procs.nextPid = st.NextPid
		k.procs.mu.Unlock()
	}
	return k
}

// RestoreInos records st's inode numbers for the restored files (files of
// a shared inode, such as pipe ends, under the inode). st must have been
// validated against len(files).
func (k *Kernel) RestoreInos(st *KernelState, files []*fs.File) error {
	if err := st.Validate(len(files)); err != nil {
		return err
	}
	k.inoMu.Lock()
	defer k.inoMu.Unlock()
	for _, in := range st.Inos {
		f := files[in.File]
		if f == nil {
			return fmt.Errorf("syscalls: inode of file %d, which is missing", in.File)
		}
		var key any = f
		shared, ok := f.Impl().(fs.SharedInode)
		if ok {
			key = shared.InodeKey()
		}
		k.inos[key] = inoEntry{ino: in.Ino, file: f, shared: shared}
	}
	return nil
}

// SaveState returns t's state; table and memory are the indices of its fd
// table and address space. The task must not be inside a system call.
func (t *Task) SaveState(table, memory int32) TaskState {
	st := TaskState{Table: table, Memory: memory, Process: -1, Tid: t.tid, Arch: t.arch, Rlimits: t.rlimits}
	t.sigMu.Lock()
	st.Mask, st.Pending, st.Delivered = t.mask, t.pending, t.delivered
	t.sigMu.Unlock()
	return st
}

// Validate checks st against the numbers of saved tables and memories.
func (st *TaskState) Validate(nTables, nMems int) error {
	if st.Table < 0 || int(st.Table) >= nTables || st.Memory < 0 || int(st.Memory) >= nMems {
		return fmt.Errorf("syscalls: task table %d memory %d out of range", st.Table, st.Memory)
	}
	if st.Arch != AMD64 && st.Arch != ARM64 {
		return fmt.Errorf("syscalls: arch %d", st.Arch)
	}
	if st.Mask&unblockable != 0 {
		return fmt.Errorf("syscalls: mask blocks SIGKILL or SIGSTOP")
	}
	for i, r := range st.Rlimits {
		if r[0] > r[1] {
			return fmt.Errorf("syscalls: rlimit %d: soft %d above hard %d", i, r[0], r[1])
		}
	}
	return nil
}

// RestoreTask returns a new task of k with st's state, on table and mem.
func RestoreTask(k *Kernel, st *TaskState, table *fd.Table, mem Memory) (*Task, error) {
	if err := st.Validate(1<<31-1, 1<<31-1); err != nil {
		return nil, err
	}
	t := NewTask(k, table, mem, st.Arch)
	t.restoreSignals(st)
	return t, nil
}

// restoreSignals gives t st's rlimits and signal state.
func (t *Task) restoreSignals(st *TaskState) {
	t.rlimits = st.Rlimits
	t.sigMu.Lock()
	t.mask, t.pending, t.delivered = st.Mask, st.Pending, st.Delivered
	t.publishSigMuLocked()
	t.sigMu.Unlock()
}

// SaveState returns m's mappings and non-zero pages.
func (m *GuestMemory) SaveState() MemoryState {
	m.mu.RLock()
	defer m.mu.RUnlock()
	st := MemoryState{Maps: make([]MemoryRange, len(m.maps))}
	for i, r := range m.maps {
		st.Maps[i] = MemoryRange{r.start, r.end}
	}
	var zero [PageSize]byte
	for addr, pg := range m.pages {
		if *pg != zero {
			st.Pages = append(st.Pages, MemoryPage{Addr: addr, Data: append([]byte(nil), pg[:]...)})
		}
	}
	sortMemoryPages(st.Pages)
	return st
}

func sortMemoryPages(p []MemoryPage) {
	for gap := len(p) / 2; gap > 0; gap /= 2 {
		for i := gap; i < len(p); i++ {
			for j := i; j >= gap && p[j-gap].Addr > p[j].Addr; j -= gap {
				p[j-gap], p[j] = p[j], p[j-gap]
			}
		}
	}
}

// Validate checks st.
func (st *MemoryState) Validate() error {
	var last uint64
	for i, r := range st.Maps {
		if r.Start%PageSize != 0 || r.End%PageSize != 0 || r.Start >= r.End || i > 0 && r.Start <= last {
			return fmt.Errorf("syscalls: memory range %#x-%#x", r.Start, r.End)
		}
		last = r.End
	}
	j := 0
	for i, p := range st.Pages {
		if p.Addr%PageSize != 0 || len(p.Data) != PageSize || i > 0 && p.Addr <= st.Pages[i-1].Addr {
			return fmt.Errorf("syscalls: memory page %#x", p.Addr)
		}
		for j < len(st.Maps) && st.Maps[j].End <= p.Addr {
			j++
		}
		if j == len(st.Maps) || st.Maps[j].Start > p.Addr {
			return fmt.Errorf("syscalls: memory page %#x is not mapped", p.Addr)
		}
	}
	return nil
}

// RestoreMemory returns a new GuestMemory with st's mappings and contents.
//
// +checklocksignore: builds m before anything else can see it.
func RestoreMemory(st *MemoryState) (*GuestMemory, error) {
	if err := st.Validate(); err != nil {
		return nil, err
	}
	m := NewGuestMemory()
	for _, r := range st.Maps {
		m.maps = append(m.maps, mapping{r.Start, r.End})
	}
	for _, p := range st.Pages {
		pg := new([PageSize]byte)
		copy(pg[:], p.Data)
		m.setPageLocked(p.Addr, pg)
	}
	m.publishMapsLocked()
	return m, nil
}
