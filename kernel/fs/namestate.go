package fs

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Checkpoint state of a kernel's names: the path namespace (directories
// and FIFO nodes, which a FIFO's pipe refers to) and the abstract AF_UNIX
// table (rebuilt from the sockets that hold a name).

// Names are a kernel's name tables.
type Names struct {
	Unix  *UnixNamespace
	Paths *PathNamespace
}

// PathState is one entry of the path namespace: a directory (FIFO 0) or
// the FIFO node FIFO-1.
type PathState struct {
	Path string
	FIFO int32
}

// fifoIndex returns n's index, giving it the next one if n is new.
func (fsv *filesSaver) fifoIndex(n *fifoNode) int32 {
	if i, ok := fsv.fifos[n]; ok {
		return i
	}
	i := fsv.st.FIFONodes
	fsv.fifos[n] = i
	fsv.st.FIFONodes++
	return i
}

// SaveFilesAndNames is SaveFiles with the kernel's names: every directory
// and FIFO of names.Paths, and the autobind counter of names.Unix (either
// may be nil).
func SaveFilesAndNames(files []*File, names Names) (FilesState, error) {
	fsv := newFilesSaver()
	if ns := names.Paths; ns != nil {
		ns.mu.Lock()
		ns.root.save("", &fsv)
		ns.mu.Unlock()
		sort.Slice(fsv.st.Paths, func(i, j int) bool { return fsv.st.Paths[i].Path < fsv.st.Paths[j].Path })
	}
	if u := names.Unix; u != nil {
		u.mu.Lock()
		fsv.st.UnixAutobind = u.autobind
		u.mu.Unlock()
	}
	return fsv.saveFiles(files)
}

func (d *dirNode) save(prefix string, fsv *filesSaver) {
	names := make([]string, 0, len(d.entries))
	for name := range d.entries {
		names = append(names, name)
	}
	sort.Strings(names) // node indices in path order: the same world saves the same
	for _, name := range names {
		n := d.entries[name]
		path := prefix + "/" + name
		switch n := n.(type) {
		case *dirNode:
			fsv.st.Paths = append(fsv.st.Paths, PathState{Path: path})
			n.save(path, fsv)
		case *fifoNode:
			fsv.st.Paths = append(fsv.st.Paths, PathState{Path: path, FIFO: fsv.fifoIndex(n) + 1})
		}
	}
}

// validateNames checks the paths, the FIFO links of pipes and the names
// of bound sockets.
func (st *FilesState) validateNames() error {
	if st.FIFONodes < 0 {
		return fmt.Errorf("%d FIFO nodes", st.FIFONodes)
	}
	seen := map[string]bool{"": true}
	for i, p := range st.Paths {
		parent := p.Path[:max(strings.LastIndexByte(p.Path, '/'), 0)]
		name := p.Path[len(parent):]
		switch {
		case seen[p.Path] || !seen[parent] || name == "/" || strings.Contains(parent, "//"):
			return fmt.Errorf("path %d %q", i, p.Path)
		case p.FIFO < 0 || p.FIFO > st.FIFONodes:
			return fmt.Errorf("path %d: FIFO %d", i, p.FIFO)
		}
		if p.FIFO == 0 {
			seen[p.Path] = true
		}
	}
	fifoPipes := make([]bool, st.FIFONodes)
	for i, p := range st.Pipes {
		if p.FIFO < 0 || p.FIFO > st.FIFONodes {
			return fmt.Errorf("pipe %d: FIFO %d", i, p.FIFO)
		}
		if p.FIFO > 0 {
			if fifoPipes[p.FIFO-1] {
				return fmt.Errorf("pipe %d: FIFO %d has two pipes", i, p.FIFO)
			}
			fifoPipes[p.FIFO-1] = true
		}
	}
	bound := map[unixName]bool{}
	for i, s := range st.Sockets {
		if !s.Bound {
			continue
		}
		key := unixName{int(s.Type), string(s.Name)}
		if len(s.Name) == 0 || s.Name[0] != 0 || len(s.Name) > maxUnixAddr || bound[key] || s.Dead {
			return fmt.Errorf("socket %d: bound to %q", i, s.Name)
		}
		bound[key] = true
	}
	return nil
}

// validateListener checks socket i's listening state and OOB index, and
// counts its embryos in embryoOf.
func (st *FilesState) validateListener(i int32, embryoOf []int32) error {
	s := &st.Sockets[i]
	if s.OOB < -1 || int(s.OOB) >= len(s.Recv) || s.OOB >= 0 && (s.Type != unix.SOCK_STREAM || len(s.Recv[s.OOB].Data) != 1) {
		return fmt.Errorf("OOB skb %d", s.OOB)
	}
	if !s.Listening {
		if len(s.Pending) > 0 || s.Backlog != 0 {
			return fmt.Errorf("not listening but has embryos or a backlog")
		}
		return nil
	}
	switch {
	case s.Type == unix.SOCK_DGRAM || s.Connected || s.Peer >= 0 || len(s.Recv) > 0 || s.Dead:
		return fmt.Errorf("listening in a bad state")
	case s.Backlog < 0 || s.Backlog > SoMaxConn || len(s.Pending) > int(s.Backlog)+1:
		return fmt.Errorf("backlog %d with %d embryos", s.Backlog, len(s.Pending))
	}
	for _, e := range s.Pending {
		if e < 0 || int(e) >= len(st.Sockets) || embryoOf[e] >= 0 {
			return fmt.Errorf("embryo %d", e)
		}
		es := &st.Sockets[e]
		if es.Type != s.Type || !es.Connected || es.Listening || es.Dead {
			return fmt.Errorf("embryo %d in a bad state", e)
		}
		embryoOf[e] = i
	}
	return nil
}

// restoreNames builds the path namespace and links FIFO pipes to their
// nodes, and the abstract table from the bound sockets.
//
// +checklocksignore: restores into files nothing else can see yet.
func restoreNames(st *FilesState, pipes []*pipe, socks []*unixSocket) Names {
	nodes := make([]*fifoNode, st.FIFONodes)
	for i := range nodes {
		nodes[i] = &fifoNode{}
	}
	ns := NewPathNamespace()
	ns.root.entries = map[string]any{}
	dirs := map[string]*dirNode{"": ns.root}
	for _, p := range st.Paths {
		cut := strings.LastIndexByte(p.Path, '/')
		parent, name := dirs[p.Path[:cut]], p.Path[cut+1:]
		if p.FIFO > 0 {
			parent.entries[name] = nodes[p.FIFO-1]
			continue
		}
		d := &dirNode{entries: map[string]any{}}
		parent.entries[name] = d
		dirs[p.Path] = d
	}
	for i, ps := range st.Pipes {
		if ps.FIFO > 0 {
			pipes[i].fifo = nodes[ps.FIFO-1]
			nodes[ps.FIFO-1].pipe = pipes[i]
		}
	}
	for _, f := range st.Files {
		if f.Kind == KindPipeRead || f.Kind == KindPipeWrite || f.Kind == KindFIFOReadWrite {
			pipes[f.Object].files++
		}
	}
	u := NewUnixNamespace()
	u.autobind = st.UnixAutobind
	for i, s := range socks {
		if st.Sockets[i].Bound {
			u.names[unixName{s.typ, string(s.name)}] = s
			s.ns = u
		}
	}
	return Names{Unix: u, Paths: ns}
}
