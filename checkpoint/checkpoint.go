package checkpoint

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/hostfd"
	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/syscalls"
)

// Image is a checkpoint as values: the object graph with every shared
// object named by its index. Files are indexed by Files.Files; the files
// of other packages (KindForeign) are described by exactly one entry of
// Epolls or Hosts.
type Image struct {
	Kernel   syscalls.KernelState
	Files    fs.FilesState
	Epolls   []EpollImage
	Hosts    []HostImage
	Tables   []fd.TableState
	Memories []syscalls.MemoryState
	Tasks    []syscalls.TaskState
	// Roots are files the embedder passed to Save besides the tasks'
	// fd tables, in the order it passed them.
	Roots []int32
}

// EpollImage is the epoll instance whose own file is File.
type EpollImage struct {
	File  int32
	State epoll.InstanceState
}

// HostImage is a host fd, saved as a name only.
type HostImage struct {
	File int32
	Name string
}

// MaxTableSlots bounds the fd table slots a checkpoint may need in all
// (the sum over its tables of the highest fd + 1), so that a few bytes of
// input cannot make Restore allocate gigabytes: four tables' worth at
// Linux's nr_open.
const MaxTableSlots = 4 * fd.NrOpen

// ErrMissingHost is wrapped by Restore's error when the embedder has no
// host fd for a saved name.
var ErrMissingHost = errors.New("checkpoint: no host fd for a saved name")

// SaveOptions tune Save.
type SaveOptions struct {
	// Roots are files the embedder holds references to outside any saved
	// fd table (Restore returns their new versions in Restored.Roots).
	Roots []*fs.File
	// Tables and Memories are fd tables and address spaces the embedder
	// holds besides the tasks' (a process's table that no task uses at the
	// moment). They come first in Restored.Tables and Restored.Memories,
	// in this order, followed by the tasks' others in task order.
	Tables   []*fd.Table
	Memories []*syscalls.GuestMemory
	// HostName names an imported host fd; Restore asks RestoreOptions.Host
	// for a fresh fd under that name. Required if any saved file is a
	// host fd; names must be unique.
	HostName func(f *fs.File) (string, error)
}

// Save takes a checkpoint of kernel k as its tasks see it and returns it
// encoded. See the package doc for what must be quiescent.
func Save(k *syscalls.Kernel, tasks []*syscalls.Task, opts SaveOptions) ([]byte, error) {
	return AppendSave(nil, k, tasks, opts)
}

// AppendSave is Save appending the checkpoint to dst (see
// Image.AppendEncode); on error it returns dst unchanged.
func AppendSave(dst []byte, k *syscalls.Kernel, tasks []*syscalls.Task, opts SaveOptions) ([]byte, error) {
	im, err := SaveImage(k, tasks, opts)
	if err != nil {
		return dst, err
	}
	return im.AppendEncode(dst), nil
}

