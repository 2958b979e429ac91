package checkpoint

import (
	"fmt"
	"reflect"

	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/syscalls"
)

// Registry holds the foreign file types and guest memory types an embedder
// teaches Save and Restore (SaveOptions.Types, RestoreOptions.Types). The
// zero value is empty and ready to use. Register every type before the
// registry is first used; registering is not safe while a Save or Restore
// uses the registry.
type Registry struct {
	files     map[string]*FileType
	fileImpls map[reflect.Type]*FileType
	mems      map[string]*MemoryType
	memImpls  map[reflect.Type]*MemoryType
}

// Readiness says how a restored foreign file's readiness relates to the
// saved one, and so what Restore does with the epoll registrations that
// watch it.
type Readiness uint8

const (
	// ReadinessRepolled: the restored file's readiness may differ from the
	// saved one (its state lives outside the checkpoint, as a host fd's
	// does). Each registration on it is polled once at the end of Restore
	// and queued if ready, as an epoll_ctl ADD does, so an edge-triggered
	// registration may report one more event. The default.
	ReadinessRepolled Readiness = iota
	// ReadinessExact: the restored file's readiness is exactly the saved
	// one. Registrations come back with their saved ready-list state and
	// nothing is re-polled, so an edge already consumed is not reported
	// again.
	ReadinessExact
)

func (r Readiness) String() string {
	switch r {
	case ReadinessRepolled:
		return "repolled"
	case ReadinessExact:
		return "exact"
	}
	return fmt.Sprintf("Readiness(%d)", uint8(r))
}

// FileType saves and restores the files of one fs.Impl type of the
// embedder's (files of packages fs, epoll and hostfd need none).
type FileType struct {
	// Name identifies the type in a checkpoint: unique among a registry's
	// file types, and stable across the programs that save and restore.
	Name string
	// Impl is a value of the type (a nil pointer of it will do): Save
	// picks this FileType for every file whose Impl has Impl's dynamic
	// type.
	Impl fs.Impl
	// Save returns the file's state as bytes in a format of the type's
	// own. It runs in a quiescent kernel (see the package doc) and may
	// name other files with c.Ref, which saves them too. It must not
	// change the file.
	Save func(c *SaveContext, f *fs.File) ([]byte, error)
	// Restore builds a new file (with one reference, which Restore takes
	// over) from what Save returned. Its status flags must be c.Flags().
	// It gets the files Save named with c.Ref(i); c.Defer runs work once
	// the whole kernel exists. The data comes from a checkpoint that may
	// be corrupt: a bad one must be an error, never a panic.
	Restore func(c *RestoreContext, data []byte) (*fs.File, error)
	// Readiness is the type's answer for every restored file of it
	// (ReadinessRepolled unless set); RestoreContext.SetReadiness
	// overrides it for one file.
	Readiness Readiness
}

// MemoryType saves and restores a guest memory type of the embedder's
// (syscalls.GuestMemory needs none): a Memory that a task uses or that
// SaveOptions.Memories names.
type MemoryType struct {
	// Name identifies the type in a checkpoint, as FileType.Name does.
	Name string
	// Impl is a value of the type (a nil pointer of it will do).
	Impl syscalls.Memory
	// Save returns the memory's contents in a format of the type's own.
	Save func(m syscalls.Memory) ([]byte, error)
	// Restore builds a new memory from what Save returned; bad data must
	// be an error, never a panic.
	Restore func(data []byte) (syscalls.Memory, error)
}

// RegisterFile adds a foreign file type. It panics, naming the misuse, on
// an empty name, a nil Impl, Save or Restore, an epoll instance's Impl, an
// unknown Readiness, or a name or Impl type registered before.
func (r *Registry) RegisterFile(t FileType) {
	switch {
	case t.Name == "":
		panic("checkpoint: Registry.RegisterFile with an empty FileType.Name")
	case t.Impl == nil || t.Save == nil || t.Restore == nil:
		panic(fmt.Sprintf("checkpoint: Registry.RegisterFile(%q) with a nil Impl, Save or Restore", t.Name))
	case reflect.TypeOf(t.Impl) == reflect.TypeFor[*epoll.EventPoll]():
		panic(fmt.Sprintf("checkpoint: Registry.RegisterFile(%q) of epoll instances, which this package saves itself", t.Name))
	case t.Readiness > ReadinessExact:
		panic(fmt.Sprintf("checkpoint: Registry.RegisterFile(%q) with an unknown %v", t.Name, t.Readiness))
	case r.files[t.Name] != nil:
		panic(fmt.Sprintf("checkpoint: Registry.RegisterFile: file type %q registered twice", t.Name))
	case r.fileImpls[reflect.TypeOf(t.Impl)] != nil:
		panic(fmt.Sprintf("checkpoint: Registry.RegisterFile(%q): Impl type %T already registered as %q",
			t.Name, t.Impl, r.fileImpls[reflect.TypeOf(t.Impl)].Name))
	}
	if r.files == nil {
		r.files = map[string]*FileType{}
		r.fileImpls = map[reflect.Type]*FileType{}
	}
	r.files[t.Name] = &t
	r.fileImpls[reflect.TypeOf(t.Impl)] = &t
}

// RegisterMemory adds a guest memory type. It panics, naming the misuse,
// on an empty name, a nil Impl, Save or Restore, or a name or Impl type
// registered before.
func (r *Registry) RegisterMemory(t MemoryType) {
	switch {
	case t.Name == "":
		panic("checkpoint: Registry.RegisterMemory with an empty MemoryType.Name")
	case t.Impl == nil || t.Save == nil || t.Restore == nil:
		panic(fmt.Sprintf("checkpoint: Registry.RegisterMemory(%q) with a nil Impl, Save or Restore", t.Name))
	case r.mems[t.Name] != nil:
		panic(fmt.Sprintf("checkpoint: Registry.RegisterMemory: memory type %q registered twice", t.Name))
	case r.memImpls[reflect.TypeOf(t.Impl)] != nil:
		panic(fmt.Sprintf("checkpoint: Registry.RegisterMemory(%q): Impl type %T already registered", t.Name, t.Impl))
	}
	if r.mems == nil {
		r.mems = map[string]*MemoryType{}
		r.memImpls = map[reflect.Type]*MemoryType{}
	}
	r.mems[t.Name] = &t
	r.memImpls[reflect.TypeOf(t.Impl)] = &t
}

// fileTypeOf returns the registered type of f, or nil.
func (r *Registry) fileTypeOf(f *fs.File) *FileType {
	if r == nil || r.fileImpls == nil {
		return nil
	}
	return r.fileImpls[reflect.TypeOf(f.Impl())]
}

// fileType returns the type registered under name, or nil.
func (r *Registry) fileType(name string) *FileType {
	if r == nil {
		return nil
	}
	return r.files[name]
}

// memoryTypeOf returns the registered type of m, or nil.
func (r *Registry) memoryTypeOf(m syscalls.Memory) *MemoryType {
	if r == nil || r.memImpls == nil {
		return nil
	}
	return r.memImpls[reflect.TypeOf(m)]
}

// memoryType returns the type registered under name, or nil.
func (r *Registry) memoryType(name string) *MemoryType {
	if r == nil {
		return nil
	}
	return r.mems[name]
}
