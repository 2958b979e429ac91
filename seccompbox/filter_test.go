//go:build linux && amd64

package seccompbox

import (
	"testing"

	"golang.org/x/sys/unix"
)

// runFilter interprets the filter's four kinds of instruction for a system
// call nr of arch, and returns the action.
func runFilter(t *testing.T, p []unix.SockFilter, arch, nr uint32) uint32 {
	t.Helper()
	var acc uint32
	for pc := 0; pc < len(p); pc++ {
		ins := p[pc]
		switch ins.Code {
		case bpfLdWAbs:
			acc = map[uint32]uint32{0: nr, 4: arch}[ins.K]
		case bpfJeqK, bpfJgeK:
			if (ins.Code == bpfJeqK && acc == ins.K) || (ins.Code == bpfJgeK && acc >= ins.K) {
				pc += int(ins.Jt)
			} else {
				pc += int(ins.Jf)
			}
		case bpfRetK:
			return ins.K
		default:
			t.Fatalf("instruction %d: code %#x", pc, ins.Code)
		}
	}
	t.Fatal("the program fell off its end")
	return 0
}

func TestFilterProgram(t *testing.T) {
	nrs := append(append(append([]uint32(nil), epollNrs...), sigreturnNr), pollNrs...)
	p := filterProgram(nrs, enosysNrs)
	for _, nr := range nrs {
		if got := runFilter(t, p, auditArchX8664, nr); got != unix.SECCOMP_RET_USER_NOTIF {
			t.Errorf("nr %d: %#x, want USER_NOTIF", nr, got)
		}
	}
	if got := runFilter(t, p, auditArchX8664, unix.SYS_IO_URING_SETUP); got != unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS) {
		t.Errorf("io_uring_setup: %#x, want ERRNO(ENOSYS)", got)
	}
	for _, nr := range []uint32{unix.SYS_READ, unix.SYS_IO_URING_ENTER, unix.SYS_CLOSE} {
		if got := runFilter(t, p, auditArchX8664, nr); got != unix.SECCOMP_RET_ALLOW {
			t.Errorf("nr %d: %#x, want ALLOW", nr, got)
		}
	}
	if got := runFilter(t, p, auditArchX8664, x32SyscallBit|unix.SYS_EPOLL_CTL); got != unix.SECCOMP_RET_KILL_PROCESS {
		t.Errorf("x32 epoll_ctl: %#x, want KILL_PROCESS", got)
	}
	if got := runFilter(t, p, 0x40000003 /* AUDIT_ARCH_I386 */, unix.SYS_READ); got != unix.SECCOMP_RET_KILL_PROCESS {
		t.Errorf("i386: %#x, want KILL_PROCESS", got)
	}
}
