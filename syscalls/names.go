package syscalls

import (
	"sync"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
)

// The kernel's names: the abstract AF_UNIX address table (bind, connect)
// and the minimal path namespace of FIFOs and directories (mkdirat,
// mknodat, openat). Both are made on first use.

type kernelNames struct {
	once  sync.Once
	unix  *fs.UnixNamespace
	paths *fs.PathNamespace
}

func (k *Kernel) namespaces() *kernelNames {
	k.names.once.Do(func() {
		k.names.unix = fs.NewUnixNamespace()
		k.names.paths = fs.NewPathNamespace()
	})
	return &k.names
}

// Names returns the kernel's name tables (for a checkpoint).
func (k *Kernel) Names() fs.Names {
	n := k.namespaces()
	return fs.Names{Unix: n.unix, Paths: n.paths}
}

// SetNames replaces the kernel's name tables (a restored checkpoint's).
// Call it before any task of k runs.
func (k *Kernel) SetNames(names fs.Names) {
	n := k.namespaces()
	if names.Unix != nil {
		n.unix = names.Unix
	}
	if names.Paths != nil {
		n.paths = names.Paths
	}
}

// UnixNamespace returns the kernel's abstract AF_UNIX address table.
func (k *Kernel) UnixNamespace() *fs.UnixNamespace { return k.namespaces().unix }

// PathNamespace returns the kernel's namespace of directories and FIFOs.
func (k *Kernel) PathNamespace() *fs.PathNamespace { return k.namespaces().paths }

const pathMax = 4096 // PATH_MAX, NUL included

// copyInPath is getname: the NUL-terminated string at addr, read up to
// each page end so that a fault past the NUL does not matter. EFAULT,
// ENAMETOOLONG (no NUL in PATH_MAX bytes), ENOENT for an empty path.
func (t *Task) copyInPath(addr uint64) (string, errno) {
	var path []byte
	buf := t.small[:]
	for len(path) < pathMax {
		n := min(uint64(len(buf)), 4096-addr%4096, uint64(pathMax-len(path)))
		if e := t.copyIn(addr, buf[:n]); e != 0 {
			return "", e
		}
		for i, c := range buf[:n] {
			if c == 0 {
				path = append(path, buf[:i]...)
				if len(path) == 0 {
					return "", unix.ENOENT
				}
				return string(path), 0
			}
		}
		path = append(path, buf[:n]...)
		addr += n
	}
	return "", unix.ENAMETOOLONG
}

// resolveAt makes path absolute for a *at call: relative paths start at
// dirfd, which may only be AT_FDCWD (the root) since the model opens no
// directories: any other open fd is ENOTDIR, a closed one EBADF.
func (t *Task) resolveAt(dirfd int32, path string) (string, errno) {
	if path[0] == '/' {
		return path, 0
	}
	if dirfd != unix.AT_FDCWD {
		f, e := t.getFile(dirfd)
		if e != 0 {
			return "", e
		}
		f.DecRef()
		return "", unix.ENOTDIR
	}
	return "/" + path, 0
}
