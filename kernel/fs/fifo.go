package fs

import (
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// FIFOs and the minimal path namespace they live in.
//
// A PathNamespace holds directories and FIFOs only: mkdirat and
// mknodat(S_IFIFO) create them, openat opens a FIFO. Every other lookup of
// a missing name is ENOENT; a path through a FIFO is ENOTDIR. The root
// directory exists, with an empty /tmp in it.
//
// A FIFO has a pipe while any file of it is open or being opened (Linux's
// inode->i_pipe with pipe->files); the last close drops the pipe and its
// data, and the next open makes a fresh one. Opening follows fifo_open:
//
//   - O_RDONLY counts a reader and wakes both queues (key 0, wake-all) if it
//     is the first; without writers, O_NONBLOCK returns at once with a file
//     that reports no HUP until a writer has come and gone (f_pipe), and a
//     blocking open waits until a writer opens;
//   - O_WRONLY with O_NONBLOCK and no reader is ENXIO; otherwise it counts a
//     writer, wakes both queues if first, and without readers waits for one;
//   - O_RDWR never waits;
//   - a wait is interruptible (ERESTARTSYS); giving up uncounts the opener
//     and, if it was the last of its side, wakes the other side (a reader
//     wake-one key 0 on the writers' queue, a writer wake-all on the
//     readers' queue).
//
// A task waiting in open sleeps on the readers' queue as a plain waiter,
// whichever side it opens.

// PathNamespace is a kernel's minimal file-system namespace.
type PathNamespace struct {
	mu   sync.Mutex // guards every directory's entries
	root *dirNode   // +checklocksignore: not guarded (immutable; the tool guesses from reads under mu)
}

type dirNode struct {
	entries map[string]any // *dirNode or *fifoNode
}

// fifoNode is one FIFO inode. Its pipe's fifo is itself (the alias tells
// the tool).
//
// +checklocksalias:pipe.fifo.mu=mu
type fifoNode struct {
	mu sync.Mutex // guards pipe and pipe.files; taken before the pipe's mu
	// pipe is the current pipe, nil while no file is open or opening.
	// +checklocks:mu
	pipe *pipe
	// unlinked is set when the node leaves the namespace (fdinfo's inode
	// numbering may then forget it once it is closed).
	// +checklocks:mu
	unlinked bool
}

// NewPathNamespace returns a namespace holding "/" and "/tmp".
func NewPathNamespace() *PathNamespace {
	tmp := &dirNode{entries: map[string]any{}}
	return &PathNamespace{root: &dirNode{entries: map[string]any{"tmp": tmp}}}
}

// lookupParentLocked resolves all but the last component of an absolute
// path: ENOENT for a missing directory, ENOTDIR for a FIFO on the way.
// The last component is returned; an empty one (the root, or a trailing
// slash) is left to the caller.
//
// +checklocks:ns.mu
func (ns *PathNamespace) lookupParentLocked(path string) (*dirNode, string, error) {
	if path == "" {
		return nil, "", unix.ENOENT
	}
	if len(path) >= unix.PathMax {
		return nil, "", unix.ENAMETOOLONG
	}
	parts := strings.Split(strings.TrimLeft(path, "/"), "/")
	dir := ns.root
	for _, name := range parts[:len(parts)-1] {
		if name == "" || name == "." {
			continue
		}
		if name == ".." {
			return nil, "", unix.EOPNOTSUPP // not modelled
		}
		next, ok := dir.entries[name]
		switch n := next.(type) {
		case *dirNode:
			dir = n
		case *fifoNode:
			return nil, "", unix.ENOTDIR
		default:
			if !ok {
				return nil, "", unix.ENOENT
			}
		}
	}
	return dir, parts[len(parts)-1], nil
}

// Mkdir is mkdirat: EEXIST when the name exists, ENOENT or ENOTDIR for the
// path to it. The mode is not kept.
func (ns *PathNamespace) Mkdir(path string) error {
	return ns.create(path, func() any { return &dirNode{entries: map[string]any{}} })
}

// Mknod is mknodat. mode's file type must be S_IFIFO (EINVAL for bits
// that name no type, EPERM for S_IFDIR); the other types are not
// modelled (EPERM, as for a task without CAP_MKNOD, also for S_IFREG).
func (ns *PathNamespace) Mknod(path string, mode uint32) error {
	switch mode & unix.S_IFMT {
	case unix.S_IFIFO:
	case 0, unix.S_IFREG, unix.S_IFCHR, unix.S_IFBLK, unix.S_IFSOCK, unix.S_IFDIR:
		return unix.EPERM
	default:
		return unix.EINVAL
	}
	return ns.create(path, func() any { return &fifoNode{} })
}

func (ns *PathNamespace) create(path string, node func() any) error {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	dir, name, err := ns.lookupParentLocked(path)
	if err != nil {
		return err
	}
	if name == "" || name == "." || name == ".." {
		return unix.EEXIST
	}
	if len(name) > 255 {
		return unix.ENAMETOOLONG
	}
	if _, ok := dir.entries[name]; ok {
		return unix.EEXIST
	}
	dir.entries[name] = node()
	return nil
}

// Unlink is unlinkat: with rmdir (AT_REMOVEDIR) it removes an empty
// directory (ENOTEMPTY, ENOTDIR for a FIFO, EBUSY for the root),
// otherwise a FIFO (EISDIR for a directory). Files open on a removed FIFO
// keep its pipe.
func (ns *PathNamespace) Unlink(path string, rmdir bool) error {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	dir, name, err := ns.lookupParentLocked(path)
	if err != nil {
		return err
	}
	if name == "" || name == "." {
		if rmdir {
			return unix.EBUSY
		}
		return unix.EISDIR
	}
	n, ok := dir.entries[name]
	if !ok {
		return unix.ENOENT
	}
	d, isDir := n.(*dirNode)
	switch {
	case rmdir && !isDir:
		return unix.ENOTDIR
	case !rmdir && isDir:
		return unix.EISDIR
	case isDir && len(d.entries) > 0:
		return unix.ENOTEMPTY
	}
	if f, ok := n.(*fifoNode); ok {
		f.mu.Lock()
		f.unlinked = true
		f.mu.Unlock()
	}
	delete(dir.entries, name)
	return nil
}

// connectSocket is a connect's lookup of a filesystem address: no path
// names a socket in the model.
func (ns *PathNamespace) connectSocket(path string) error {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	dir, name, err := ns.lookupParentLocked(path)
	if err != nil {
		return err
	}
	if _, ok := dir.entries[name]; !ok && name != "" && name != "." {
		return unix.ENOENT
	}
	return unix.ECONNREFUSED
}

// bindSocket is a bind to a filesystem address: EADDRINUSE if the path
// exists; making a socket inode is not modelled.
func (ns *PathNamespace) bindSocket(path string) error {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	dir, name, err := ns.lookupParentLocked(path)
	if err != nil {
		return err
	}
	if _, ok := dir.entries[name]; ok || name == "" || name == "." {
		return unix.EADDRINUSE
	}
	return unix.EOPNOTSUPP
}

// lookupFIFO finds the FIFO at path for an open with flags: ENOENT,
// ENOTDIR, EEXIST (O_CREAT|O_EXCL), or for a directory EISDIR (opened for
// writing) or EOPNOTSUPP (directories cannot be opened in the model).
func (ns *PathNamespace) lookupFIFO(path string, flags uint32) (*fifoNode, error) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	dir, name, err := ns.lookupParentLocked(path)
	if err != nil {
		return nil, err
	}
	var n any = dir
	if name != "" && name != "." {
		var ok bool
		if n, ok = dir.entries[name]; !ok {
			if flags&unix.O_CREAT != 0 {
				return nil, unix.EOPNOTSUPP // regular files are not modelled
			}
			return nil, unix.ENOENT
		}
	}
	if flags&(unix.O_CREAT|unix.O_EXCL) == unix.O_CREAT|unix.O_EXCL {
		return nil, unix.EEXIST
	}
	fifo, ok := n.(*fifoNode)
	if !ok {
		if flags&unix.O_ACCMODE != unix.O_RDONLY || flags&unix.O_CREAT != 0 {
			return nil, unix.EISDIR
		}
		return nil, unix.EOPNOTSUPP
	}
	if flags&unix.O_DIRECTORY != 0 {
		return nil, unix.ENOTDIR
	}
	return fifo, nil
}

