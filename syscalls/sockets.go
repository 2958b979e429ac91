package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// bind, listen, connect, accept and accept4 for AF_UNIX sockets
// (fs.Listener), with abstract addresses in the kernel's UnixNamespace.

func init() {
	register(sysBind, hBind)
	register(sysListen, hListen)
	register(sysConnect, hConnect)
	register(sysAccept, hAccept)
	register(sysAccept4, hAccept4)
}

const (
	sockaddrStorage = 128 // sizeof(struct sockaddr_storage)
	sunPathOffset   = 2   // offsetof(struct sockaddr_un, sun_path)
	sockaddrUnSize  = 110 // sizeof(struct sockaddr_un)
)

// socketFile returns fd's file and its fs.Listener: EBADF, ENOTSOCK for a
// file that is no socket, EOPNOTSUPP for a socket of another backend that
// does not serve these calls.
func (t *Task) socketFile(n int32) (*fs.File, fs.Listener, errno) {
	f, e := t.getFile(n)
	if e != 0 {
		return nil, nil, e
	}
	l, e := listenerOf(f)
	if e != 0 {
		f.DecRef()
		return nil, nil, e
	}
	return f, l, 0
}

func listenerOf(f *fs.File) (fs.Listener, errno) {
	if l, ok := f.Impl().(fs.Listener); ok {
		return l, 0
	}
	if _, sock := f.Impl().(fs.Socket); sock {
		return nil, unix.EOPNOTSUPP
	}
	return nil, unix.ENOTSOCK
}

// moveAddrToKernel copies a sockaddr in: a length outside [0, 128] is
// EINVAL, a fault EFAULT. It returns the bytes (nil for length 0).
func (t *Task) moveAddrToKernel(addr uint64, length int32) ([]byte, errno) {
	if length < 0 || length > sockaddrStorage {
		return nil, unix.EINVAL
	}
	if length == 0 {
		return nil, 0
	}
	b := make([]byte, length)
	if e := t.copyIn(addr, b); e != 0 {
		return nil, e
	}
	return b, 0
}

// unixAddr is unix_validate_addr: the sun_path bytes of an AF_UNIX
// address, EINVAL for a short or long one or another family.
func unixAddr(sa []byte) ([]byte, errno) {
	if len(sa) <= sunPathOffset || len(sa) > sockaddrUnSize {
		return nil, unix.EINVAL
	}
	if binary.LittleEndian.Uint16(sa) != unix.AF_UNIX {
		return nil, unix.EINVAL
	}
	return sa[sunPathOffset:], 0
}

// hBind: the fd (EBADF, ENOTSOCK), the address copy, then unix_bind
// (autobind for a bare family, unix_validate_addr, the table).
func hBind(t *Task, a *[6]uintptr) (uintptr, errno) {
	f, l, e := t.socketFile(int32(a[0]))
	if e != 0 {
		return 0, e
	}
	defer f.DecRef()
	sa, e := t.moveAddrToKernel(uint64(a[1]), int32(a[2]))
	if e != 0 {
		return 0, e
	}
	var path []byte
	if len(sa) == sunPathOffset && binary.LittleEndian.Uint16(sa) == unix.AF_UNIX {
		path = []byte{} // autobind
	} else if path, e = unixAddr(sa); e != 0 {
		return 0, e
	}
	return 0, fileErrno(f, l.Bind(f, t.k.Names(), path))
}

func hListen(t *Task, a *[6]uintptr) (uintptr, errno) {
	f, l, e := t.socketFile(int32(a[0]))
	if e != 0 {
		return 0, e
	}
	defer f.DecRef()
	backlog := int(int32(a[1]))
	if uint32(backlog) > fs.SoMaxConn {
		backlog = fs.SoMaxConn
	}
	return 0, fileErrno(f, l.Listen(f, backlog))
}

// hConnect follows __sys_connect: the fd (EBADF), the address copy, the
// socket (ENOTSOCK), then unix_stream_connect. A blocking connect to a
// full listener waits, as an exclusive waiter, until an accept or the
// listener's close (ERESTARTSYS on a signal).
func hConnect(t *Task, a *[6]uintptr) (uintptr, errno) {
	f, e := t.getFile(int32(a[0]))
	if e != 0 {
		return 0, e
	}
	defer f.DecRef()
	sa, e := t.moveAddrToKernel(uint64(a[1]), int32(a[2]))
	if e != 0 {
		return 0, e
	}
	l, e := listenerOf(f)
	if e != 0 {
		return 0, e
	}
	path, e := unixAddr(sa)
	if e != 0 {
		return 0, e
	}
	ns := t.k.Names()
	cw, err := l.Connect(f, ns, path)
	for err == unix.EAGAIN && cw != nil && !f.Nonblocking() {
		if t.SignalPending() {
			return 0, unix.EINTR
		}
		end := t.blockOn(cw, &Wait{Exclusive: true, Ready: func() bool {
			cw, err = l.Connect(f, ns, path)
			return err != unix.EAGAIN
		}})
		if end == blockReady {
			break
		}
		if end == blockInterrupted {
			return 0, unix.EINTR
		}
		cw, err = l.Connect(f, ns, path)
	}
	return 0, fileErrno(f, err)
}

