//go:build linux && amd64

package seccompbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/syscalls"
)

// Options configure a Box.
type Options struct {
	// NoPollSync leaves poll, ppoll, select and pselect6 untrapped. By
	// default they are trapped (and continued at once) so that the
	// doorbells of the guest's epoll fds are exact when the guest polls
	// them; without it, a poll of an epoll fd sees a change the guest made
	// only once the box has seen it (asynchronously).
	NoPollSync bool
	// Log receives the box's warnings (os.Stderr when nil).
	Log io.Writer

	// beforeAnswer, for tests, runs just before the answer of a wait that
	// harvested events, or of an epoll_ctl, is sent.
	beforeAnswer func(b *Box, n *notif)
	// beforeFrameWrite, for tests, runs when the box has decided to
	// rewrite the signal frame of rt_sigreturn n, after it checked that n
	// is still pending, before the registers are written.
	beforeFrameWrite func(b *Box, n *notif)
	// afterLeftInstall, for tests, runs when the placeholder of an
	// interrupted epoll_create has been installed at rt_sigreturn n,
	// before the box checks n again and writes the frame.
	afterLeftInstall func(b *Box, n *notif)
	// frameReadRunning, for tests, runs when the box has read where the
	// signal frame of rt_sigreturn n is; true makes the box take that
	// read for /proc/TID/syscall's "running" (the thread not yet asleep in
	// the call, frameaddr.go).
	frameReadRunning func(b *Box, n *notif) bool
	// beforeWait, for tests, runs when a wait on one of the box's
	// instances arrives.
	beforeWait func(b *Box, n *notif)
	// answersDropped, for tests, has the box take an answer that NOTIF_SEND
	// refuses because its thread has left the call for one sent, which is
	// what the kernel reports for an answer it drops (answeredCall).
	answersDropped bool
	// noVaults, for tests, keeps every probe in the main fd table, so
	// that the box runs out of fds (vault.go).
	noVaults bool
	// allVaults, for tests, puts every probe in a vault.
	allVaults bool
}

// Box supervises one guest program: it serves the guest's trapped epoll
// system calls from guestpoll's model.
type Box struct {
	opts     Options
	cmd      *exec.Cmd
	listener int
	k        *syscalls.Kernel
	slot     int // the fixed fd number of transient duplicates
	fdLimit  int // the box's RLIMIT_NOFILE (raiseFDLimit)

	stopRecv int // eventfds that stop the receiver and the poller
	stopPoll int
	wg       sync.WaitGroup
	workers  sync.WaitGroup
	closing  atomic.Bool
	done     chan struct{} // closed at shutdown: stops the sweeper and the bell refresher
	// unused is closed when no task uses the filter any more (the
	// listener hangs up), or the receiver stopped.
	unused     chan struct{}
	unusedOnce sync.Once

	// slotMu serializes every use of the slot.
	slotMu sync.Mutex

	// central is the host epoll of every proxy's probes; pollMu serializes
	// its harvests (drainHost).
	central int
	pollMu  sync.Mutex
	// +checklocks:pollMu
	hostEvs [256]hostEpollEvent

	// ready are eventfds that stay readable; every probe holds one besides
	// its guest file, so that no poll of the central epoll (the poller's
	// ppoll) ever finds a probe not ready and drops it from the central
	// ready list (Linux's poll of an epoll fd prunes entries that are not
	// ready): that would lose a wakeup the model must still see, as a
	// queued stale item. A probe knows its eventfd by index.
	readyMu sync.Mutex
	// +checklocks:readyMu
	ready []readyFD

	// vaults hold the probes and full always-ready eventfds made once the
	// main fd table is half used (vault.go); filler is the file a
	// released vault number holds.
	vaultMu sync.Mutex
	// +checklocks:vaultMu
	vaults []*vault
	// +checklocks:vaultMu
	filler int

	// exclusive lists the proxies shared by EPOLLEXCLUSIVE registrations.
	exclMu sync.Mutex
	// +checklocks:exclMu
	exclusive []*regProxy

	proxMu sync.RWMutex
	// +checklocks:proxMu
	proxies []*proxy // by index
	// +checklocks:proxMu
	freeIdx []uint32
	// +checklocks:proxMu
	nproxies int

	mu sync.Mutex
	// +checklocks:mu
	instances map[*instance]struct{}
	// +checklocks:mu
	idCache map[fdKey]*instance // guest (tid, fd) -> instance, validated on use
	// +checklocks:mu
	threads map[int32]*thread // by tid
	// +checklocks:mu
	warned map[string]bool

	// collectAt is the number of instances at which newInstance collects
	// at once, not at the sweeper's next round: instances a guest makes
	// and closes at speed would otherwise pile up.
	// +checklocks:mu
	collectAt int

	bellQ    chan *instance
	bellKick chan struct{}
	bellAll  atomic.Bool

	// recv is the receiver's own server, for every call it serves inline.
	recv server

	// The receiver's, for sigreturn: the last notification id received,
	// until when a gap in the ids makes every rt_sigreturn's frame be
	// checked, and the threads whose rt_sigreturn was withdrawn after it
	// was received.
	lastID     uint64
	lastGap    uint64 // the first id received after the last gap
	gapUntil   time.Time
	checkFrame map[int32]bool

	stats [statN]stat
}

