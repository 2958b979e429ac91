package hostfd

import (
	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
)

// File creation on the host. These methods have the signatures of the
// kernel/fs constructors (and of syscalls.FileCreator), so that a Bridge
// can serve the creation system calls of a model kernel: the files are
// real host fds, created non-blocking and close-on-exec and imported. The
// two ends of a pipe or socketpair are linked as local peers, so that an
// operation on one end wakes the other end's queue synchronously (doc.go).

// Pipe creates a host pipe (pipe2). flags may hold O_NONBLOCK and
// O_DIRECT: as in Linux the write end gets both, the read end only
// O_NONBLOCK.
func (b *Bridge) Pipe(flags uint32) (r, w *fs.File, err error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK|int(flags&unix.O_DIRECT)); err != nil {
		return nil, nil, err
	}
	rfl := unix.O_RDONLY | flags&unix.O_NONBLOCK
	wfl := unix.O_WRONLY | flags&(unix.O_NONBLOCK|unix.O_DIRECT)
	hr, hw, err := b.pair(int32(p[0]), int32(p[1]), KindPipe, 0, rfl, wfl)
	if err != nil {
		return nil, nil, err
	}
	return hr.file(rfl), hw.file(wfl), nil
}

// pair sets up two linked host fds, closing both on error.
func (b *Bridge) pair(fa, fb int32, kind Kind, sockType int, fla, flb uint32) (*hostFile, *hostFile, error) {
	ha, err := b.newHost(fa, kind, sockType, fla)
	if err != nil {
		closeFD(fb)
		return nil, nil, err
	}
	hb, err := b.newHost(fb, kind, sockType, flb)
	if err != nil {
		ha.release()
		return nil, nil, err
	}
	ha.peer, hb.peer = hb, ha
	return ha, hb, nil
}

// Eventfd creates a host eventfd (eventfd2). flags may hold O_NONBLOCK and
// fs.EFDSemaphore.
func (b *Bridge) Eventfd(initval uint64, flags uint32) (*fs.File, error) {
	if initval > 1<<32-1 {
		return nil, unix.EINVAL
	}
	hf := unix.EFD_CLOEXEC | unix.EFD_NONBLOCK
	if flags&fs.EFDSemaphore != 0 {
		hf |= unix.EFD_SEMAPHORE
	}
	fd, err := unix.Eventfd(uint(initval), hf)
	if err != nil {
		return nil, err
	}
	return b.adopt(int32(fd), KindEventfd, 0, unix.O_RDWR|flags&unix.O_NONBLOCK, nil)
}

func sockFlags(flags uint32) (int, error) {
	if flags&^uint32(unix.O_NONBLOCK|unix.O_CLOEXEC) != 0 {
		return 0, unix.EINVAL
	}
	return unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC, nil
}

// SocketPair creates a connected pair of host AF_UNIX sockets. typ is the
// socket type without SOCK_NONBLOCK/SOCK_CLOEXEC; flags may hold
// O_NONBLOCK (and O_CLOEXEC, which is the fd table's).
func (b *Bridge) SocketPair(typ int, flags uint32) (x, y *fs.File, err error) {
	hf, err := sockFlags(flags)
	if err != nil {
		return nil, nil, err
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, typ|hf, 0)
	if err != nil {
		return nil, nil, err
	}
	st, err := unix.GetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		closeFD(int32(fds[0]))
		closeFD(int32(fds[1]))
		return nil, nil, err
	}
	fl := unix.O_RDWR | flags&unix.O_NONBLOCK
	ha, hb, err := b.pair(int32(fds[0]), int32(fds[1]), KindSocket, st, fl, fl)
	if err != nil {
		return nil, nil, err
	}
	return ha.file(fl), hb.file(fl), nil
}

// Socket creates an unbound, unconnected host AF_UNIX socket.
func (b *Bridge) Socket(typ int, flags uint32) (*fs.File, error) {
	hf, err := sockFlags(flags)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_UNIX, typ|hf, 0)
	if err != nil {
		return nil, err
	}
	st, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		closeFD(int32(fd))
		return nil, err
	}
	return b.adopt(int32(fd), KindSocket, st, unix.O_RDWR|flags&unix.O_NONBLOCK, nil)
}

// Timerfd creates a host timerfd on clockID, when clock is the host's
// (nil or fs.RealClock): its expiries, settime and gettime are the host
// kernel's. A host timerfd cannot follow any other clock (a virtual or
// simulated one), so with such a clock Timerfd returns the model's own
// timerfd on it (fs.NewTimerfd), which is not a host fd. flags may hold
// O_NONBLOCK (and O_CLOEXEC).
func (b *Bridge) Timerfd(clock fs.Clock, clockID int32, flags uint32) (*fs.File, error) {
	switch clock.(type) {
	case nil, fs.RealClock, *fs.RealClock:
	default:
		return fs.NewTimerfd(clock, clockID, flags)
	}
	if flags&^uint32(unix.O_NONBLOCK|unix.O_CLOEXEC) != 0 {
		return nil, unix.EINVAL
	}
	fd, err := unix.TimerfdCreate(int(clockID), unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return b.adopt(int32(fd), KindTimerfd, 0, unix.O_RDWR|flags&unix.O_NONBLOCK, nil)
}