// SaveImage is Save without the encoding.
func SaveImage(k *syscalls.Kernel, tasks []*syscalls.Task, opts SaveOptions) (*Image, error) {
	im := &Image{}
	var files []*fs.File
	fileIndex := map[*fs.File]int32{}
	addFile := func(f *fs.File) int32 {
		if i, ok := fileIndex[f]; ok {
			return i
		}
		i := int32(len(files))
		fileIndex[f] = i
		files = append(files, f)
		return i
	}
	var tables []*fd.Table
	tableIndex := map[*fd.Table]int32{}
	var mems []*syscalls.GuestMemory
	memIndex := map[*syscalls.GuestMemory]int32{}
	for _, tab := range opts.Tables {
		if _, ok := tableIndex[tab]; !ok {
			tableIndex[tab] = int32(len(tables))
			tables = append(tables, tab)
		}
	}
	for _, gm := range opts.Memories {
		if _, ok := memIndex[gm]; !ok {
			memIndex[gm] = int32(len(mems))
			mems = append(mems, gm)
		}
	}
	for ti, t := range tasks {
		tab := t.FDTable()
		if tab == nil {
			return nil, fmt.Errorf("checkpoint: task %d has exited", ti)
		}
		if _, ok := tableIndex[tab]; !ok {
			tableIndex[tab] = int32(len(tables))
			tables = append(tables, tab)
		}
		gm, ok := t.Memory().(*syscalls.GuestMemory)
		if !ok {
			return nil, fmt.Errorf("checkpoint: task %d's memory is not a syscalls.GuestMemory", ti)
		}
		if _, ok := memIndex[gm]; !ok {
			memIndex[gm] = int32(len(mems))
			mems = append(mems, gm)
		}
	}
	for _, tab := range tables {
		tab.ForEach(func(_ int32, f *fs.File, _ bool) { addFile(f) })
	}
	for _, f := range opts.Roots {
		im.Roots = append(im.Roots, addFile(f))
	}

	// Expiries wait until the save is done, so none is seen half done.
	thaw := fs.FreezeTimers(files)
	defer thaw()

	var err error
	if im.Files, err = fs.SaveFiles(files); err != nil {
		return nil, err
	}
	var eps []*epoll.EventPoll
	names := map[string]bool{}
	for i := range im.Files.Files {
		if im.Files.Files[i].Kind != fs.KindForeign {
			continue
		}
		f := files[i]
		if ep, ok := epoll.FromFile(f); ok {
			eps = append(eps, ep)
			im.Epolls = append(im.Epolls, EpollImage{File: int32(i)})
			continue
		}
		if hostfd.IsHost(f) {
			if opts.HostName == nil {
				return nil, fmt.Errorf("checkpoint: file %d is a host fd and SaveOptions.HostName is nil", i)
			}
			name, err := opts.HostName(f)
			if err != nil {
				return nil, fmt.Errorf("checkpoint: naming host fd %d: %w", i, err)
			}
			if name == "" || names[name] {
				return nil, fmt.Errorf("checkpoint: host fd name %q is empty or used twice", name)
			}
			names[name] = true
			im.Hosts = append(im.Hosts, HostImage{File: int32(i), Name: name})
			continue
		}
		return nil, fmt.Errorf("checkpoint: file %d has a type this package cannot save (%T)", i, f.Impl())
	}
	states, err := epoll.SaveInstances(eps, files)
	if err != nil {
		return nil, err
	}
	for i := range states {
		im.Epolls[i].State = states[i]
	}
	index := func(f *fs.File) int32 { return fileIndex[f] }
	for _, tab := range tables {
		st, err := tab.Save(index)
		if err != nil {
			return nil, err
		}
		im.Tables = append(im.Tables, st)
	}
	for _, m := range mems {
		im.Memories = append(im.Memories, m.SaveState())
	}
	for _, t := range tasks {
		gm := t.Memory().(*syscalls.GuestMemory)
		im.Tasks = append(im.Tasks, t.SaveState(tableIndex[t.FDTable()], memIndex[gm]))
	}
	im.Kernel = k.Save(files, func(f *fs.File) (int32, bool) {
		i, ok := fileIndex[f]
		return i, ok
	})
	return im, nil
}

// fileInfo describes im's files to package epoll.
func (im *Image) fileInfo() epoll.FileInfo {
	n := len(im.Files.Files)
	fi := epoll.FileInfo{Pollable: make([]bool, n), Instance: make([]int32, n)}
	for i := range im.Files.Files {
		fi.Pollable[i] = im.Files.Files[i].Kind != fs.KindRegular
		fi.Instance[i] = -1
	}
	for k, ep := range im.Epolls {
		if ep.File >= 0 && int(ep.File) < n {
			fi.Instance[ep.File] = int32(k)
		}
	}
	return fi
}

// Validate checks the whole image: every package's own rules, and the
// graph's: each foreign file is exactly one instance or host fd, every
// file is held by a saved fd table or is a root, tasks name saved tables
// and memories (a table or memory no task uses is the embedder's).
func (im *Image) Validate() error {
	_, err := im.validate()
	return err
}

