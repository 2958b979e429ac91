//go:build linux && amd64

package conformance

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	Register(BackendSpec{
		Name:         "linux",
		NewMachine:   newChildLinuxMachine,
		Isolated:     true,
		StartBlocked: 1<<(unix.SIGUSR1-1) | 1<<(unix.SIGUSR2-1),
		Doc:          "the host kernel, through real system calls, in a fresh child process per script",
	})
}

// linuxMachine executes steps on the host kernel. It is only used inside a
// child process prepared by prepareChildProcess (SIGUSR1 without
// SA_RESTART, SIGPIPE ignored, asynchronous preemption off).
type linuxMachine struct {
	pid int
	// unlocked leaves script threads' goroutines free to move between OS
	// threads (NewInProcessLinuxMachine without interrupts): handing a
	// step to an unlocked goroutine is much cheaper, but Interrupt cannot
	// target one.
	unlocked bool

	mu sync.Mutex
	// +checklocks:mu
	regions []linuxRegion
	// +checklocks:mu
	threads map[ThreadID]*linuxThread
	bad     []byte // PROT_NONE mapping behind BadPtr
	// +checklocks:mu
	closed bool

	// Version 3's processes (linuxproc_linux.go): the fds open when the
	// machine was made (the runner's), and the forked processes by id and
	// by the id of their thread.
	v3        bool // serves format version 3 (not in a shared process)
	runnerFDs []int
	// +checklocks:mu
	children map[ProcessID]*linuxChild
	// +checklocks:mu
	childThreads map[ThreadID]*linuxChild
}

type linuxRegion struct {
	base uint64
	mem  []byte
}

type linuxThread struct {
	tid int
	// flush is set by Interrupt: before its next system call the thread
	// makes a harmless one first, so that a SIGUSR1 still pending (sent
	// just as the interrupted call returned) is handled there and cannot
	// interrupt the next call.
	flush atomic.Bool
}

func newLinuxMachine() (Machine, error) {
	bad, err := unix.Mmap(-1, 0, 16*4096, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("mapping the BADPTR page: %w", err)
	}
	return &linuxMachine{pid: unix.Getpid(), threads: map[ThreadID]*linuxThread{}, bad: bad,
		children: map[ProcessID]*linuxChild{}, childThreads: map[ThreadID]*linuxChild{}}, nil
}

// newChildLinuxMachine is the linux backend's machine, in the child
// process made for one script: it serves format version 3 (the fds open
// now are the runner's, which a fork does not pass on).
func newChildLinuxMachine() (Machine, error) {
	m, err := newLinuxMachine()
	if err != nil {
		return nil, err
	}
	lm := m.(*linuxMachine)
	lm.v3 = true
	lm.runnerFDs, _, err = lm.scriptFDs()
	return lm, err
}

func (m *linuxMachine) StartThread(t ThreadID) error {
	// The goroutine stays locked to its OS thread until it exits, which
	// makes the Go runtime end the thread: every script thread gets a fresh
	// OS thread and leaves nothing behind.
	if m.childOf(t) != nil {
		return nil // a forked process's thread: its calls go to that process
	}
	th := &linuxThread{}
	if !m.unlocked {
		runtime.LockOSThread()
		th.tid = unix.Gettid()
		setThreadMask(m.threadMask(t))
	}
	m.mu.Lock()
	m.threads[t] = th
	m.mu.Unlock()
	return nil
}

func (m *linuxMachine) StopThread(t ThreadID) {
	m.mu.Lock()
	delete(m.threads, t)
	m.mu.Unlock()
}

func (m *linuxMachine) thread(t ThreadID) *linuxThread {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.threads[t]
}

func (m *linuxMachine) Syscall(t ThreadID, nr uintptr, a [6]uintptr) (uintptr, syscall.Errno) {
	if c := m.childOf(t); c != nil {
		return c.syscall(nr, a)
	}
	if th := m.thread(t); th != nil && th.flush.Swap(false) {
		unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0)
	}
	return hostSyscall(nr, a)
}

func (m *linuxMachine) Interrupt(t ThreadID) error {
	if c := m.childOf(t); c != nil {
		c.flush.Store(true)
		return unix.Tgkill(int(c.pid), int(c.tid), unix.SIGUSR1)
	}
	th := m.thread(t)
	if th == nil {
		return fmt.Errorf("no thread %d", t)
	}
	if th.tid == 0 {
		return fmt.Errorf("thread %d is not locked to an OS thread: this machine cannot interrupt", t)
	}
	th.flush.Store(true)
	return unix.Tgkill(m.pid, th.tid, unix.SIGUSR1)
}

// rawPrlimit reads (and, if set is not nil, changes) RLIMIT_NOFILE without
// the Go runtime's bookkeeping that unix.Prlimit and syscall.Setrlimit do.
func rawPrlimit(set *unix.Rlimit) (unix.Rlimit, syscall.Errno) {
	var old unix.Rlimit
	_, _, e := unix.RawSyscall6(unix.SYS_PRLIMIT64, 0, unix.RLIMIT_NOFILE,
		uintptr(unsafe.Pointer(set)), uintptr(unsafe.Pointer(&old)), 0, 0)
	return old, e
}

