package hostfd

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// Raw system calls on host fds. Every host fd of the package is
// non-blocking, so these never sleep in the kernel: they use RawSyscall,
// which skips the scheduler hooks of an ordinary system call. The one
// blocking call, the poller's ppoll, uses Syscall6 so that its thread
// gives up its P while it sleeps (poller.go).

func errOf(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func rawRead(fd int32, b []byte) (int, unix.Errno) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(p), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

func rawWrite(fd int32, b []byte) (int, unix.Errno) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(p), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

// maxStackIOV is how many iovecs readv/writev build without allocating.
const maxStackIOV = 16

// rawVec runs readv or writev (nr) over bufs, at most unix's UIO_MAXIOV
// (1024) of them.
func rawVec(nr uintptr, fd int32, bufs [][]byte) (int, unix.Errno) {
	if len(bufs) > 1024 {
		return 0, unix.EINVAL
	}
	var stack [maxStackIOV]unix.Iovec
	iov := stack[:0]
	if len(bufs) > maxStackIOV {
		iov = make([]unix.Iovec, 0, len(bufs))
	}
	for _, b := range bufs {
		var v unix.Iovec
		if len(b) > 0 {
			v.Base = &b[0]
			v.SetLen(len(b))
		}
		iov = append(iov, v)
	}
	var p unsafe.Pointer
	if len(iov) > 0 {
		p = unsafe.Pointer(&iov[0])
	}
	n, _, e := unix.RawSyscall(nr, uintptr(fd), uintptr(p), uintptr(len(iov)))
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

// allPollEvents is what a readiness query asks ppoll for: every bit a
// file's poll can report (ERR, HUP and NVAL are always reported).
const allPollEvents = int16(gAll &^ gHUpErr)

// poll0 is a zero-timeout ppoll of one fd: its current readiness. The poll
// bits have the same values as the epoll bits.
func poll0(fd int32) waiter.EventMask {
	pfd := unix.PollFd{Fd: fd, Events: allPollEvents}
	var ts unix.Timespec
	for {
		_, _, e := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1,
			uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0
		}
		return waiter.EventMask(uint16(pfd.Revents))
	}
}

// fionread returns the bytes readable from fd (FIONREAD, SIOCINQ).
func ioctlInt(fd int32, req uint) int {
	var v int32
	_, _, e := unix.RawSyscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(unsafe.Pointer(&v)))
	if e != 0 {
		return 0
	}
	return int(v)
}

// closeFD closes a host fd. EINTR is not retried: on Linux the fd is gone
// whatever close returns, and a retry could close a number reused since.
func closeFD(fd int32) {
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

// setFL sets fd's status flags (F_SETFL).
func setFL(fd int32, fl uint32) unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_FCNTL, uintptr(fd), unix.F_SETFL, uintptr(fl))
	return e
}

// getFL returns fd's access mode and status flags (F_GETFL).
func getFL(fd int32) (uint32, unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_FCNTL, uintptr(fd), unix.F_GETFL, 0)
	return uint32(r), e
}
