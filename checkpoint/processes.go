package checkpoint

import (
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
	"github.com/guestpoll/guestpoll/syscalls"
)

// Processes, pidfds and signalfds in a checkpoint. The saved processes are
// the embedder's (SaveOptions.Processes), the tasks', the ones pidfds and
// signalfds refer to (a signalfd's owner and every process whose queue
// one of its epoll registrations hooks) and, transitively, their parents
// and children; a running process brings its fd table and memory.

// PidfdImage is a pidfd: its file and the process it refers to.
type PidfdImage struct {
	File    int32
	Process int32
}

// SignalfdImage is a signalfd: its file, mask, creating task (-1 if it is
// not saved) and owning process.
type SignalfdImage struct {
	File    int32
	Mask    uint64
	Creator int32
	Owner   int32
}

// addProcesses indexes ps in order, then their relatives (and the table
// and memory of each that runs).
func (s *saver) addProcesses(ps ...*syscalls.Process) error {
	queue := slices.Clone(ps)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if _, ok := s.procIndex[p]; ok {
			continue
		}
		s.procIndex[p] = int32(len(s.procs))
		s.procs = append(s.procs, p)
		if !p.Exited() {
			s.addTable(p.Table())
			if err := s.addMem(p.Memory()); err != nil {
				return fmt.Errorf("process %d: %w", p.Pid(), err)
			}
		}
		queue = append(queue, p.ProcessRelatives()...)
	}
	return nil
}

// addFileProcesses indexes the processes the files from s.procScanned on
// refer to; it reports whether that added a table.
func (s *saver) addFileProcesses() (bool, error) {
	tables := len(s.tables)
	for ; s.procScanned < len(s.files); s.procScanned++ {
		f := s.files[s.procScanned]
		if p := syscalls.PidfdProcess(f); p != nil {
			if err := s.addProcesses(p); err != nil {
				return false, err
			}
		}
		if _, _, owner, ok := syscalls.SignalfdState(f); ok {
			if err := s.addProcesses(append([]*syscalls.Process{owner}, syscalls.SignalfdHookProcesses(f)...)...); err != nil {
				return false, err
			}
		}
	}
	return len(s.tables) > tables, nil
}

// saveProcessFile describes file i if it is a pidfd or a signalfd.
func (s *saver) saveProcessFile(i int32, f *fs.File) bool {
	if p := syscalls.PidfdProcess(f); p != nil {
		s.im.Pidfds = append(s.im.Pidfds, PidfdImage{File: i, Process: s.procIndex[p]})
		return true
	}
	mask, creator, owner, ok := syscalls.SignalfdState(f)
	if !ok {
		return false
	}
	c := int32(-1)
	if k, ok := s.taskIndex[creator]; ok && creator != nil {
		c = int32(k)
	}
	s.im.Signalfds = append(s.im.Signalfds, SignalfdImage{File: i, Mask: mask, Creator: c, Owner: s.procIndex[owner]})
	return true
}

// hookCallers names a signalfd registration's hook by its process.
func (s *saver) hookCallers() epoll.HookCallers {
	return epoll.HookCallers{Save: func(target *fs.File, hook *waiter.Entry) int32 {
		if p := syscalls.SignalfdHookProcess(target, hook); p != nil {
			return s.procIndex[p]
		}
		return -1
	}}
}

// saveProcesses saves the processes, and each task's process.
func (s *saver) saveProcesses() {
	index := func(p *syscalls.Process) int32 { return s.procIndex[p] }
	for _, p := range s.procs {
		table, mem := int32(-1), int32(-1)
		if !p.Exited() {
			table, mem = s.tableIndex[p.Table()], s.memIndex[p.Memory()]
		}
		s.im.Processes = append(s.im.Processes, p.SaveState(index, table, mem))
	}
	for k, t := range s.tasks {
		s.im.Tasks[k].Process = s.procIndex[t.Process()]
	}
}

// validateProcesses checks the processes, the tasks' processes, pidfds,
// signalfds and the processes epoll registrations name.
func (im *Image) validateProcesses() error {
	if err := syscalls.ValidateProcesses(im.Processes, len(im.Tables), len(im.Memories)); err != nil {
		return err
	}
	np := int32(len(im.Processes))
	for k := range im.Tasks {
		// A killed process's tasks may still be there (the embedder
		// stops them): the process need not run.
		if p := im.Tasks[k].Process; p < -1 || p >= np {
			return fmt.Errorf("task %d: process %d out of range", k, p)
		}
	}
	for k, pf := range im.Pidfds {
		if pf.Process < 0 || pf.Process >= np {
			return fmt.Errorf("pidfd %d: process %d out of range", k, pf.Process)
		}
	}
	for k, sf := range im.Signalfds {
		if sf.Owner < 0 || sf.Owner >= np || sf.Creator < -1 || int(sf.Creator) >= len(im.Tasks) {
			return fmt.Errorf("signalfd %d: owner %d or creator %d out of range", k, sf.Owner, sf.Creator)
		}
	}
	for k := range im.Epolls {
		for _, it := range im.Epolls[k].State.Items {
			if it.Caller < -1 || it.Caller >= np {
				return fmt.Errorf("epoll %d: a registration's caller %d is out of range", k, it.Caller)
			}
		}
	}
	return nil
}

// processFileFlagsOK reports whether flags suit a pidfd or signalfd.
func processFileFlagsOK(flags uint32) bool {
	return flags&unix.O_ACCMODE == unix.O_RDWR && flags&^uint32(unix.O_RDWR|unix.O_NONBLOCK) == 0
}

// restoreProcessFiles makes the pidfds and signalfds, to be linked by
// linkProcessFiles once the processes and tasks exist.
func (x *restorer) restoreProcessFiles() {
	for _, pf := range x.im.Pidfds {
		f, link := syscalls.NewUnlinkedPidfd(x.im.Files.Files[pf.File].Flags)
		x.files[pf.File] = f
		x.pidfdLinks = append(x.pidfdLinks, link)
	}
	for _, sf := range x.im.Signalfds {
		f, link := syscalls.NewUnlinkedSignalfd(sf.Mask, x.im.Files.Files[sf.File].Flags)
		x.files[sf.File] = f
		x.signalfdLinks = append(x.signalfdLinks, link)
	}
}

// linkProcessFiles links the pidfds and signalfds to their processes and
// tasks.
func (x *restorer) linkProcessFiles() {
	for k, pf := range x.im.Pidfds {
		x.pidfdLinks[k](x.r.Processes[pf.Process])
	}
	for k, sf := range x.im.Signalfds {
		var creator *syscalls.Task
		if sf.Creator >= 0 {
			creator = x.r.Tasks[sf.Creator]
		}
		x.signalfdLinks[k](creator, x.r.Processes[sf.Owner])
	}
}

// hookCallers gives a signalfd registration's hook its process back.
func (x *restorer) hookCallers() epoll.HookCallers {
	return epoll.HookCallers{Restore: func(i int32) any { return x.r.Processes[i] }}
}