func (m *linuxMachine) Fdinfo(t ThreadID, fd int32) (string, syscall.Errno) {
	if fd < 0 {
		return "", unix.EBADF
	}
	// Opening the file needs a free fd under RLIMIT_NOFILE; a script may
	// have lowered the soft limit (to 0), so lift it around the read.
	cur, e := rawPrlimit(nil)
	if e != 0 {
		return "", e
	}
	if cur.Cur < cur.Max {
		lifted := unix.Rlimit{Cur: cur.Max, Max: cur.Max}
		if _, e := rawPrlimit(&lifted); e != 0 {
			return "", e
		}
		defer rawPrlimit(&cur)
	}
	proc := "self"
	if c := m.childOf(t); c != nil {
		proc = strconv.Itoa(int(c.pid))
	}
	f, err := unix.Open("/proc/"+proc+"/fdinfo/"+strconv.Itoa(int(fd)), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		if err == unix.ENOENT {
			return "", unix.EBADF
		}
		return "", err.(syscall.Errno)
	}
	defer unix.Close(f)
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(f, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", err.(syscall.Errno)
		}
		if n == 0 {
			return string(out), 0
		}
		out = append(out, buf[:n]...)
	}
}

func (m *linuxMachine) Alloc(size uint64) (uint64, error) {
	if size == 0 || size > 1<<40 {
		return 0, fmt.Errorf("bad allocation size %d", size)
	}
	size = (size + 4095) &^ 4095
	mem, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return 0, fmt.Errorf("mmap of %d bytes: %w", size, err)
	}
	base := uint64(uintptr(unsafe.Pointer(&mem[0])))
	m.mu.Lock()
	m.regions = append(m.regions, linuxRegion{base: base, mem: mem})
	m.mu.Unlock()
	return base, nil
}

func (m *linuxMachine) region(addr uint64, n int) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("machine closed")
	}
	for _, r := range m.regions {
		if addr >= r.base && addr+uint64(n) <= r.base+uint64(len(r.mem)) && addr+uint64(n) >= addr {
			off := addr - r.base
			return r.mem[off : off+uint64(n)], nil
		}
	}
	return nil, fmt.Errorf("guest address %#x (+%d) is not in the scratch arena", addr, n)
}

func (m *linuxMachine) ReadMem(addr uint64, b []byte) error {
	mem, err := m.region(addr, len(b))
	if err != nil {
		return err
	}
	copy(b, mem)
	return nil
}

func (m *linuxMachine) WriteMem(addr uint64, b []byte) error {
	mem, err := m.region(addr, len(b))
	if err != nil {
		return err
	}
	copy(mem, b)
	return nil
}

func (m *linuxMachine) BadPtr() uint64 { return uint64(uintptr(unsafe.Pointer(&m.bad[0]))) }

func (m *linuxMachine) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	for _, c := range m.children {
		unix.Close(c.ctl)
	}
	var first error
	for _, r := range m.regions {
		if err := unix.Munmap(r.mem); err != nil && first == nil {
			first = err
		}
	}
	if err := unix.Munmap(m.bad); err != nil && first == nil {
		first = err
	}
	m.regions = nil
	return first
}

// saRestart is SA_RESTART in the kernel's struct sigaction.
const saRestart = 0x10000000

// kernelSigaction is the x86-64 kernel's struct sigaction.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

// prepareChildProcess sets up the signal state the contract requires:
// SIGPIPE ignored; SIGUSR1 caught by a handler without SA_RESTART. It also
// makes the Go runtime create its own fds (netpoller) now, so that they
// are not created in the middle of a script.
func prepareChildProcess() error {
	signal.Ignore(syscall.SIGPIPE)
	ch := make(chan os.Signal, 64)
	signal.Notify(ch, syscall.SIGUSR1)
	go func() {
		for range ch {
		}
	}()
	if err := clearSARestart(unix.SIGUSR1); err != nil {
		return err
	}
	// Timers initialise the runtime's netpoller (an epoll fd and an
	// eventfd); do it before the script runs.
	time.Sleep(time.Millisecond)
	return nil
}

func clearSARestart(sig syscall.Signal) error {
	var sa kernelSigaction
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&sa)), 8, 0, 0); e != 0 {
		return fmt.Errorf("rt_sigaction(%v) read: %v", sig, e)
	}
	if sa.handler == 0 || sa.handler == 1 {
		return fmt.Errorf("signal %v has no handler installed", sig)
	}
	sa.flags &^= saRestart
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&sa)), 0, 8, 0, 0); e != 0 {
		return fmt.Errorf("rt_sigaction(%v) write: %v", sig, e)
	}
	var check kernelSigaction
	unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&check)), 8, 0, 0)
	if check.flags&saRestart != 0 {
		return fmt.Errorf("SA_RESTART still set on %v", sig)
	}
	return nil
}

// sigactionFlags returns the kernel's sa_flags for sig (for tests).
func sigactionFlags(sig syscall.Signal) (uint64, error) {
	var sa kernelSigaction
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&sa)), 8, 0, 0); e != 0 {
		return 0, e
	}
	return sa.flags, nil
}