func (im *Image) validate() (*epoll.ValidInstances, error) {
	if err := im.Files.Validate(); err != nil {
		return nil, err
	}
	n := len(im.Files.Files)
	owner := make([]byte, n) // 1: epoll, 2: host
	self := make([]int32, len(im.Epolls))
	for k, ep := range im.Epolls {
		if ep.File < 0 || int(ep.File) >= n || owner[ep.File] != 0 || im.Files.Files[ep.File].Kind != fs.KindForeign {
			return nil, fmt.Errorf("epoll %d: file %d out of range, not foreign or described twice", k, ep.File)
		}
		if fl := im.Files.Files[ep.File].Flags; fl&unix.O_ACCMODE != unix.O_RDWR || fl&^uint32(unix.O_RDWR|unix.O_NONBLOCK|unix.O_APPEND) != 0 {
			return nil, fmt.Errorf("epoll %d: flags %#x", k, im.Files.Files[ep.File].Flags)
		}
		owner[ep.File] = 1
		self[k] = ep.File
	}
	names := map[string]bool{}
	for k, h := range im.Hosts {
		if h.File < 0 || int(h.File) >= n || owner[h.File] != 0 || im.Files.Files[h.File].Kind != fs.KindForeign {
			return nil, fmt.Errorf("host %d: file %d out of range, not foreign or described twice", k, h.File)
		}
		if h.Name == "" || names[h.Name] {
			return nil, fmt.Errorf("host %d: name %q empty or repeated", k, h.Name)
		}
		names[h.Name] = true
		owner[h.File] = 2
	}
	for i := range im.Files.Files {
		if im.Files.Files[i].Kind == fs.KindForeign && owner[i] == 0 {
			return nil, fmt.Errorf("file %d: foreign file described by nobody", i)
		}
	}
	states := make([]epoll.InstanceState, len(im.Epolls))
	for k := range im.Epolls {
		states[k] = im.Epolls[k].State
	}
	valid, err := epoll.ValidateInstances(states, self, im.fileInfo())
	if err != nil {
		return nil, err
	}
	held := make([]bool, n)
	slots := 0
	for k := range im.Tables {
		if err := im.Tables[k].Validate(n); err != nil {
			return nil, fmt.Errorf("table %d: %v", k, err)
		}
		if l := len(im.Tables[k].Slots); l > 0 {
			slots += int(im.Tables[k].Slots[l-1].Fd) + 1
		}
		if slots > MaxTableSlots {
			return nil, fmt.Errorf("fd tables need more than %d slots in all", MaxTableSlots)
		}
		for _, s := range im.Tables[k].Slots {
			held[s.File] = true
		}
	}
	for _, r := range im.Roots {
		if r < 0 || int(r) >= n {
			return nil, fmt.Errorf("root file %d out of range", r)
		}
		held[r] = true
	}
	for i, h := range held {
		if !h {
			return nil, fmt.Errorf("file %d is held by no fd table and is not a root", i)
		}
	}
	for k := range im.Memories {
		if err := im.Memories[k].Validate(); err != nil {
			return nil, fmt.Errorf("memory %d: %v", k, err)
		}
	}
	for k := range im.Tasks {
		if err := im.Tasks[k].Validate(len(im.Tables), len(im.Memories)); err != nil {
			return nil, fmt.Errorf("task %d: %v", k, err)
		}
	}
	if err := im.Kernel.Validate(n); err != nil {
		return nil, err
	}
	return valid, nil
}

// RestoreOptions tune Restore.
type RestoreOptions struct {
	// Clock is the new kernel's clock (fs.RealClock if nil). Timers keep
	// their remaining time and interval relative to it.
	Clock fs.Clock
	// Host returns a fresh host fd file (with one reference, which Restore
	// takes over) for a name SaveOptions.HostName gave; flags are the
	// saved status flags, which Restore applies with SetStatusFlags. A
	// missing name must be an error; Restore wraps it in ErrMissingHost.
	Host func(name string, flags uint32) (*fs.File, error)
}

// Restored is a restored kernel: its tasks in Save's order, each with the
// restored fd table and memory, and the roots in SaveOptions.Roots' order
// (each with one reference, owned by the caller).
type Restored struct {
	Kernel   *syscalls.Kernel
	Tasks    []*syscalls.Task
	Tables   []*fd.Table
	Memories []*syscalls.GuestMemory
	Roots    []*fs.File
}