func hAccept(t *Task, a *[6]uintptr) (uintptr, errno) {
	return t.accept4(int32(a[0]), uint64(a[1]), uint64(a[2]), 0)
}

func hAccept4(t *Task, a *[6]uintptr) (uintptr, errno) {
	return t.accept4(int32(a[0]), uint64(a[1]), uint64(a[2]), int32(a[3]))
}

// accept4 follows __sys_accept4 and do_accept: the flags (EINVAL), the fd
// (EBADF, ENOTSOCK), an fd number (EMFILE), the accept (which blocks
// unless the listener's file is O_NONBLOCK: the flags only shape the new
// file), then the peer's address; failing to copy it out drops the
// connection.
func (t *Task) accept4(n int32, addr, addrlen uint64, flags int32) (uintptr, errno) {
	// The fd first, then the flags, then the socket: __sys_accept4 looks
	// the fd up before __sys_accept4_file checks the flags.
	f, e := t.getFile(n)
	if e != 0 {
		return 0, e
	}
	defer f.DecRef()
	if flags&^(unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK) != 0 {
		return 0, unix.EINVAL
	}
	l, e := listenerOf(f)
	if e != 0 {
		return 0, e
	}
	nfd, err := t.fds.Reserve()
	if err != nil {
		return 0, errnoOf(err)
	}
	nf, e := t.acceptWait(f, l, uint32(flags)&unix.O_NONBLOCK)
	if e == 0 && addr != 0 {
		if e = t.putPeerAddr(nf, addr, addrlen); e != 0 {
			nf.DecRef()
		}
	}
	if e != 0 {
		t.fds.Unreserve(nfd)
		return 0, e
	}
	t.fds.InstallReserved(nfd, nf, flags&unix.SOCK_CLOEXEC != 0)
	return uintptr(nfd), 0
}

// acceptWait takes a connection, waiting for one on the listener's queue
// as an exclusive waiter (Linux's accept sleeps in
// prepare_to_wait_exclusive) unless the listener is non-blocking.
func (t *Task) acceptWait(f *fs.File, l fs.Listener, flags uint32) (*fs.File, errno) {
	blocking := !f.Nonblocking()
	nf, err := l.Accept(f, flags, blocking)
	for err == unix.EAGAIN && blocking {
		if t.SignalPending() {
			return nil, unix.EINTR
		}
		end := t.blockOn(f, &Wait{Mask: waiter.EventIn, Exclusive: true, Ready: func() bool {
			nf, err = l.Accept(f, flags, blocking)
			return err != unix.EAGAIN
		}})
		if end == blockReady {
			break
		}
		if end == blockInterrupted {
			return nil, unix.EINTR
		}
		nf, err = l.Accept(f, flags, blocking)
	}
	if err != nil {
		return nil, fileErrno(f, err)
	}
	return nf, 0
}

// putPeerAddr is unix_getname(peer) and move_addr_to_user: the peer's
// address (the family alone when it is unbound), truncated to *addrlen,
// and its full length stored back. A negative *addrlen is EINVAL.
func (t *Task) putPeerAddr(nf *fs.File, addr, addrlen uint64) errno {
	name := nf.Impl().(fs.Listener).PeerName()
	return t.moveAddrToUser(name, addr, addrlen)
}

func (t *Task) moveAddrToUser(name []byte, addr, addrlen uint64) errno {
	sa := make([]byte, sunPathOffset+len(name))
	binary.LittleEndian.PutUint16(sa, unix.AF_UNIX)
	copy(sa[sunPathOffset:], name)
	return t.copyAddrOut(sa, addr, addrlen)
}

// copyAddrOut is move_addr_to_user for a kernel address sa (possibly
// empty).
func (t *Task) copyAddrOut(sa []byte, addr, addrlen uint64) errno {
	lb := t.small[:4]
	if e := t.copyIn(addrlen, lb); e != 0 {
		return e
	}
	n := int32(binary.LittleEndian.Uint32(lb))
	if n > int32(len(sa)) {
		n = int32(len(sa))
	}
	if n < 0 {
		return unix.EINVAL
	}
	if n > 0 {
		if e := t.copyOut(addr, sa[:n]); e != 0 {
			return e
		}
	}
	binary.LittleEndian.PutUint32(lb, uint32(len(sa)))
	return t.copyOut(addrlen, lb)
}