type fdKey struct{ tid, fd int32 }

// readyFD is one always-ready eventfd: in the main table (fd), or once
// readyShare probes have taken it and it is in the vault zone, in a vault
// (v, num), where it takes no new probe and is released with its last.
type readyFD struct {
	fd    int
	v     *vault
	num   int32
	users int
}

// raiseFDLimit raises the process's RLIMIT_NOFILE to fs.nr_open when it
// may (CAP_SYS_RESOURCE), else its soft limit to its hard one, and returns
// the soft limit: each registration costs the box two fds. The guests
// still get the limit the process had (Start passes it to the shim).
func raiseFDLimit() int {
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) != nil {
		return 1024
	}
	want := uint64(1 << 20)
	if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			want = n
		}
	}
	if rl.Max < want && unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: want, Max: want}) == nil {
		return int(want)
	}
	if rl.Cur < rl.Max && unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: rl.Max, Max: rl.Max}) == nil {
		return int(rl.Max)
	}
	return int(rl.Cur)
}

// guestFDLimit is the RLIMIT_NOFILE the process had before its first
// Start raised it (raiseFDLimit): the limit its guests get.
var guestFDLimit = sync.OnceValue(func() unix.Rlimit {
	var rl unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
	return rl
})

// Start starts cmd (whose Path, Args, Env, Dir, standard files and
// ExtraFiles are used) under a box. The current executable is re-run as
// the shim (see RunShimIfRequested), which installs the seccomp filter,
// sends its listener here and execs cmd.Path.
func Start(cmd *exec.Cmd, opts Options) (*Box, error) {
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	mine := pair[0]
	theirs := os.NewFile(uintptr(pair[1]), "seccompbox-shim")
	mode := "epoll+poll"
	if opts.NoPollSync {
		mode = "epoll"
	}
	shimFD := 3 + len(cmd.ExtraFiles)
	lim := guestFDLimit()
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	argv0 := cmd.Path
	if len(cmd.Args) > 0 {
		argv0 = cmd.Args[0]
	}
	args := []string{self, cmd.Path, argv0}
	if len(cmd.Args) > 1 {
		args = append(args, cmd.Args[1:]...)
	}
	shim := &exec.Cmd{
		Path: self,
		Args: args,
		Env: append(append([]string(nil), env...), shimEnv+"="+strconv.Itoa(shimFD)+":"+mode+
			":"+strconv.FormatUint(lim.Cur, 10)+":"+strconv.FormatUint(lim.Max, 10)),
		Dir:         cmd.Dir,
		Stdin:       cmd.Stdin,
		Stdout:      cmd.Stdout,
		Stderr:      cmd.Stderr,
		ExtraFiles:  append(append([]*os.File(nil), cmd.ExtraFiles...), theirs),
		SysProcAttr: cmd.SysProcAttr,
	}
	if err := shim.Start(); err != nil {
		theirs.Close()
		rawClose(mine)
		return nil, err
	}
	theirs.Close()
	lfd, err := recvListener(mine)
	rawClose(mine)
	if err != nil {
		shim.Process.Kill()
		shim.Wait()
		return nil, fmt.Errorf("seccompbox: the shim did not send its listener: %v", err)
	}
	b, err := newBox(lfd, opts)
	if err != nil {
		rawClose(lfd)
		shim.Process.Kill()
		shim.Wait()
		return nil, err
	}
	b.cmd = shim
	cmd.Process = shim.Process
	b.run()
	return b, nil
}

