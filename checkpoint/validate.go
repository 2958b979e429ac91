package checkpoint

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fs"
)

// fileOwner says which entry describes a foreign file.
type fileOwner uint8

const (
	ownedByNobody fileOwner = iota // a model file, or a foreign file not yet seen
	ownedByEpoll
	ownedByHost
	ownedByType        // an entry of Image.Foreign
	ownedByProcessFile // an entry of Image.Pidfds or Image.Signalfds
)

// Validate checks the whole image: every package's own rules, and the
// graph's: each foreign file is exactly one instance, host fd or file of
// a registered type, every file is reachable from a saved fd table or a
// root (directly, or named by a reachable foreign file), tasks name saved
// tables and memories (a table or memory no task uses is the embedder's).
func (im *Image) Validate() error {
	_, err := im.validate()
	return err
}

func (im *Image) validate() (*epoll.ValidInstances, error) {
	if err := im.Files.Validate(); err != nil {
		return nil, err
	}
	owner, err := im.validateOwners()
	if err != nil {
		return nil, err
	}
	states := make([]epoll.InstanceState, len(im.Epolls))
	self := make([]int32, len(im.Epolls))
	for k := range im.Epolls {
		states[k], self[k] = im.Epolls[k].State, im.Epolls[k].File
	}
	valid, err := epoll.ValidateInstances(states, self, im.fileInfo(owner))
	if err != nil {
		return nil, err
	}
	if err := im.validateHeld(); err != nil {
		return nil, err
	}
	if err := im.validateMemoriesAndTasks(); err != nil {
		return nil, err
	}
	if err := im.validateProcesses(); err != nil {
		return nil, err
	}
	if err := im.Kernel.Validate(len(im.Files.Files)); err != nil {
		return nil, err
	}
	return valid, nil
}

// validateOwners checks that every foreign file is described by exactly
// one entry of Epolls, Hosts or Foreign, and each entry on its own.
func (im *Image) validateOwners() ([]fileOwner, error) {
	n := len(im.Files.Files)
	owner := make([]fileOwner, n)
	claim := func(what string, k int, i int32, o fileOwner) error {
		if i < 0 || int(i) >= n || owner[i] != ownedByNobody || im.Files.Files[i].Kind != fs.KindForeign {
			return fmt.Errorf("%s %d: file %d out of range, not foreign or described twice", what, k, i)
		}
		owner[i] = o
		return nil
	}
	for k, ep := range im.Epolls {
		if err := claim("epoll", k, ep.File, ownedByEpoll); err != nil {
			return nil, err
		}
		if fl := im.Files.Files[ep.File].Flags; fl&unix.O_ACCMODE != unix.O_RDWR || fl&^uint32(unix.O_RDWR|unix.O_NONBLOCK|unix.O_APPEND) != 0 {
			return nil, fmt.Errorf("epoll %d: flags %#x", k, fl)
		}
	}
	names := map[string]bool{}
	for k, h := range im.Hosts {
		if err := claim("host", k, h.File, ownedByHost); err != nil {
			return nil, err
		}
		if h.Name == "" || names[h.Name] {
			return nil, fmt.Errorf("host %d: name %q empty or repeated", k, h.Name)
		}
		names[h.Name] = true
	}
	for k, pf := range im.Pidfds {
		if err := claim("pidfd", k, pf.File, ownedByProcessFile); err != nil {
			return nil, err
		}
		if !processFileFlagsOK(im.Files.Files[pf.File].Flags) {
			return nil, fmt.Errorf("pidfd %d: flags %#x", k, im.Files.Files[pf.File].Flags)
		}
	}
	for k, sf := range im.Signalfds {
		if err := claim("signalfd", k, sf.File, ownedByProcessFile); err != nil {
			return nil, err
		}
		if !processFileFlagsOK(im.Files.Files[sf.File].Flags) {
			return nil, fmt.Errorf("signalfd %d: flags %#x", k, im.Files.Files[sf.File].Flags)
		}
	}
	for k, fi := range im.Foreign {
		if err := claim("foreign file", k, fi.File, ownedByType); err != nil {
			return nil, err
		}
		if fi.Type == "" {
			return nil, fmt.Errorf("foreign file %d: empty type name", k)
		}
		for _, r := range fi.Refs {
			if r < 0 || int(r) >= n || r == fi.File {
				return nil, fmt.Errorf("foreign file %d: reference to file %d out of range or to itself", k, r)
			}
		}
	}
	for i := range im.Files.Files {
		if im.Files.Files[i].Kind == fs.KindForeign && owner[i] == ownedByNobody {
			return nil, fmt.Errorf("file %d: foreign file described by nobody", i)
		}
	}
	return owner, nil
}

// fileInfo describes im's files to package epoll.
func (im *Image) fileInfo(owner []fileOwner) epoll.FileInfo {
	n := len(im.Files.Files)
	fi := epoll.FileInfo{Pollable: make([]bool, n), Instance: make([]int32, n)}
	for i := range im.Files.Files {
		fi.Pollable[i] = im.Files.Files[i].Kind != fs.KindRegular && owner[i] != ownedByType
		fi.Instance[i] = -1
	}
	for _, f := range im.Foreign {
		fi.Pollable[f.File] = f.Pollable
	}
	for k, ep := range im.Epolls {
		fi.Instance[ep.File] = int32(k)
	}
	return fi
}

// validateHeld checks the fd tables, and that every file is held: by a
// table, as a root, or named by a foreign file that is held.
func (im *Image) validateHeld() error {
	n := len(im.Files.Files)
	held := make([]bool, n)
	var stack []int32
	hold := func(i int32) {
		if !held[i] {
			held[i] = true
			stack = append(stack, i)
		}
	}
	slots := 0
	for k := range im.Tables {
		if err := im.Tables[k].Validate(n); err != nil {
			return fmt.Errorf("table %d: %v", k, err)
		}
		if l := len(im.Tables[k].Slots); l > 0 {
			slots += int(im.Tables[k].Slots[l-1].Fd) + 1
		}
		if slots > MaxTableSlots {
			return fmt.Errorf("fd tables need more than %d slots in all", MaxTableSlots)
		}
		for _, s := range im.Tables[k].Slots {
			hold(s.File)
		}
	}
	for _, r := range im.Roots {
		if r < 0 || int(r) >= n {
			return fmt.Errorf("root file %d out of range", r)
		}
		hold(r)
	}
	foreignOf := make(map[int32]int, len(im.Foreign))
	for k, fi := range im.Foreign {
		foreignOf[fi.File] = k
	}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if k, ok := foreignOf[i]; ok {
			for _, r := range im.Foreign[k].Refs {
				hold(r)
			}
		}
	}
	for i, h := range held {
		if !h {
			return fmt.Errorf("file %d is held by no fd table, root or foreign file", i)
		}
	}
	return nil
}

func (im *Image) validateMemoriesAndTasks() error {
	for k := range im.Memories {
		m := &im.Memories[k]
		if m.Type == "" {
			if len(m.Data) != 0 {
				return fmt.Errorf("memory %d: guest memory with type data", k)
			}
			if err := m.Guest.Validate(); err != nil {
				return fmt.Errorf("memory %d: %v", k, err)
			}
		} else if len(m.Guest.Maps) != 0 || len(m.Guest.Pages) != 0 {
			return fmt.Errorf("memory %d: type %q with guest memory state", k, m.Type)
		}
	}
	for k := range im.Tasks {
		if err := im.Tasks[k].Validate(len(im.Tables), len(im.Memories)); err != nil {
			return fmt.Errorf("task %d: %v", k, err)
		}
	}
	return nil
}
