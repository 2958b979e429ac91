package checkpoint

import (
	"fmt"
	"reflect"
	"slices"

	"github.com/guestpoll/guestpoll/hostfd"
	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/syscalls"
)

// saver is one SaveImage: the objects found so far, each with its index.
type saver struct {
	opts       *SaveOptions
	im         *Image
	tasks      []*syscalls.Task
	taskIndex  map[*syscalls.Task]int
	files      []*fs.File
	fileIndex  map[*fs.File]int32
	tables     []*fd.Table
	tableIndex map[*fd.Table]int32
	mems       []syscalls.Memory
	memIndex   map[syscalls.Memory]int32
	procs      []*syscalls.Process
	procIndex  map[*syscalls.Process]int32
	// foreignDone and procScanned are how many files saveForeign and
	// addFileProcesses have looked at.
	foreignDone, procScanned int
	// thaws undo the fs.FreezeTimers of every round of files found.
	thaws []func()
}

// SaveImage is Save without the encoding.
func SaveImage(k *syscalls.Kernel, tasks []*syscalls.Task, opts SaveOptions) (*Image, error) {
	s := &saver{
		opts: &opts, im: &Image{}, tasks: tasks, taskIndex: map[*syscalls.Task]int{},
		fileIndex: map[*fs.File]int32{}, tableIndex: map[*fd.Table]int32{}, memIndex: map[syscalls.Memory]int32{},
		procIndex: map[*syscalls.Process]int32{},
	}
	defer s.thaw()
	if err := s.findTablesAndMemories(); err != nil {
		return nil, err
	}
	if err := s.findFiles(); err != nil {
		return nil, err
	}
	var err error
	if s.im.Files, err = fs.SaveFilesAndNames(s.files, k.Names()); err != nil {
		return nil, err
	}
	if err := s.saveEpollsAndHosts(); err != nil {
		return nil, err
	}
	if err := s.saveTablesMemoriesTasks(); err != nil {
		return nil, err
	}
	s.im.Kernel = k.Save(s.files, func(f *fs.File) (int32, bool) {
		i, ok := s.fileIndex[f]
		return i, ok
	})
	return s.im, nil
}

func (s *saver) thaw() {
	for _, t := range s.thaws {
		t()
	}
}

// addFile returns f's index, giving it the next one if f is new.
func (s *saver) addFile(f *fs.File) int32 {
	if i, ok := s.fileIndex[f]; ok {
		return i
	}
	i := int32(len(s.files))
	s.fileIndex[f] = i
	s.files = append(s.files, f)
	return i
}

func (s *saver) addTable(tab *fd.Table) {
	if _, ok := s.tableIndex[tab]; !ok {
		s.tableIndex[tab] = int32(len(s.tables))
		s.tables = append(s.tables, tab)
	}
}

func (s *saver) addMem(m syscalls.Memory) error {
	if m == nil || !reflect.TypeOf(m).Comparable() {
		return fmt.Errorf("checkpoint: memory of type %T cannot be saved (nil, or not comparable and so not shareable by index)", m)
	}
	if _, ok := s.memIndex[m]; !ok {
		s.memIndex[m] = int32(len(s.mems))
		s.mems = append(s.mems, m)
	}
	return nil
}

// findTablesAndMemories indexes the embedder's tables and memories, then
// the tasks', then the processes' (the embedder's, then the tasks').
func (s *saver) findTablesAndMemories() error {
	for _, tab := range s.opts.Tables {
		s.addTable(tab)
	}
	for _, m := range s.opts.Memories {
		if err := s.addMem(m); err != nil {
			return err
		}
	}
	for ti, t := range s.tasks {
		tab := t.FDTable()
		if tab == nil {
			return fmt.Errorf("checkpoint: task %d has exited", ti)
		}
		s.taskIndex[t] = ti
		s.addTable(tab)
		if err := s.addMem(t.Memory()); err != nil {
			return fmt.Errorf("task %d: %w", ti, err)
		}
	}
	ps := slices.Clone(s.opts.Processes)
	for _, t := range s.tasks {
		ps = append(ps, t.Process())
	}
	return s.addProcesses(ps...)
}

// findFiles indexes the files of every table, the roots, the files
// foreign files name, and, round by round, the tables of the processes
// that pidfds and signalfds bring in.
func (s *saver) findFiles() error {
	scanned := 0
	for {
		for ; scanned < len(s.tables); scanned++ {
			s.tables[scanned].ForEach(func(_ int32, f *fs.File, _ bool) { s.addFile(f) })
		}
		if s.im.Roots == nil {
			for _, f := range s.opts.Roots {
				s.im.Roots = append(s.im.Roots, s.addFile(f))
			}
		}
		if err := s.saveForeign(); err != nil {
			return err
		}
		more, err := s.addFileProcesses()
		if err != nil || !more {
			return err
		}
	}
}

