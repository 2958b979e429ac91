package checkpoint

import (
	"errors"
	"fmt"

	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/syscalls"
)

// Image is a checkpoint as values: the object graph with every shared
// object named by its index. Files are indexed by Files.Files; the files
// of other packages (KindForeign) are described by exactly one entry of
// Epolls, Hosts or Foreign.
type Image struct {
	Kernel   syscalls.KernelState
	Files    fs.FilesState
	Epolls   []EpollImage
	Hosts    []HostImage
	Foreign  []ForeignImage
	Tables   []fd.TableState
	Memories []MemoryImage
	Tasks    []syscalls.TaskState
	// Processes are the saved processes (processes.go); Pidfds and
	// Signalfds describe the foreign files that are pidfds and signalfds.
	Processes []syscalls.ProcessState
	Pidfds    []PidfdImage
	Signalfds []SignalfdImage
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

// ForeignImage is a file of a type registered with Registry.RegisterFile.
type ForeignImage struct {
	File     int32  // the file (KindForeign in Files)
	Type     string // FileType.Name
	Pollable bool   // whether the file has poll operations (fs.Pollable)
	// Refs are the files the type named with SaveContext.Ref, in the order
	// of their first naming: RestoreContext.Ref(i) is Refs[i]'s new file.
	// A file named here is held by this one (it need not be in a table).
	Refs []int32
	Data []byte // what FileType.Save returned
}

// MemoryImage is one guest address space.
type MemoryImage struct {
	// Type is "" for a syscalls.GuestMemory (saved in Guest), else the
	// MemoryType.Name of an embedder's type (saved in Data).
	Type  string
	Guest syscalls.MemoryState
	Data  []byte
}

// MaxTableSlots bounds the fd table slots a checkpoint may need in all
// (the sum over its tables of the highest fd + 1), so that a few bytes of
// input cannot make Restore allocate gigabytes: four tables' worth at
// Linux's nr_open.
const MaxTableSlots = 4 * fd.NrOpen

// ErrMissingHost is wrapped by Restore's error when the embedder has no
// host fd for a saved name.
var ErrMissingHost = errors.New("checkpoint: no host fd for a saved name")

// ErrUnknownType is wrapped by Restore's error when a checkpoint holds a
// foreign file or memory type that RestoreOptions.Types does not know.
var ErrUnknownType = errors.New("checkpoint: type not registered")

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
	Memories []syscalls.Memory
	// Processes are processes the embedder holds besides the tasks' (a
	// child that exited, or whose task is not running). They come first
	// in Restored.Processes, followed by the tasks' and the others the
	// checkpoint holds (relatives, pidfds' and signalfds' processes).
	Processes []*syscalls.Process
	// HostName names an imported host fd; Restore asks RestoreOptions.Host
	// for a fresh fd under that name. Required if any saved file is a
	// host fd; names must be unique.
	HostName func(f *fs.File) (string, error)
	// Types are the embedder's file and memory types. A file of another
	// package that is not an epoll instance, a host fd or a registered
	// type makes Save fail, as does a memory that is neither a
	// syscalls.GuestMemory nor of a registered type.
	Types *Registry
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
	// Types are the embedder's file and memory types, by the names Save
	// saved them under (a missing one is ErrUnknownType).
	Types *Registry
}

// Restored is a restored kernel: its tasks in Save's order, each with the
// restored fd table and memory, and the roots in SaveOptions.Roots' order
// (each with one reference, owned by the caller).
type Restored struct {
	Kernel    *syscalls.Kernel
	Tasks     []*syscalls.Task
	Tables    []*fd.Table
	Memories  []syscalls.Memory
	Processes []*syscalls.Process
	Roots     []*fs.File
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
// error nothing of the new kernel survives (host fds obtained and foreign
// files built so far are released).
func RestoreImage(im *Image, opts RestoreOptions) (*Restored, error) {
	valid, err := im.validate()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return restore(im, valid, opts)
}
