//go:build linux && amd64

package conformance

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The linux backend's processes. A Go process cannot fork safely, so
// 'fork P' starts a child process (the current binary re-executed in fork
// mode, forkEnv) from the script's main thread, as its child, with an
// exact copy of the fd table: every fd of the script's process is passed
// to the new process at the same number (syscall.ForkExec's Files), so
// the child holds the SAME open file descriptions, epoll instances
// included, exactly as after fork(2). Numbers that are free in the parent
// are filled with a placeholder that the child closes first; fds that were
// close-on-exec get FD_CLOEXEC again; the runner's own fds are replaced by
// a placeholder on /dev/null, so that they stay taken as after a fork. The
// child starts with the main thread's signal mask (plus SIGUSR1 and
// SIGUSR2 on the Go runtime's own threads, so that a process-directed
// signal only reaches the script's thread) and the runner's handlers. The
// child then serves the executor over a control socket: system calls on
// its one script thread, and its own guest memory.

// forkEnv marks a process started by 'fork P'. Its value is the control
// fd, the signal mask, the fds to close and the fds to mark close-on-exec.
const forkEnv = "GUESTPOLL_CONFORMANCE_FORK"

// forkCtlFD is the lowest fd number of the parent's end of a control
// socket, out of the script's way.
const forkCtlFD = 800

// linuxChild is the parent's view of one forked process.
type linuxChild struct {
	pid, tid int32
	thread   ThreadID
	bad      uint64

	mu  sync.Mutex // one request at a time on ctl
	ctl int
	// flush: the child's thread was interrupted; its next call is
	// preceded by a getpid (see linuxThread.flush). Interrupt sets it
	// while a call holds mu.
	flush atomic.Bool
}

// Control requests.
const (
	ctlSyscall = iota + 1
	ctlAlloc
	ctlRead
	ctlWrite
	ctlExit
)

// ServesOperation: the linux backend runs every operation.
func (m *linuxMachine) ServesOperation(string) bool { return m.v3 }

func (m *linuxMachine) child(p ProcessID) *linuxChild {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.children[p]
}

func (m *linuxMachine) childOf(t ThreadID) *linuxChild {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.childThreads[t]
}

// Fork starts process child; see the comment at the top of this file.
func (m *linuxMachine) Fork(parent ProcessID, from ThreadID, child ProcessID, main ThreadID) (int32, error) {
	if parent != MainProcess {
		return 0, fmt.Errorf("only the script's process forks")
	}
	var mask uint64
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, 0, uintptr(unsafe.Pointer(&mask)), 8, 0, 0); e != 0 {
		return 0, e
	}
	open, cloexec, err := m.scriptFDs()
	if err != nil {
		return 0, err
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(pair[1])
	ctl, err := unix.FcntlInt(uintptr(pair[0]), unix.F_DUPFD_CLOEXEC, forkCtlFD)
	unix.Close(pair[0])
	if err != nil {
		return 0, err
	}
	pid, err := m.startChild(open, cloexec, m.runnerFDs, pair[1], mask)
	if err != nil {
		unix.Close(ctl)
		return 0, err
	}
	c := &linuxChild{pid: int32(pid), thread: main, ctl: ctl}
	var hello [16]byte
	if err := readFull(ctl, hello[:]); err != nil {
		unix.Close(ctl)
		return 0, fmt.Errorf("the forked process did not start: %v", err)
	}
	c.tid = int32(binary.LittleEndian.Uint64(hello[:]))
	c.bad = binary.LittleEndian.Uint64(hello[8:])
	m.mu.Lock()
	m.children[child] = c
	m.childThreads[main] = c
	m.mu.Unlock()
	return c.pid, nil
}

// scriptFDs lists the open fds of the process (but the runner's own and
// the machine's control sockets), and which of them are close-on-exec.
func (m *linuxMachine) scriptFDs() (open []int, cloexec []int, err error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, nil, err
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd >= forkCtlFD && fd < childOutFD {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			continue // the directory's own fd, closed by now
		}
		open = append(open, fd)
		if flags&unix.FD_CLOEXEC != 0 {
			cloexec = append(cloexec, fd)
		}
	}
	return open, cloexec, nil
}

// startChild starts the forked process with the fd table open (holes
// filled with ctl, which also goes right after the highest fd), from the
// calling (main) thread, whose mask is mask. SIGUSR1 and SIGUSR2 are
// blocked around the start so that the new process's runtime threads
// block them.
func (m *linuxMachine) startChild(open, cloexec, runner []int, ctl int, mask uint64) (int, error) {
	top := 0
	for _, fd := range open {
		top = max(top, fd+1)
	}
	files := make([]uintptr, top+1)
	isOpen := map[int]bool{}
	for _, fd := range open {
		isOpen[fd] = true
	}
	var holes []int
	for i := range top {
		if isOpen[i] {
			files[i] = uintptr(i)
		} else {
			files[i] = uintptr(ctl)
			holes = append(holes, i)
		}
	}
	files[top] = uintptr(ctl)
	// The runner's own fds stay taken in the child, by a placeholder, as
	// a real fork copies them: the child's next fd numbers are then the
	// ones the parent's next would be.
	var held []int
	for _, fd := range runner {
		if fd > 2 && isOpen[fd] {
			held = append(held, fd)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	env := append(childEnviron(os.Environ()), fmt.Sprintf("%s=%d;%d;%s;%s;%s", forkEnv, top, mask, fdList(holes), fdList(cloexec), fdList(held)))
	blocked := mask | 1<<(unix.SIGUSR1-1) | 1<<(unix.SIGUSR2-1)
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&blocked)), 0, 8, 0, 0)
	pid, err := syscall.ForkExec(exe, []string{exe}, &syscall.ProcAttr{
		Env: env, Files: files,
		Sys: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	})
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&mask)), 0, 8, 0, 0)
	return pid, err
}

