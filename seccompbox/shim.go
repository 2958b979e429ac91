//go:build linux && amd64

package seccompbox

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// shimEnv marks a process started by Start as the shim: its value is
// "FD:MODE:CUR:MAX", the number of the socket on which to send the
// listener, which system calls to trap ("epoll" or "epoll+poll"), and the
// RLIMIT_NOFILE the guest gets.
const shimEnv = "GUESTPOLL_SECCOMPBOX_SHIM"

// RunShimIfRequested turns the current process into the shim when Start
// launched it as one: it installs the filter, hands the listener to the
// supervisor and execs the guest program; it never returns then. Otherwise
// it returns at once. A binary that calls Start must call it first thing in
// main (and in TestMain), before anything else runs.
func RunShimIfRequested() {
	v, ok := os.LookupEnv(shimEnv)
	if !ok {
		return
	}
	err := shimMain(v)
	fmt.Fprintf(os.Stderr, "seccompbox shim: %v\n", err)
	os.Exit(127)
}

func shimMain(v string) error {
	sock, mode, limit, err := parseShimEnv(v)
	if err != nil {
		return err
	}
	if len(os.Args) < 3 {
		return fmt.Errorf("usage: shim PATH ARGV0 [ARGS...]")
	}
	path, argv := os.Args[1], os.Args[2:]
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, shimEnv+"=") {
			env = append(env, kv)
		}
	}
	nrs := append(append([]uint32(nil), epollNrs...), sigreturnNr)
	if mode == "epoll+poll" {
		nrs = append(nrs, pollNrs...)
	}
	prog := filterProgram(nrs, enosysNrs)
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	// Everything execve needs is prepared before the filter exists: from
	// then on this thread makes only raw, untrapped calls (sendmsg, close,
	// execve), since a trapped one would wait for a supervisor that has no
	// listener yet.
	argv0, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	argvp, err := cStrings(argv)
	if err != nil {
		return err
	}
	envp, err := cStrings(env)
	if err != nil {
		return err
	}
	// The guest gets the fd limit the supervisor had before it raised its
	// own for the box's probes.
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &limit); err != nil {
		return fmt.Errorf("restoring RLIMIT_NOFILE: %v", err)
	}
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_NO_NEW_PRIVS: %v", err)
	}
	// rt_sigreturn is trapped too: a signal handled on this thread before
	// the supervisor has the listener would wait for it forever. Signals
	// stay blocked until the listener is sent, and the thread's mask is
	// restored for the guest just before execve.
	all, old := ^uint64(0), uint64(0)
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK,
		uintptr(unsafe.Pointer(&all)), uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
		return fmt.Errorf("blocking signals: %v", e)
	}
	lfd, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, uintptr(unsafe.Pointer(&fprog)))
	if e != 0 {
		return fmt.Errorf("installing the seccomp filter: %v", e)
	}
	rights := unix.UnixRights(int(lfd))
	one := []byte{1}
	iov := unix.Iovec{Base: &one[0]}
	iov.SetLen(1)
	msg := unix.Msghdr{Iov: &iov, Iovlen: 1, Control: &rights[0]}
	msg.SetControllen(len(rights))
	if _, _, e := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(sock), uintptr(unsafe.Pointer(&msg)), 0); e != 0 {
		return fmt.Errorf("sending the listener: %v", e)
	}
	rawClose(int(lfd))
	rawClose(sock)
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	_, _, e = unix.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(argv0)),
		uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0])))
	return fmt.Errorf("exec %s: %v", path, e)
}

// parseShimEnv parses shimEnv's value.
func parseShimEnv(v string) (sock int, mode string, limit unix.Rlimit, err error) {
	parts := strings.Split(v, ":")
	if len(parts) == 4 {
		mode = parts[1]
		sock, err = strconv.Atoi(parts[0])
		if err == nil {
			limit.Cur, err = strconv.ParseUint(parts[2], 10, 64)
		}
		if err == nil {
			limit.Max, err = strconv.ParseUint(parts[3], 10, 64)
		}
	}
	if len(parts) != 4 || err != nil || sock < 3 {
		return 0, "", limit, fmt.Errorf("bad %s=%q", shimEnv, v)
	}
	return sock, mode, limit, nil
}

// cStrings is a NULL-terminated array of C strings.
func cStrings(ss []string) ([]*byte, error) {
	out := make([]*byte, 0, len(ss)+1)
	for _, s := range ss {
		p, err := unix.BytePtrFromString(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return append(out, nil), nil
}
