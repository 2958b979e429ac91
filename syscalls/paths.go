package syscalls

import (
	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
)

// mkdirat, mknodat and openat on the kernel's path namespace: directories
// and FIFOs only (fs.PathNamespace).

func init() {
	register(sysMkdirat, hMkdirat)
	register(sysMknodat, hMknodat)
	register(sysOpenat, hOpenat)
	register(sysUnlinkat, hUnlinkat)
}

const atRemovedir = 0x200 // AT_REMOVEDIR

// hUnlinkat: flags other than AT_REMOVEDIR are EINVAL, before the path.
func hUnlinkat(t *Task, a *[6]uintptr) (uintptr, errno) {
	flags := int32(a[2])
	if flags&^atRemovedir != 0 {
		return 0, unix.EINVAL
	}
	path, e := t.pathArg(int32(a[0]), uint64(a[1]))
	if e != 0 {
		return 0, e
	}
	return 0, errnoOf(t.k.PathNamespace().Unlink(path, flags != 0))
}

func (t *Task) pathArg(dirfd int32, addr uint64) (string, errno) {
	path, e := t.copyInPath(addr)
	if e != 0 {
		return "", e
	}
	return t.resolveAt(dirfd, path)
}

func hMkdirat(t *Task, a *[6]uintptr) (uintptr, errno) {
	path, e := t.pathArg(int32(a[0]), uint64(a[1]))
	if e != 0 {
		return 0, e
	}
	return 0, errnoOf(t.k.PathNamespace().Mkdir(path))
}

// hMknodat: may_mknod's type check comes before the lookup.
func hMknodat(t *Task, a *[6]uintptr) (uintptr, errno) {
	name, e := t.copyInPath(uint64(a[1]))
	if e != 0 {
		return 0, e
	}
	mode := uint32(a[2])
	switch mode & unix.S_IFMT {
	case 0, unix.S_IFREG, unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO, unix.S_IFSOCK:
	case unix.S_IFDIR:
		return 0, unix.EPERM
	default:
		return 0, unix.EINVAL
	}
	path, e := t.resolveAt(int32(a[0]), name)
	if e != 0 {
		return 0, e
	}
	return 0, errnoOf(t.k.PathNamespace().Mknod(path, mode))
}

// hOpenat follows do_sys_openat2: the path, an fd number (EMFILE), then the
// lookup and the open, which for a FIFO may wait for the other side
// (interruptible: ERESTARTSYS).
func hOpenat(t *Task, a *[6]uintptr) (uintptr, errno) {
	name, e := t.copyInPath(uint64(a[1]))
	if e != 0 {
		return 0, e
	}
	flags := uint32(a[2])
	n, err := t.fds.Reserve()
	if err != nil {
		return 0, errnoOf(err)
	}
	f, e := t.openFIFO(int32(a[0]), name, flags)
	if e != 0 {
		t.fds.Unreserve(n)
		return 0, e
	}
	t.fds.InstallReserved(n, f, flags&unix.O_CLOEXEC != 0)
	return uintptr(n), 0
}

func (t *Task) openFIFO(dirfd int32, name string, flags uint32) (*fs.File, errno) {
	path, e := t.resolveAt(dirfd, name)
	if e != 0 {
		return nil, e
	}
	o, err := t.k.PathNamespace().OpenFIFO(path, flags)
	if err != nil {
		return nil, errnoOf(err)
	}
	for o.Waiting() {
		if t.SignalPending() {
			o.Abort()
			return nil, unix.EINTR
		}
		if t.blockOn(o, &Wait{Ready: func() bool { return !o.Waiting() }}) == blockInterrupted && o.Waiting() {
			o.Abort()
			return nil, unix.EINTR
		}
	}
	return o.Done(), 0
}