// getPipe returns the FIFO's pipe, making one if needed, and counts the
// opener among its files.
func (n *fifoNode) getPipe() *pipe {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.pipe == nil {
		n.pipe = newPipeState()
		n.pipe.rCounter, n.pipe.wCounter = 0, 0 // +checklocksignore: the new pipe is reached only through n.pipe, under n.mu.
		n.pipe.fifo = n
	}
	n.pipe.files++
	return n.pipe
}

// putPipe uncounts a file (or an opener that failed); the last one drops
// the pipe.
func (n *fifoNode) putPipe(p *pipe) {
	n.mu.Lock()
	defer n.mu.Unlock()
	p.files--                        // +checklocksignore: p.fifo is n.
	if p.files == 0 && n.pipe == p { // +checklocksignore: p.fifo is n.
		n.pipe = nil
	}
}

// FIFOOpen is an open(2) of a FIFO in progress (OpenFIFO). When Waiting
// reports true the opener must wait: it is a Waitable for the syscall
// layer's Task.Block, woken when the other side opens; Done then returns
// the file, and Abort gives up (after a signal). Every FIFOOpen ends with
// exactly one of Done and Abort (the opener is counted until then); a
// second call panics.
type FIFOOpen struct {
	p     *pipe
	end   *pipeEnd
	flags uint32
	// waitFor is the counter of the other side the opener waits on to move
	// from start (nil: no wait).
	waitFor *uint32
	start   uint32
}