func fdList(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// Exit asks process p to exit_group(0) and waits until it is a zombie.
func (m *linuxMachine) Exit(p ProcessID) error {
	c := m.child(p)
	if c == nil {
		return fmt.Errorf("no process %d", p)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var req [64]byte
	req[0] = ctlExit
	if err := writeFull(c.ctl, req[:]); err != nil {
		return err
	}
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, int(c.pid), &info, unix.WEXITED|unix.WNOWAIT, nil)
		switch err {
		case unix.EINTR:
			continue
		case unix.ECHILD:
			return nil // a waitpid running meanwhile reaped it: it has exited
		}
		return err
	}
}

func (m *linuxMachine) Memory(p ProcessID) Memory {
	if p == MainProcess {
		return m
	}
	return childMemory{m.child(p)}
}

func (m *linuxMachine) Pid(p ProcessID) int32 {
	if p == MainProcess {
		return int32(m.pid)
	}
	if c := m.child(p); c != nil {
		return c.pid
	}
	return 0
}

func (m *linuxMachine) Tid(t ThreadID) (int32, error) {
	if c := m.childOf(t); c != nil {
		return c.tid, nil
	}
	th := m.thread(t)
	if th == nil || th.tid == 0 {
		return 0, fmt.Errorf("thread %d has no OS thread", t)
	}
	return int32(th.tid), nil
}

// call makes one request of the child and reads its answer: the result
// register, the errno and the payload.
func (c *linuxChild) call(req []byte, payload []byte, out []byte) (uint64, syscall.Errno, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := writeFull(c.ctl, req); err != nil {
		return 0, 0, err
	}
	if len(payload) > 0 {
		if err := writeFull(c.ctl, payload); err != nil {
			return 0, 0, err
		}
	}
	var resp [16]byte
	if err := readFull(c.ctl, resp[:]); err != nil {
		return 0, 0, fmt.Errorf("the forked process %d: %v", c.pid, err)
	}
	if len(out) > 0 {
		if err := readFull(c.ctl, out); err != nil {
			return 0, 0, err
		}
	}
	return binary.LittleEndian.Uint64(resp[:]), syscall.Errno(binary.LittleEndian.Uint64(resp[8:])), nil
}

func (c *linuxChild) syscall(nr uintptr, a [6]uintptr) (uintptr, syscall.Errno) {
	var req [64]byte
	req[0] = ctlSyscall
	if c.flush.Swap(false) {
		req[1] = 1
	}
	binary.LittleEndian.PutUint64(req[8:], uint64(nr))
	for i, v := range a {
		binary.LittleEndian.PutUint64(req[16+8*i:], uint64(v))
	}
	r, e, err := c.call(req[:], nil, nil)
	if err != nil {
		return ^uintptr(0), syscall.EIO
	}
	return uintptr(r), e
}

// childMemory is a forked process's guest memory, reached through its
// control socket.
type childMemory struct{ c *linuxChild }

func (cm childMemory) Alloc(size uint64) (uint64, error) {
	var req [64]byte
	req[0] = ctlAlloc
	binary.LittleEndian.PutUint64(req[8:], size)
	r, e, err := cm.c.call(req[:], nil, nil)
	if err == nil && e != 0 {
		err = fmt.Errorf("allocating %d bytes in the forked process: %v", size, e)
	}
	return r, err
}

func (cm childMemory) ReadMem(addr uint64, b []byte) error {
	var req [64]byte
	req[0] = ctlRead
	binary.LittleEndian.PutUint64(req[8:], addr)
	binary.LittleEndian.PutUint64(req[16:], uint64(len(b)))
	_, e, err := cm.c.call(req[:], nil, b)
	if err == nil && e != 0 {
		err = fmt.Errorf("reading the forked process's memory at %#x: %v", addr, e)
	}
	return err
}

func (cm childMemory) WriteMem(addr uint64, b []byte) error {
	var req [64]byte
	req[0] = ctlWrite
	binary.LittleEndian.PutUint64(req[8:], addr)
	binary.LittleEndian.PutUint64(req[16:], uint64(len(b)))
	_, e, err := cm.c.call(req[:], b, nil)
	if err == nil && e != 0 {
		err = fmt.Errorf("writing the forked process's memory at %#x: %v", addr, e)
	}
	return err
}

func (cm childMemory) BadPtr() uint64 { return cm.c.bad }

func readFull(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Read(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("unexpected end of the control socket")
		}
		b = b[n:]
	}
	return nil
}

func writeFull(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// threadMask returns the signal mask a new script thread of the script's
// process starts with: empty for the main thread, the main thread's
// current mask for the others (as pthread_create from the main thread).
func (m *linuxMachine) threadMask(t ThreadID) uint64 {
	main := m.thread(MainThread)
	if t == MainThread || main == nil || main.tid == 0 {
		return 0
	}
	data, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(main.tid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "SigBlk:"); ok {
			mask, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return mask
		}
	}
	return 0
}

// setThreadMask sets the calling OS thread's signal mask.
func setThreadMask(mask uint64) {
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&mask)), 0, 8, 0, 0)
}
