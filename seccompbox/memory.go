//go:build linux && amd64

package seccompbox

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// guestMem is the address space of a guest thread as the syscall layer
// sees it (syscalls.Memory): process_vm_readv and process_vm_writev on the
// thread. A copy that stops short is EFAULT, as copy_from_user and
// copy_to_user are; CopyOut may have written the bytes before the fault.
//
// Before a copy-out, guestMem checks that the notification it serves is
// still pending: once the guest thread has been interrupted out of the
// trapped call, its memory must not be written on its behalf (the buffer may
// be in use for something else by now), and a failed first copy makes the
// model put the harvested events back (epoll.EventWriter's contract).
type guestMem struct {
	pid      int
	listener int
	id       uint64 // the notification being served; 0: no check
	stale    bool   // set when the check failed

	// read is what the box itself read at readAddr for the call being
	// served (an epoll_ctl's event, read before the syscall layer runs,
	// for EFAULT's place and EPOLLEXCLUSIVE): the syscall layer's read of
	// the same bytes is served from it, as Linux copies the event in once.
	readAddr uint64
	readPid  int
	read     []byte
}

// remember keeps data, just read at addr, for the rest of the call (forget
// ends it).
func (m *guestMem) remember(addr uint64, data []byte) {
	m.readAddr, m.readPid, m.read = addr, m.pid, data
}

// forget drops what remember kept.
func (m *guestMem) forget() { m.read = nil }

func (m *guestMem) CopyIn(addr uint64, dst []byte) error {
	if len(dst) == 0 {
		return nil
	}
	if m.read != nil && m.pid == m.readPid && addr == m.readAddr && len(dst) <= len(m.read) {
		copy(dst, m.read)
		return nil
	}
	local := unix.Iovec{Base: &dst[0]}
	local.SetLen(len(dst))
	remote := remoteIovec{base: addr, len: uint64(len(dst))}
	n, _, e := unix.RawSyscall6(unix.SYS_PROCESS_VM_READV, uintptr(m.pid),
		uintptr(unsafe.Pointer(&local)), 1, uintptr(unsafe.Pointer(&remote)), 1, 0)
	if e != 0 || int(n) != len(dst) {
		return unix.EFAULT
	}
	return nil
}

func (m *guestMem) CopyOut(addr uint64, src []byte) error {
	if m.id != 0 && !notifIDValid(m.listener, m.id) {
		m.stale = true
		return unix.EFAULT
	}
	if len(src) == 0 {
		return nil
	}
	local := unix.Iovec{Base: &src[0]}
	local.SetLen(len(src))
	remote := remoteIovec{base: addr, len: uint64(len(src))}
	n, _, e := unix.RawSyscall6(unix.SYS_PROCESS_VM_WRITEV, uintptr(m.pid),
		uintptr(unsafe.Pointer(&local)), 1, uintptr(unsafe.Pointer(&remote)), 1, 0)
	if e != 0 || int(n) != len(src) {
		return unix.EFAULT
	}
	return nil
}

// remoteIovec is a struct iovec naming guest memory (an address that is
// not a pointer of this process).
type remoteIovec struct {
	base uint64
	len  uint64
}