// Restore decodes b and builds a brand-new kernel from it.
func Restore(b []byte, opts RestoreOptions) (*Restored, error) {
	// The image may share b's bytes: restore copies them all into the new
	// objects, and im is dropped when it returns.
	im, valid, err := decode(b, true)
	if err != nil {
		return nil, err
	}
	return restore(im, valid, opts)
}

// RestoreImage builds a new kernel from im, which it validates first. On
// error nothing of the new kernel survives (host fds obtained so far are
// released).
func RestoreImage(im *Image, opts RestoreOptions) (*Restored, error) {
	valid, err := im.validate()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return restore(im, valid, opts)
}

// restore builds an image that validate accepted (valid is its result).
func restore(im *Image, valid *epoll.ValidInstances, opts RestoreOptions) (*Restored, error) {
	clock := opts.Clock
	if clock == nil {
		clock = fs.RealClock{}
	}
	// Host fds first: the only step that can fail after validation.
	hosts := make([]*fs.File, len(im.Hosts))
	release := func(fs []*fs.File) {
		for _, f := range fs {
			if f != nil {
				f.DecRef()
			}
		}
	}
	for i, h := range im.Hosts {
		var f *fs.File
		err := fmt.Errorf("%w: %q (RestoreOptions.Host is nil)", ErrMissingHost, h.Name)
		if opts.Host != nil {
			f, err = opts.Host(h.Name, im.Files.Files[h.File].Flags)
		}
		if err == nil && (f == nil || f.Pollable() == nil) {
			err = fmt.Errorf("not a pollable file")
		}
		if err == nil {
			err = f.SetStatusFlags(im.Files.Files[h.File].Flags)
		}
		if err != nil {
			if f != nil {
				f.DecRef()
			}
			release(hosts)
			if !errors.Is(err, ErrMissingHost) {
				err = fmt.Errorf("%w: %q: %v", ErrMissingHost, h.Name, err)
			}
			return nil, err
		}
		hosts[i] = f
	}

	k := syscalls.RestoreKernel(&im.Kernel, clock)
	files, startTimers, err := fs.RestoreFiles(&im.Files, clock)
	if err != nil {
		release(hosts)
		return nil, err
	}
	for i, h := range im.Hosts {
		files[h.File] = hosts[i]
	}
	for _, ep := range im.Epolls {
		f := epoll.NewFile(k.EpollDomain())
		_ = f.SetStatusFlags(im.Files.Files[ep.File].Flags)
		files[ep.File] = f
	}
	isHost := make([]bool, len(files))
	for _, h := range im.Hosts {
		isHost[h.File] = true
	}
	if err := epoll.RestoreInstances(k.EpollDomain(), valid, files,
		func(i int32) bool { return isHost[i] }); err != nil {
		release(files)
		return nil, err
	}
	startTimers()
	if err := k.RestoreInos(&im.Kernel, files); err != nil {
		release(files)
		return nil, err
	}
	r := &Restored{Kernel: k}
	for i := range im.Tables {
		t, err := fd.RestoreTable(&im.Tables[i], files)
		if err != nil { // validated: cannot happen
			for _, t := range r.Tables {
				t.CloseAll()
			}
			release(files)
			return nil, err
		}
		r.Tables = append(r.Tables, t)
	}
	for i := range im.Memories {
		m, err := syscalls.RestoreMemory(&im.Memories[i])
		if err != nil { // validated: cannot happen
			return nil, err
		}
		r.Memories = append(r.Memories, m)
	}
	for i := range im.Tasks {
		st := &im.Tasks[i]
		t, err := syscalls.RestoreTask(k, st, r.Tables[st.Table], r.Memories[st.Memory])
		if err != nil { // validated: cannot happen
			return nil, err
		}
		r.Tasks = append(r.Tasks, t)
	}
	for _, ri := range im.Roots {
		files[ri].IncRef()
		r.Roots = append(r.Roots, files[ri])
	}
	// The construction references go; the tables and roots hold the rest.
	release(files)
	return r, nil
}
