package minikernel

import (
	"encoding/binary"
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/hostfd"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
	"github.com/guestpoll/guestpoll/syscalls"
)

// accept4(fd, addr, addrlen, flags) on the kernel's two listeners: a
// Listener (the kernel's own, an AF_UNIX-like socket) and an imported host
// socket (hostfd), which the host accepts through hostfd.Do. Any other
// file goes to the syscall layer's own accept4 (its AF_UNIX listeners and
// its errors for what is not one). The checks
// come in __sys_accept4's order, as Linux 6.18 answers them: the fd
// (EBADF), flags other than SOCK_NONBLOCK|SOCK_CLOEXEC (EINVAL), a file that is
// no socket (ENOTSOCK: the signalfd, a pipe, an epoll instance), a socket
// that does not listen (EINVAL: one end of a socketpair; the host says so
// for a host socket), then a free fd number (EMFILE), reserved before
// the accept as get_unused_fd_flags does. A blocking accept sleeps on the
// listener's queue as an exclusive waiter (prepare_to_wait_exclusive),
// so one connection wakes one accepting task; a signal ends it with
// ERESTARTSYS, a Stop restarts it. The peer's address is copied out after
// the connection is taken (move_addr_to_user): a fault there (EFAULT) or a
// negative *addrlen (EINVAL) loses the connection, as in Linux.
func (k *Kernel) accept4(t *syscalls.Task, a [6]uintptr) (uintptr, unix.Errno) {
	f, err := t.FDTable().GetFile(int32(a[0]))
	if err != nil {
		return 0, unix.EBADF
	}
	defer f.DecRef()
	flags := uint32(int32(a[3]))
	if flags&^(unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK) != 0 {
		return 0, unix.EINVAL
	}
	var take taker
	switch l := f.Impl().(type) {
	case *Listener:
		take = l.take
	default:
		if !hostfd.IsHost(f) || hostfd.KindOf(f) != hostfd.KindSocket {
			return k.modelAccept4(t, a)
		}
		take = k.hostTaker(f)
	}
	table := t.FDTable()
	nfd, err := table.Reserve()
	if err != nil {
		return 0, err.(unix.Errno)
	}
	conn, peer, e := acceptWait(t, f, take, flags&unix.SOCK_NONBLOCK)
	if e == 0 {
		e = copyAddress(t.Memory(), uint64(a[1]), uint64(a[2]), peer)
		if e != 0 {
			conn.DecRef()
		}
	}
	if e != 0 {
		table.Unreserve(nfd)
		return 0, e
	}
	table.InstallReserved(nfd, conn, flags&unix.SOCK_CLOEXEC != 0)
	return uintptr(nfd), 0
}

// A taker takes one connection off a listener without blocking: the new
// file (status flags nonblock), the peer's address as a struct sockaddr,
// or EAGAIN when none is queued.
type taker func(nonblock uint32) (*fs.File, []byte, unix.Errno)

// acceptWait takes a connection, sleeping on the listener's queue as an
// exclusive waiter while there is none (unless the listener is
// non-blocking).
func acceptWait(t *syscalls.Task, f *fs.File, take taker, nonblock uint32) (*fs.File, []byte, unix.Errno) {
	for {
		conn, peer, e := take(nonblock)
		if e != unix.EAGAIN {
			return conn, peer, e
		}
		if f.Nonblocking() {
			return nil, nil, unix.EAGAIN
		}
		if e := t.Block(f, syscalls.Wait{Mask: waiter.EventIn, Exclusive: true}); e != 0 {
			return nil, nil, e
		}
	}
}

// unnamedUnix is the address of an unbound AF_UNIX peer: the family only.
var unnamedUnix = binary.LittleEndian.AppendUint16(nil, unix.AF_UNIX)

// take is a taker of the kernel's own listener.
func (l *Listener) take(nonblock uint32) (*fs.File, []byte, unix.Errno) {
	conn, err := l.Accept()
	if err != nil {
		return nil, nil, err.(unix.Errno)
	}
	if err := conn.SetStatusFlags(nonblock); err != nil {
		conn.DecRef()
		return nil, nil, err.(unix.Errno)
	}
	return conn, unnamedUnix, 0
}

// hostTaker is the taker of an imported host socket: accept4 on the host
// fd through hostfd.Do, which re-arms the bridge when the host says
// EAGAIN (so that the next connection reaches the file's queue), and the
// accepted host fd imported into the kernel's bridge.
func (k *Kernel) hostTaker(f *fs.File) taker {
	return func(nonblock uint32) (*fs.File, []byte, unix.Errno) {
		var sa unix.RawSockaddrAny
		salen := uint32(unix.SizeofSockaddrAny)
		connFD := -1
		err := hostfd.Do(f, waiter.ReadableEvents, func(fd int) error {
			n, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&sa)),
				uintptr(unsafe.Pointer(&salen)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
			if e != 0 {
				return e
			}
			connFD = int(n)
			return nil
		})
		if err != nil {
			return nil, nil, err.(unix.Errno)
		}
		conn, err := k.bridge.Import(connFD, hostfd.ImportOptions{Flags: unix.O_RDWR | nonblock})
		if err != nil { // the connection is lost (Import closed its fd)
			return nil, nil, importErrno(err)
		}
		peer := unsafe.Slice((*byte)(unsafe.Pointer(&sa)), min(salen, unix.SizeofSockaddrAny))
		return conn, append([]byte(nil), peer...), 0
	}
}

// copyAddress is move_addr_to_user: nothing without an address buffer;
// else *addrlen is read (EFAULT), the address truncated to it (a negative
// one is EINVAL) and copied (EFAULT), and *addrlen set to the address's
// whole length (EFAULT).
func copyAddress(m syscalls.Memory, addr, lenAddr uint64, sa []byte) unix.Errno {
	if addr == 0 {
		return 0
	}
	var b [4]byte
	if m.CopyIn(lenAddr, b[:]) != nil {
		return unix.EFAULT
	}
	n := int64(int32(binary.LittleEndian.Uint32(b[:])))
	if n < 0 {
		return unix.EINVAL
	}
	n = min(n, int64(len(sa)))
	if n > 0 && m.CopyOut(addr, sa[:n]) != nil {
		return unix.EFAULT
	}
	binary.LittleEndian.PutUint32(b[:], uint32(len(sa)))
	if m.CopyOut(lenAddr, b[:]) != nil {
		return unix.EFAULT
	}
	return 0
}

// importErrno is the errno of a failed import of an accepted host fd: the
// host's errno, or ENOMEM for the bridge's own errors (it was closed), as
// Linux fails accept when it cannot make the new file (sock_alloc_file).
func importErrno(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.ENOMEM
}
