package checkpoint

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/syscalls"
)

// foreignState is where the restore of one foreign file stands.
type foreignState uint8

const (
	foreignPending  foreignState = iota // not started
	foreignBuilding                     // its FileType.Restore is running
	foreignBuilt                        // its file is in restorer.files
)

// restorer is one restore of a validated image. Each step adds to what
// undo must tear down if a later step fails.
type restorer struct {
	im    *Image
	valid *epoll.ValidInstances
	opts  *RestoreOptions
	clock fs.Clock
	k     *syscalls.Kernel
	// hosts are the fresh host fds until they move into files.
	hosts []*fs.File
	// files holds one construction reference on every file built so far.
	files []*fs.File
	// foreignOf is each file's entry in im.Foreign, or -1.
	foreignOf []int32
	state     []foreignState
	readiness []Readiness
	deferred  []func(*Restored) error
	r         *Restored
	// pidfdLinks and signalfdLinks complete the pidfds and signalfds once
	// processes and tasks exist (processes.go).
	pidfdLinks    []func(*syscalls.Process)
	signalfdLinks []func(*syscalls.Task, *syscalls.Process)
}

// restore builds an image that validate accepted (valid is its result).
func restore(im *Image, valid *epoll.ValidInstances, opts RestoreOptions) (*Restored, error) {
	x := &restorer{im: im, valid: valid, opts: &opts, clock: opts.Clock, r: &Restored{}}
	if x.clock == nil {
		x.clock = fs.RealClock{}
	}
	if err := x.build(); err != nil {
		x.undo()
		return nil, err
	}
	// The construction references go; tables, roots and files hold the rest.
	releaseAll(x.files)
	return x.r, nil
}

// build runs the steps in order: first those that can fail on the
// embedder's answers (memories, host fds, foreign files), then the
// model's objects, registrations last but for the deferred links.
func (x *restorer) build() error {
	if err := x.restoreMemories(); err != nil {
		return err
	}
	if err := x.restoreHosts(); err != nil {
		return err
	}
	x.k = syscalls.RestoreKernel(&x.im.Kernel, x.clock)
	x.r.Kernel = x.k
	files, names, startTimers, err := fs.RestoreFilesAndNames(&x.im.Files, x.clock)
	if err != nil {
		return err
	}
	x.k.SetNames(names)
	x.files = files
	for i, h := range x.im.Hosts {
		x.files[h.File], x.hosts[i] = x.hosts[i], nil
	}
	for _, ep := range x.im.Epolls {
		f := epoll.NewFile(x.k.EpollDomain())
		_ = f.SetStatusFlags(x.im.Files.Files[ep.File].Flags)
		x.files[ep.File] = f
	}
	x.restoreProcessFiles()
	if err := x.restoreForeign(); err != nil {
		return err
	}
	// Tables, processes and tasks before the registrations: a signalfd's
	// hook is on a process's queue.
	if err := x.restoreTablesAndTasks(); err != nil {
		return err
	}
	x.linkProcessFiles()
	if err := epoll.RestoreInstances(x.k.EpollDomain(), x.valid, x.files, x.repollTargets(), x.hookCallers()); err != nil {
		return err
	}
	startTimers()
	if err := x.k.RestoreInos(&x.im.Kernel, x.files); err != nil {
		return err
	}
	x.restoreRoots()
	for _, fn := range x.deferred {
		if err := fn(x.r); err != nil {
			return fmt.Errorf("checkpoint: a deferred restore step failed: %w", err)
		}
	}
	return nil
}

// undo tears down what build made before it failed.
func (x *restorer) undo() {
	for _, t := range x.r.Tasks {
		t.Exit()
	}
	for _, t := range x.r.Tables {
		t.CloseAll()
	}
	releaseAll(x.r.Roots)
	releaseAll(x.hosts)
	releaseAll(x.files)
}

func releaseAll(files []*fs.File) {
	for _, f := range files {
		if f != nil {
			f.DecRef()
		}
	}
}

func (x *restorer) restoreMemories() error {
	for i := range x.im.Memories {
		mi := &x.im.Memories[i]
		if mi.Type == "" {
			m, err := syscalls.RestoreMemory(&mi.Guest)
			if err != nil { // validated: cannot happen
				return err
			}
			x.r.Memories = append(x.r.Memories, m)
			continue
		}
		t := x.opts.Types.memoryType(mi.Type)
		if t == nil {
			return fmt.Errorf("%w: memory %d has type %q", ErrUnknownType, i, mi.Type)
		}
		m, err := t.Restore(bytes.Clone(mi.Data))
		if err == nil && m == nil {
			err = errors.New("MemoryType.Restore returned no memory")
		}
		if err != nil {
			return fmt.Errorf("checkpoint: restoring memory %d (type %q): %w", i, mi.Type, err)
		}
		x.r.Memories = append(x.r.Memories, m)
	}
	return nil
}