// OpenFIFO starts an open of the FIFO at path (an absolute path). flags
// holds the access mode and O_NONBLOCK (other open flags are checked by
// the caller: O_CREAT, O_EXCL and O_DIRECTORY here). An access mode of 3
// is EINVAL.
func (ns *PathNamespace) OpenFIFO(path string, flags uint32) (*FIFOOpen, error) {
	node, err := ns.lookupFIFO(path, flags)
	if err != nil {
		return nil, err
	}
	acc := flags & unix.O_ACCMODE
	if acc == unix.O_ACCMODE {
		return nil, unix.EINVAL
	}
	p := node.getPipe()
	e := &pipeEnd{p: p, reader: acc != unix.O_WRONLY, writer: acc != unix.O_RDONLY}
	o := &FIFOOpen{p: p, end: e, flags: acc | flags&unix.O_NONBLOCK}
	nonblock := flags&unix.O_NONBLOCK != 0
	wake := false
	p.mu.Lock()
	switch acc {
	case unix.O_RDONLY:
		p.rCounter++
		p.readers++
		wake = p.readers == 1
		if p.writers == 0 {
			if nonblock {
				e.fPipe = p.wCounter // no HUP until a writer came and went
			} else {
				o.waitFor, o.start = &p.wCounter, p.wCounter
			}
		}
	case unix.O_WRONLY:
		if nonblock && p.readers == 0 {
			p.mu.Unlock()
			node.putPipe(p)
			return nil, unix.ENXIO
		}
		p.wCounter++
		p.writers++
		wake = p.writers == 1
		if p.readers == 0 {
			o.waitFor, o.start = &p.rCounter, p.rCounter
		}
	default:
		p.readers++
		p.writers++
		p.rCounter++
		p.wCounter++
		wake = p.readers == 1 || p.writers == 1
	}
	p.mu.Unlock()
	if wake {
		p.wakePartner()
	}
	return o, nil
}

// wakePartner is wake_up_partner: both queues, key 0, wake-all.
func (p *pipe) wakePartner() {
	p.notifyReaders(0, true)
	p.notifyWriters(0, true)
}

// Waiting reports whether the open still waits for the other side.
func (o *FIFOOpen) Waiting() bool {
	if o.waitFor == nil {
		return false
	}
	o.p.mu.Lock()
	defer o.p.mu.Unlock()
	return *o.waitFor == o.start
}

// Readiness implements the syscall layer's Waitable; the open's condition
// is Waiting, so it reports nothing.
func (o *FIFOOpen) Readiness(mask waiter.EventMask) waiter.EventMask { return 0 }

// EventRegister hooks e on the readers' queue (wait_for_partner).
func (o *FIFOOpen) EventRegister(e *waiter.Entry) { o.p.readQ.Register(e) }

// EventUnregister undoes EventRegister.
func (o *FIFOOpen) EventUnregister(e *waiter.Entry) { o.p.readQ.Unregister(e) }

// Done returns the opened file, with one reference owned by the caller.
func (o *FIFOOpen) Done() *File {
	if o.end == nil {
		panic("fs: FIFOOpen.Done after Done or Abort")
	}
	f := New(o.end, o.flags)
	o.end = nil
	return f
}

// Abort gives up a waiting open (fifo_open's err_rd and err_wr paths).
func (o *FIFOOpen) Abort() {
	p, e := o.p, o.end
	if e == nil {
		panic("fs: FIFOOpen.Abort after Done or Abort")
	}
	o.end = nil
	p.mu.Lock()
	var wakeWriters, wakeReaders bool
	if e.reader {
		p.readers--
		wakeWriters = p.readers == 0
	} else {
		p.writers--
		wakeReaders = p.writers == 0
	}
	p.mu.Unlock()
	if wakeWriters {
		p.notifyWriters(0, false)
	}
	if wakeReaders {
		p.notifyReaders(0, true)
	}
	p.fifo.putPipe(p)
}