// recvListener receives the listener fd the shim sends on sock (EOF when
// the shim failed first).
func recvListener(sock int) (int, error) {
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return -1, err
	}
	if n == 0 {
		return -1, io.EOF
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return -1, errors.New("no control message")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, f := range fds {
			rawClose(f)
		}
		return -1, errors.New("no fd in the control message")
	}
	return fds[0], nil
}

func newBox(listener int, opts Options) (*Box, error) {
	b := &Box{
		opts:       opts,
		listener:   listener,
		k:          syscalls.NewKernel(),
		central:    -1,
		filler:     -1,
		stopRecv:   -1,
		stopPoll:   -1,
		done:       make(chan struct{}),
		unused:     make(chan struct{}),
		instances:  map[*instance]struct{}{},
		idCache:    map[fdKey]*instance{},
		threads:    map[int32]*thread{},
		warned:     map[string]bool{},
		bellQ:      make(chan *instance, 1024),
		checkFrame: map[int32]bool{},
		bellKick:   make(chan struct{}, 1),
		collectAt:  collectFloor,
	}
	// SYNC_WAKE_UP: the flag goes by value. Older kernels lack it; the box
	// works without it, only slower.
	unix.RawSyscall(unix.SYS_IOCTL, uintptr(listener), ioctlNotifSetFlags, notifFDSyncWakeUp)
	var err error
	if b.central, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		b.closeFDs()
		return nil, err
	}
	if b.stopRecv, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		b.closeFDs()
		return nil, err
	}
	if b.stopPoll, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		b.closeFDs()
		return nil, err
	}
	// The slot sits at the top of the fd limit, above anything the
	// runtime will open; one dup3 there grows the fd table now, not in
	// the middle of a reply (the growth waits for an RCU grace period).
	b.fdLimit = raiseFDLimit()
	b.slot = min(b.fdLimit, 1<<20) - 1
	if e := rawDup3(b.central, b.slot); e != 0 {
		b.closeFDs()
		return nil, fmt.Errorf("seccompbox: reserving fd %d: %v", b.slot, e)
	}
	rawClose(b.slot)
	b.recv.init(b, 0)
	return b, nil
}

func newViewTable() *fd.Table {
	t := fd.NewTable()
	t.SetLimit(fd.NrOpen, fd.NrOpen)
	return t
}

func (b *Box) closeFDs() {
	for _, p := range []*int{&b.central, &b.stopRecv, &b.stopPoll, &b.listener} {
		if *p >= 0 {
			rawClose(*p)
			*p = -1
		}
	}
	b.readyMu.Lock()
	for _, r := range b.ready {
		if r.fd >= 0 {
			rawClose(r.fd)
		}
	}
	b.ready = nil
	b.readyMu.Unlock()
	b.stopVaults()
}

func (b *Box) run() {
	b.wg.Add(4)
	go b.receiver()
	go b.poller()
	go b.sweeper()
	go b.bellRefresher()
}

// Pid returns the guest's process id.
func (b *Box) Pid() int { return b.cmd.Process.Pid }

// Signal sends sig to the guest process.
func (b *Box) Signal(sig os.Signal) error { return b.cmd.Process.Signal(sig) }