// saveForeign saves every file of a registered type, in index order,
// including the files they name (which get the next indices). Timers are
// frozen round by round, before any type's Save can look at them.
func (s *saver) saveForeign() error {
	for s.foreignDone < len(s.files) {
		round := s.files[s.foreignDone:]
		s.thaws = append(s.thaws, fs.FreezeTimers(round))
		end := len(s.files)
		for i := s.foreignDone; i < end; i++ {
			if err := s.saveForeignFile(int32(i)); err != nil {
				return err
			}
		}
		s.foreignDone = end
	}
	return nil
}

func (s *saver) saveForeignFile(i int32) error {
	f := s.files[i]
	t := s.opts.Types.fileTypeOf(f)
	if t == nil {
		return nil
	}
	c := &SaveContext{s: s, self: f}
	data, err := t.Save(c, f)
	if err != nil {
		return fmt.Errorf("checkpoint: saving file %d (type %q): %w", i, t.Name, err)
	}
	s.im.Foreign = append(s.im.Foreign, ForeignImage{
		File: i, Type: t.Name, Pollable: f.Pollable() != nil, Refs: c.refs, Data: data,
	})
	return nil
}

// saveEpollsAndHosts describes the foreign files that are epoll instances
// or host fds; any other foreign file must have been saved by its type.
func (s *saver) saveEpollsAndHosts() error {
	var eps []*epoll.EventPoll
	names := map[string]bool{}
	registered := 0
	for i := range s.im.Files.Files {
		if s.im.Files.Files[i].Kind != fs.KindForeign {
			continue
		}
		f := s.files[i]
		if registered < len(s.im.Foreign) && s.im.Foreign[registered].File == int32(i) {
			registered++
			continue
		}
		if ep, ok := epoll.FromFile(f); ok {
			eps = append(eps, ep)
			s.im.Epolls = append(s.im.Epolls, EpollImage{File: int32(i)})
			continue
		}
		if s.saveProcessFile(int32(i), f) {
			continue
		}
		if !hostfd.IsHost(f) {
			return fmt.Errorf("checkpoint: file %d has a type this package cannot save (%T; register it in SaveOptions.Types)", i, f.Impl())
		}
		name, err := s.hostName(int32(i), f, names)
		if err != nil {
			return err
		}
		s.im.Hosts = append(s.im.Hosts, HostImage{File: int32(i), Name: name})
	}
	states, err := epoll.SaveInstances(eps, s.files, s.hookCallers())
	if err != nil {
		return err
	}
	for i := range states {
		s.im.Epolls[i].State = states[i]
	}
	return nil
}

func (s *saver) hostName(i int32, f *fs.File, names map[string]bool) (string, error) {
	if s.opts.HostName == nil {
		return "", fmt.Errorf("checkpoint: file %d is a host fd and SaveOptions.HostName is nil", i)
	}
	name, err := s.opts.HostName(f)
	if err != nil {
		return "", fmt.Errorf("checkpoint: naming host fd %d: %w", i, err)
	}
	if name == "" || names[name] {
		return "", fmt.Errorf("checkpoint: host fd name %q is empty or used twice", name)
	}
	names[name] = true
	return name, nil
}

func (s *saver) saveTablesMemoriesTasks() error {
	index := func(f *fs.File) int32 { return s.fileIndex[f] }
	for _, tab := range s.tables {
		st, err := tab.Save(index)
		if err != nil {
			return err
		}
		s.im.Tables = append(s.im.Tables, st)
	}
	for i, m := range s.mems {
		mi, err := s.saveMemory(m)
		if err != nil {
			return fmt.Errorf("checkpoint: memory %d: %w", i, err)
		}
		s.im.Memories = append(s.im.Memories, mi)
	}
	for _, t := range s.tasks {
		s.im.Tasks = append(s.im.Tasks, t.SaveState(s.tableIndex[t.FDTable()], s.memIndex[t.Memory()]))
	}
	s.saveProcesses()
	return nil
}

func (s *saver) saveMemory(m syscalls.Memory) (MemoryImage, error) {
	if gm, ok := m.(*syscalls.GuestMemory); ok {
		return MemoryImage{Guest: gm.SaveState()}, nil
	}
	t := s.opts.Types.memoryTypeOf(m)
	if t == nil {
		return MemoryImage{}, fmt.Errorf("type %T is neither a syscalls.GuestMemory nor registered in SaveOptions.Types", m)
	}
	data, err := t.Save(m)
	if err != nil {
		return MemoryImage{}, fmt.Errorf("saving type %q: %w", t.Name, err)
	}
	return MemoryImage{Type: t.Name, Data: data}, nil
}
