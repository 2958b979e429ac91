//go:build linux && amd64

package conformance

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// forkChildMain is the process that 'fork P' started (linuxproc_linux.go):
// it puts its fd table and signal state in order, then serves its
// parent's requests on its one script thread until asked to exit.
func forkChildMain(spec string) int {
	f := strings.Split(spec, ";")
	if len(f) != 5 {
		fmt.Fprintf(os.Stderr, "conformance fork child: bad %s %q\n", forkEnv, spec)
		return 3
	}
	ctl, _ := strconv.Atoi(f[0])
	mask, _ := strconv.ParseUint(f[1], 10, 64)
	// The runtime's own fds (netpoller) are made now, above every number
	// of the parent's table, which is still full.
	if err := prepareChildProcess(); err != nil {
		fmt.Fprintf(os.Stderr, "conformance fork child: %v\n", err)
		return 3
	}
	if err := defaultSignals(); err != nil {
		fmt.Fprintf(os.Stderr, "conformance fork child: %v\n", err)
		return 3
	}
	for _, fd := range splitInts(f[2]) {
		unix.Close(fd)
	}
	for _, fd := range splitInts(f[3]) {
		unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
	}
	if err := holdPlaceholders(splitInts(f[4])); err != nil {
		fmt.Fprintf(os.Stderr, "conformance fork child: %v\n", err)
		return 3
	}
	mem, err := newLinuxMachine()
	if err != nil {
		fmt.Fprintf(os.Stderr, "conformance fork child: %v\n", err)
		return 3
	}
	runtime.LockOSThread()
	setThreadMask(mask)
	var hello [16]byte
	binary.LittleEndian.PutUint64(hello[:], uint64(unix.Gettid()))
	binary.LittleEndian.PutUint64(hello[8:], mem.BadPtr())
	if writeFull(ctl, hello[:]) != nil {
		return 3
	}
	serveParent(ctl, mem)
	unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
	return 0
}

// serveParent answers the parent's requests until the control socket
// ends or an exit request (which exits the process).
func serveParent(ctl int, mem Memory) {
	var req [64]byte
	for readFull(ctl, req[:]) == nil {
		arg := func(i int) uint64 { return binary.LittleEndian.Uint64(req[8+8*i:]) }
		var r, e uint64
		var out []byte
		switch req[0] {
		case ctlSyscall:
			if req[1] != 0 {
				unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0)
			}
			rr, ee := hostSyscall(uintptr(arg(0)), [6]uintptr{uintptr(arg(1)), uintptr(arg(2)), uintptr(arg(3)), uintptr(arg(4)), uintptr(arg(5)), uintptr(arg(6))})
			r, e = uint64(rr), uint64(ee)
		case ctlAlloc:
			a, err := mem.Alloc(arg(0))
			r, e = a, errnoOf(err)
		case ctlRead:
			out = make([]byte, arg(1))
			if err := mem.ReadMem(arg(0), out); err != nil {
				e = uint64(unix.EFAULT)
			}
		case ctlWrite:
			b := make([]byte, arg(1))
			if readFull(ctl, b) != nil {
				return
			}
			if err := mem.WriteMem(arg(0), b); err != nil {
				e = uint64(unix.EFAULT)
			}
		case ctlExit:
			unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
		}
		var resp [16]byte
		binary.LittleEndian.PutUint64(resp[:], r)
		binary.LittleEndian.PutUint64(resp[8:], e)
		if writeFull(ctl, resp[:]) != nil || len(out) > 0 && writeFull(ctl, out) != nil {
			return
		}
	}
}

func errnoOf(err error) uint64 {
	if err != nil {
		return uint64(unix.ENOMEM)
	}
	return 0
}

func splitInts(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// defaultSignals gives SIGUSR2 and SIGCHLD their default actions (the Go
// runtime installs handlers for both), as format version 3 requires.
func defaultSignals() error {
	for _, sig := range []uintptr{uintptr(unix.SIGUSR2), uintptr(unix.SIGCHLD)} {
		var sa kernelSigaction // SIG_DFL
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, sig, uintptr(unsafe.Pointer(&sa)), 0, 8, 0, 0); e != 0 {
			return fmt.Errorf("rt_sigaction(%d, SIG_DFL): %v", sig, e)
		}
	}
	return nil
}

// holdPlaceholders replaces each of fds (the parent runner's own) with
// /dev/null, close-on-exec, so that their numbers stay taken.
func holdPlaceholders(fds []int) error {
	if len(fds) == 0 {
		return nil
	}
	null, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(null)
	for _, fd := range fds {
		if err := unix.Dup3(null, fd, unix.O_CLOEXEC); err != nil {
			return err
		}
	}
	return nil
}