// Wait waits for the guest process to exit and then for every other task
// that uses the box's filter (processes the guest forked, a daemon that
// outlives it) to be gone, stops the box and frees everything it holds.
// It returns the guest's exit status.
func (b *Box) Wait() (*os.ProcessState, error) {
	err := b.cmd.Wait()
	<-b.unused
	b.shutdown()
	return b.cmd.ProcessState, err
}

// markUnused records that no task will send notifications any more.
func (b *Box) markUnused() { b.unusedOnce.Do(func() { close(b.unused) }) }

func (b *Box) shutdown() {
	if b.closing.Swap(true) {
		return
	}
	one := [8]byte{1}
	rawWrite(b.stopRecv, one[:])
	rawWrite(b.stopPoll, one[:])
	close(b.done)
	// Stop the workers: interrupt what they wait for, then end their
	// loops.
	threads := b.threadList()
	b.wg.Wait() // receiver, poller, sweeper, refresher: no new calls after this
	for _, th := range threads {
		if th.calls.shutdown() {
			close(th.work)
		}
	}
	b.workers.Wait()
	for _, th := range threads {
		if th.pidfd >= 0 {
			rawClose(th.pidfd)
		}
		b.dropPending(th.calls.takeLeftCreate())
	}
	for _, inst := range b.instanceList() {
		b.kill(inst)
	}
	b.recv.task.Exit()
	b.closeFDs()
}

// warn prints a warning once per key.
func (b *Box) warn(key, format string, args ...any) {
	b.mu.Lock()
	seen := b.warned[key]
	b.warned[key] = true
	b.mu.Unlock()
	if !seen {
		fmt.Fprintf(b.opts.Log, "epollbox: "+format+"\n", args...)
	}
}

// receiver receives notifications and serves them: everything that does
// not block runs here, on one OS thread (with SYNC_WAKE_UP, the guest and
// this thread hand the CPU to each other); blocking waits go to the
// thread's worker.
func (b *Box) receiver() {
	defer b.wg.Done()
	defer b.markUnused()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pfds := [2]unix.PollFd{{Fd: int32(b.listener), Events: unix.POLLIN}, {Fd: int32(b.stopRecv), Events: unix.POLLIN}}
	var n notif
	lastReap := time.Now()
	for {
		if time.Since(lastReap) >= time.Second {
			b.reapThreads()
			lastReap = time.Now()
		}
		pfds[0].Revents, pfds[1].Revents = 0, 0
		// ppoll writes the time left back into its timespec: a fresh one
		// per call, or the box would spin once a timeout has used it up.
		ts := unix.Timespec{Sec: 1}
		_, _, e := unix.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfds[0])), 2, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if pfds[0].Revents == 0 && pfds[1].Revents == 0 {
			continue // timeout
		}
		if e != 0 || pfds[1].Revents != 0 {
			return
		}
		if pfds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0 && pfds[0].Revents&unix.POLLIN == 0 {
			// No task uses the filter any more (the kernel counts a task
			// until it is reaped): wait for shutdown.
			pfds[0].Fd = -1
			b.markUnused()
			continue
		}
		n = notif{}
		if e := ioctlPtr(b.listener, ioctlNotifRecv, unsafe.Pointer(&n)); e != 0 {
			continue // ENOENT: the guest was interrupted before we got it
		}
		b.noteID(n.id)
		b.handle(&n)
	}
}

// noteID records that notification id was received. Ids are consecutive:
// a gap is a notification withdrawn before it was received (its thread
// interrupted), which may have been an rt_sigreturn or a call Linux never
// fails with EINTR (sigreturn.go). The ids start at a random number, so
// the first one received may follow a gap nobody can see (the guest's
// first call withdrawn): it counts as following one.
func (b *Box) noteID(id uint64) {
	if b.lastID == 0 || id != b.lastID+1 {
		b.gapUntil = time.Now().Add(gapWindow)
		b.lastGap = id
	}
	b.lastID = id
}
