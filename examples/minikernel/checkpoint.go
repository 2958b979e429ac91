package minikernel

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/guestpoll/guestpoll/checkpoint"
	"github.com/guestpoll/guestpoll/kernel/fs"
)

// types teaches package checkpoint the kernel's two file types of its
// own. Host listeners need no type: they are saved by name (Kernel.hostName).
var types = func() *checkpoint.Registry {
	r := &checkpoint.Registry{}
	r.RegisterFile(checkpoint.FileType{
		Name: "minikernel.listener", Impl: (*Listener)(nil),
		Save: saveListener, Restore: restoreListener,
		// The accept queue is all of a listener's readiness, and it is
		// saved: an edge the guest harvested is not given again.
		Readiness: checkpoint.ReadinessExact,
	})
	r.RegisterFile(checkpoint.FileType{
		Name: "minikernel.signalfd", Impl: (*Signalfd)(nil),
		Save: saveSignalfd, Restore: restoreSignalfd,
		// Readiness is the task's pending signals, which are saved.
		Readiness: checkpoint.ReadinessExact,
	})
	return r
}()

// Types returns the checkpoint registry of the kernel's file types, for an
// embedder that calls package checkpoint itself.
func Types() *checkpoint.Registry { return types }

var errBadState = errors.New("minikernel: bad saved state")

// saveListener writes the backlog and the queued connections, each named
// with SaveContext.Ref (a model socket, saved by package checkpoint).
func saveListener(c *checkpoint.SaveContext, f *fs.File) ([]byte, error) {
	l := f.Impl().(*Listener)
	l.mu.Lock()
	defer l.mu.Unlock()
	b := binary.AppendUvarint(nil, uint64(l.backlog))
	b = binary.AppendUvarint(b, uint64(len(l.pending)))
	for _, conn := range l.pending {
		b = binary.AppendUvarint(b, uint64(c.Ref(conn)))
	}
	return b, nil
}

func restoreListener(c *checkpoint.RestoreContext, data []byte) (*fs.File, error) {
	d := decoder{b: data}
	backlog, n := d.next(), d.next()
	if d.err != nil || backlog > 1<<20 || n > uint64(c.Refs()) {
		return nil, errBadState
	}
	l := &Listener{backlog: int(backlog)}
	for range n {
		i := d.next()
		if d.err != nil || i >= uint64(c.Refs()) {
			l.Release(nil)
			return nil, errBadState
		}
		conn, err := c.Ref(int(i))
		if err != nil {
			l.Release(nil)
			return nil, err
		}
		if _, ok := conn.Impl().(fs.Socket); !ok {
			l.Release(nil)
			return nil, fmt.Errorf("minikernel: queued connection of type %T", conn.Impl())
		}
		conn.IncRef()
		l.pending = append(l.pending, conn)
	}
	if len(d.b) != 0 {
		l.Release(nil)
		return nil, errBadState
	}
	return fs.New(l, c.Flags()), nil
}

// saveSignalfd writes the index of the signalfd's task and its mask.
func saveSignalfd(c *checkpoint.SaveContext, f *fs.File) ([]byte, error) {
	s := f.Impl().(*Signalfd)
	i, ok := c.Task(s.task.Load())
	if !ok {
		return nil, errors.New("minikernel: a signalfd's task is not being saved")
	}
	b := binary.AppendUvarint(nil, uint64(i))
	return binary.LittleEndian.AppendUint64(b, s.mask.Load()), nil
}

// restoreSignalfd builds the signalfd unlinked (its registrations are
// restored on its own queue) and links it to its task once the tasks
// exist.
func restoreSignalfd(c *checkpoint.RestoreContext, data []byte) (*fs.File, error) {
	d := decoder{b: data}
	i := d.next()
	if d.err != nil || len(d.b) != 8 {
		return nil, errBadState
	}
	s := newSignalfd(binary.LittleEndian.Uint64(d.b))
	c.Defer(func(r *checkpoint.Restored) error {
		if i >= uint64(len(r.Tasks)) {
			return errBadState
		}
		s.link(r.Tasks[i])
		return nil
	})
	return fs.New(s, c.Flags()), nil
}

// decoder reads uvarints, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) next() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errBadState
		return 0
	}
	d.b = d.b[n:]
	return v
}
