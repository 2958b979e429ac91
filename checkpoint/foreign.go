package checkpoint

import (
	"fmt"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/syscalls"
)

// SaveContext is what a FileType's Save sees of the checkpoint being
// taken: the object graph, to name other files by index.
type SaveContext struct {
	s    *saver
	self *fs.File
	refs []int32
	// refIndex finds a file among refs once there are many.
	refIndex map[int32]int
}

// Ref adds f to the checkpoint (if it is not in it yet: every file is
// saved once, whoever names it) and returns its index among the files
// this file names, which RestoreContext.Ref takes back. Naming a file
// again returns the same index. A file named here is held by the file
// being saved: it is restored even if no fd table holds it, and the
// restored file keeps it alive only if its Restore takes a reference.
// Ref panics on a nil file or the file being saved.
func (c *SaveContext) Ref(f *fs.File) int {
	if f == nil || f == c.self {
		panic("checkpoint: SaveContext.Ref of a nil file or of the file being saved")
	}
	g := c.s.addFile(f)
	if c.refIndex != nil {
		if j, ok := c.refIndex[g]; ok {
			return j
		}
	} else {
		for j, r := range c.refs {
			if r == g {
				return j
			}
		}
	}
	c.refs = append(c.refs, g)
	if len(c.refs) > 16 {
		if c.refIndex == nil {
			c.refIndex = make(map[int32]int, 2*len(c.refs))
			for j, r := range c.refs {
				c.refIndex[r] = j
			}
		}
		c.refIndex[g] = len(c.refs) - 1
	}
	return len(c.refs) - 1
}

// Task returns t's index among the tasks given to Save (Restored.Tasks
// has the same order), or false if t is not one of them.
func (c *SaveContext) Task(t *syscalls.Task) (int, bool) {
	i, ok := c.s.taskIndex[t]
	return i, ok
}

// RestoreContext is what a FileType's Restore sees of the kernel being
// restored. It stays valid in functions given to Defer.
type RestoreContext struct {
	x         *restorer
	entry     int // index in Image.Foreign
	readiness Readiness
}

// Ref returns the new file of the i-th file the saved file named with
// SaveContext.Ref, without a reference for the caller (IncRef to keep
// it). A foreign file named is restored first, on demand; one that is
// being restored (a cycle of names) is an error: such a link must be made
// in a function given to Defer, when every file exists. Epoll instances
// named here exist but have no registrations yet, and timers are not
// armed until every file exists. An index out of range is an error.
func (c *RestoreContext) Ref(i int) (*fs.File, error) {
	refs := c.x.im.Foreign[c.entry].Refs
	if i < 0 || i >= len(refs) {
		return nil, fmt.Errorf("checkpoint: reference %d of a file that names %d", i, len(refs))
	}
	g := refs[i]
	if f := c.x.files[g]; f != nil {
		return f, nil
	}
	if err := c.x.buildForeign(c.x.foreignOf[g]); err != nil {
		return nil, err
	}
	return c.x.files[g], nil
}

// Refs returns how many files the saved file named.
func (c *RestoreContext) Refs() int { return len(c.x.im.Foreign[c.entry].Refs) }

// Flags returns the saved access mode and status flags, which the
// restored file must have.
func (c *RestoreContext) Flags() uint32 {
	return c.x.im.Files.Files[c.x.im.Foreign[c.entry].File].Flags
}

// Clock returns the new kernel's clock.
func (c *RestoreContext) Clock() fs.Clock { return c.x.clock }

// Kernel returns the new kernel (its tasks do not exist yet).
func (c *RestoreContext) Kernel() *syscalls.Kernel { return c.x.k }

// SetReadiness overrides FileType.Readiness for the file being restored.
// It panics on an unknown value, or when called outside Restore.
func (c *RestoreContext) SetReadiness(r Readiness) {
	if r > ReadinessExact {
		panic(fmt.Sprintf("checkpoint: RestoreContext.SetReadiness(%v)", r))
	}
	if c.x.state[c.entry] != foreignBuilding {
		panic("checkpoint: RestoreContext.SetReadiness called outside FileType.Restore")
	}
	c.readiness = r
}

// Defer has fn called once the whole kernel exists (files with their
// registrations and armed timers, fd tables, tasks and roots), before
// Restore returns: the place to link files that name each other, or a
// file to a task. Functions run in the order they were deferred; an error
// fails the Restore, which then tears the new kernel down.
func (c *RestoreContext) Defer(fn func(r *Restored) error) {
	if fn == nil {
		panic("checkpoint: RestoreContext.Defer(nil)")
	}
	c.x.deferred = append(c.x.deferred, fn)
}
