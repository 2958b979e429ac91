package conformance

import (
	"syscall"
	_ "unsafe" // go:linkname

	"golang.org/x/sys/unix"
)

// hostSyscall makes system call nr on the host kernel, for the linux
// machine and a forked process. The epoll calls go through wrappers of
// their own (cwrappers_linux_amd64.s) that load the number as an
// immediate right before the syscall instruction, as the C library's
// wrappers of these calls do, rather than through Go's generic
// syscall.Syscall6, which takes the number in a register.
//
// That is what a box needs to recognise a call a signal withdrew before
// the box received it (seccompbox, Box.restartUnseen: the signal frame
// keeps the arguments, not the number), so that the box-level fuzzer
// (conformance/boxfuzz) runs its scripts as a C program makes the calls.
// Natively nothing changes: the same system call with the same arguments.
func hostSyscall(nr uintptr, a [6]uintptr) (uintptr, syscall.Errno) {
	switch nr {
	case unix.SYS_EPOLL_CREATE, unix.SYS_EPOLL_CREATE1, unix.SYS_EPOLL_CTL,
		unix.SYS_EPOLL_WAIT, unix.SYS_EPOLL_PWAIT, unix.SYS_EPOLL_PWAIT2:
		return wrappedSyscall(nr, a)
	}
	r, _, e := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	return r, e
}

// wrappedSyscall is syscall.Syscall6 for the epoll calls, through their
// wrappers: the runtime is told the thread may block, as Syscall6 tells
// it (the stack must not grow in between, hence nosplit).
//
//go:nosplit
func wrappedSyscall(nr uintptr, a [6]uintptr) (uintptr, syscall.Errno) {
	entersyscall()
	r, e := epollWrapper(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	exitsyscall()
	return r, syscall.Errno(e)
}

// epollWrapper makes epoll system call nr with its own wrapper: mov $nr,
// %eax, then syscall (cwrappers_linux_amd64.s). It returns -1 and ENOSYS
// for any other number.
func epollWrapper(nr, a1, a2, a3, a4, a5, a6 uintptr) (r, errno uintptr)

//go:linkname entersyscall runtime.entersyscall
func entersyscall()

//go:linkname exitsyscall runtime.exitsyscall
func exitsyscall()