// restoreHosts asks the embedder for a fresh fd for every saved name.
func (x *restorer) restoreHosts() error {
	x.hosts = make([]*fs.File, len(x.im.Hosts))
	for i, h := range x.im.Hosts {
		flags := x.im.Files.Files[h.File].Flags
		var f *fs.File
		err := fmt.Errorf("%w: %q (RestoreOptions.Host is nil)", ErrMissingHost, h.Name)
		if x.opts.Host != nil {
			f, err = x.opts.Host(h.Name, flags)
		}
		if err == nil && (f == nil || f.Pollable() == nil) {
			err = fmt.Errorf("not a pollable file")
		}
		if err == nil {
			err = f.SetStatusFlags(flags)
		}
		if err != nil {
			if f != nil {
				f.DecRef()
			}
			if !errors.Is(err, ErrMissingHost) {
				err = fmt.Errorf("%w: %q: %v", ErrMissingHost, h.Name, err)
			}
			return err
		}
		x.hosts[i] = f
	}
	return nil
}

// restoreForeign builds every foreign file, each after the foreign files
// it names (on demand, through RestoreContext.Ref).
func (x *restorer) restoreForeign() error {
	n := len(x.im.Foreign)
	x.foreignOf = make([]int32, len(x.files))
	for i := range x.foreignOf {
		x.foreignOf[i] = -1
	}
	for k := range x.im.Foreign {
		x.foreignOf[x.im.Foreign[k].File] = int32(k)
	}
	x.state = make([]foreignState, n)
	x.readiness = make([]Readiness, n)
	for k := range x.im.Foreign {
		if err := x.buildForeign(int32(k)); err != nil {
			return err
		}
	}
	return nil
}

// buildForeign restores foreign file k unless it is built already.
func (x *restorer) buildForeign(k int32) error {
	fi := &x.im.Foreign[k]
	switch x.state[k] {
	case foreignBuilt:
		return nil
	case foreignBuilding:
		return fmt.Errorf("checkpoint: foreign file %d (type %q) names itself through a cycle of Refs (link such files in RestoreContext.Defer)", fi.File, fi.Type)
	}
	t := x.opts.Types.fileType(fi.Type)
	if t == nil {
		return fmt.Errorf("%w: file %d has type %q", ErrUnknownType, fi.File, fi.Type)
	}
	x.state[k] = foreignBuilding
	c := &RestoreContext{x: x, entry: int(k), readiness: t.Readiness}
	f, err := t.Restore(c, bytes.Clone(fi.Data))
	if err == nil && f == nil {
		err = errors.New("FileType.Restore returned no file")
	}
	if err != nil {
		return fmt.Errorf("checkpoint: restoring file %d (type %q): %w", fi.File, fi.Type, err)
	}
	for _, r := range fi.Refs {
		if x.files[r] == f {
			panic(fmt.Sprintf("checkpoint: FileType.Restore of %q returned a file it names with RestoreContext.Ref, not a new one", fi.Type))
		}
	}
	x.files[fi.File] = f
	x.state[k] = foreignBuilt
	x.readiness[k] = c.readiness
	if saved := x.im.Files.Files[fi.File].Flags; f.StatusFlags() != saved {
		return fmt.Errorf("checkpoint: file %d (type %q) restored with flags %#x, saved with %#x", fi.File, fi.Type, f.StatusFlags(), saved)
	}
	if (f.Pollable() != nil) != fi.Pollable {
		return fmt.Errorf("checkpoint: file %d (type %q) restored pollable=%v, saved pollable=%v", fi.File, fi.Type, f.Pollable() != nil, fi.Pollable)
	}
	return nil
}

// repollTargets says which files' registrations are polled again: host
// fds, and foreign files whose readiness is not restored exactly.
func (x *restorer) repollTargets() func(i int32) bool {
	repoll := make([]bool, len(x.files))
	for _, h := range x.im.Hosts {
		repoll[h.File] = true
	}
	for k, fi := range x.im.Foreign {
		repoll[fi.File] = x.readiness[k] == ReadinessRepolled
	}
	return func(i int32) bool { return repoll[i] }
}

func (x *restorer) restoreTablesAndTasks() error {
	for i := range x.im.Tables {
		t, err := fd.RestoreTable(&x.im.Tables[i], x.files)
		if err != nil { // validated: cannot happen
			return err
		}
		x.r.Tables = append(x.r.Tables, t)
	}
	procs, err := syscalls.RestoreProcesses(x.k, x.im.Processes, x.r.Tables, x.r.Memories)
	if err != nil {
		return err
	}
	x.r.Processes = procs
	for i := range x.im.Tasks {
		st := &x.im.Tasks[i]
		var t *syscalls.Task
		if st.Process >= 0 {
			t, err = syscalls.RestoreTaskIn(procs[st.Process], st, x.r.Tables[st.Table], x.r.Memories[st.Memory])
		} else {
			t, err = syscalls.RestoreTask(x.k, st, x.r.Tables[st.Table], x.r.Memories[st.Memory])
		}
		if err != nil {
			return err
		}
		x.r.Tasks = append(x.r.Tasks, t)
	}
	return nil
}

func (x *restorer) restoreRoots() {
	for _, ri := range x.im.Roots {
		x.files[ri].IncRef()
		x.r.Roots = append(x.r.Roots, x.files[ri])
	}
}
