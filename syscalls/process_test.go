package syscalls

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fd"
)

// newProcTT returns a tt whose task is the main thread of an explicit
// process (Kernel.NewProcess).
func newProcTT(tb testing.TB) *tt {
	k := NewKernel()
	mem := NewGuestMemory()
	if err := mem.Map(memBase, memSize); err != nil {
		tb.Fatal(err)
	}
	table := fd.NewTable()
	tb.Cleanup(table.CloseAll)
	p := k.NewProcess(table, mem)
	return &tt{tb: tb, k: k, t: p.NewTask(AMD64), mem: mem}
}

// fork forks x's task; the child shares x's memory (the tests keep their
// scratch apart).
func (x *tt) fork() *tt {
	return &tt{tb: x.tb, k: x.k, t: x.t.Fork(x.mem), mem: x.mem}
}

// exit ends x's task and its process with code.
func (x *tt) exit(code int) {
	p := x.t.Process()
	x.t.Exit()
	p.Exit(code)
}

// waitOne is epoll_wait(ep, 1 event, timeout 0) on x's task.
func (x *tt) waitOne(ep uintptr) (int, uint32, uint64) {
	const at = memBase + 0x1000
	n, e := x.call(sysEpollWait, ep, at, 4, 0)
	if e != 0 {
		x.tb.Fatalf("epoll_wait: %v", e)
	}
	if n == 0 {
		return 0, 0, 0
	}
	ev, data := x.getEvent(at)
	return int(n), ev, data
}

// pollOne is poll of one fd for every event, timeout 0: its revents.
func (x *tt) pollOne(fdn uintptr) uint16 {
	const at = memBase + 0x1100
	x.putU32(at, uint32(fdn), 0xffff)
	x.must(sysPoll, at, 1, 0)
	return binary.LittleEndian.Uint16(x.get(at+6, 2))
}

func TestForkSharesEpollInstance(t *testing.T) {
	x := newProcTT(t)
	ep := x.epoll()
	r, w := x.pipe()
	if e := x.ctl(ep, unix.EPOLL_CTL_ADD, r, unix.EPOLLIN, 7); e != 0 {
		t.Fatal(e)
	}
	c := x.fork()
	if got := c.t.FDTable().Len(); got != 3 {
		t.Fatalf("child has %d fds, want 3", got)
	}
	// The child's close drops one reference: the registration stays.
	c.must(sysClose, r)
	x.writeU64(w, 1)
	if n, ev, data := x.waitOne(ep); n != 1 || ev != unix.EPOLLIN || data != 7 {
		t.Fatalf("parent after the child's close: %d %#x %d", n, ev, data)
	}
	// The child waits on the same instance and sees the same registration
	// (level-triggered, still ready), though it has no fd r any more.
	if n, _, data := c.waitOne(ep); n != 1 || data != 7 {
		t.Fatalf("child: %d events, data %d", n, data)
	}
	// The parent's close drops the last reference: the registration goes.
	x.must(sysClose, r)
	if n, _, _ := c.waitOne(ep); n != 0 {
		t.Fatalf("child after the last close: %d events", n)
	}
	c.exit(0)
}

func TestChildExitKeepsParentsRegistration(t *testing.T) {
	x := newProcTT(t)
	ep := x.epoll()
	r, w := x.pipe()
	x.ctl(ep, unix.EPOLL_CTL_ADD, r, unix.EPOLLIN|unix.EPOLLET, 1)
	c := x.fork()
	watches := x.k.EpollDomain().Watches()
	c.exit(0)
	if got := x.k.EpollDomain().Watches(); got != watches {
		t.Fatalf("watches %d after the child's exit, want %d", got, watches)
	}
	x.writeU64(w, 1)
	if n, _, _ := x.waitOne(ep); n != 1 {
		t.Fatalf("%d events after the child's exit, want 1", n)
	}
}

func TestExitClosesTable(t *testing.T) {
	x := newProcTT(t)
	r, w := x.pipe()
	c := x.fork()
	x.must(sysClose, w)
	if got := x.pollOne(r); got&unix.POLLHUP != 0 {
		t.Fatalf("read end %#x while the child holds the write end", got)
	}
	c.exit(0)
	if got := x.pollOne(r); got != unix.POLLHUP {
		t.Fatalf("read end %#x after the child's exit, want HUP", got)
	}
	if n := c.t.Process().Table().Len(); n != 0 {
		t.Fatalf("child's table has %d fds after exit", n)
	}
}

func TestPidfdReadinessAndReaping(t *testing.T) {
	x := newProcTT(t)
	c := x.fork()
	pid := uintptr(c.t.Process().Pid())
	pd := x.must(sysPidfdOpen, pid, 0)
	if fl := x.must(sysFcntl, pd, unix.F_GETFL); fl != unix.O_RDWR {
		t.Errorf("pidfd flags %#o, want O_RDWR", fl)
	}
	if ce := x.must(sysFcntl, pd, unix.F_GETFD); ce != unix.FD_CLOEXEC {
		t.Errorf("pidfd FD flags %d, want FD_CLOEXEC", ce)
	}
	ep := x.epoll()
	// Interest 0 (ERR|HUP only) and ET: nothing at exit, HUP at reaping.
	x.ctl(ep, unix.EPOLL_CTL_ADD, pd, unix.EPOLLET, 1)
	if got := x.pollOne(pd); got != 0 {
		t.Fatalf("running child: pidfd %#x", got)
	}
	if _, e := x.call(sysRead, pd, memBase, 8); e != unix.EINVAL {
		t.Errorf("read of a pidfd: %v, want EINVAL", sx(e))
	}
	if r, _ := x.call(sysWait4, pid, 0, unix.WNOHANG, 0); r != 0 {
		t.Fatalf("wait4 WNOHANG of a running child: %d", r)
	}
	c.exit(3)
	if got := x.pollOne(pd); got != unix.POLLIN|pollRdNorm {
		t.Fatalf("zombie: pidfd %#x, want IN|RDNORM", got)
	}
	if n, _, _ := x.waitOne(ep); n != 0 {
		t.Fatalf("zombie: %d events for interest 0", n)
	}
	if pd2, e := x.call(sysPidfdOpen, pid, unix.O_NONBLOCK); e != 0 {
		t.Fatalf("pidfd_open of a zombie: %v", e)
	} else if fl := x.must(sysFcntl, pd2, unix.F_GETFL); fl != unix.O_RDWR|unix.O_NONBLOCK {
		t.Errorf("PIDFD_NONBLOCK flags %#o", fl)
	}
	const st = memBase + 0x1200
	if r := x.must(sysWait4, pid, st, 0, 0); r != pid {
		t.Fatalf("wait4: %d, want %d", r, pid)
	}
	if s := binary.LittleEndian.Uint32(x.get(st, 4)); s != 3<<8 {
		t.Fatalf("status %#x, want 0x300", s)
	}
	if got := x.pollOne(pd); got != unix.POLLIN|pollRdNorm|unix.POLLHUP {
		t.Fatalf("reaped: pidfd %#x, want IN|RDNORM|HUP", got)
	}
	if n, ev, _ := x.waitOne(ep); n != 1 || ev != unix.EPOLLHUP {
		t.Fatalf("reaped: %d events %#x, want one HUP", n, ev)
	}
	if _, e := x.call(sysWait4, pid, 0, 0, 0); e != unix.ECHILD {
		t.Errorf("wait4 after reaping: %v, want ECHILD", sx(e))
	}
	if _, e := x.call(sysPidfdOpen, pid, 0); e != unix.ESRCH {
		t.Errorf("pidfd_open after reaping: %v, want ESRCH", sx(e))
	}
}

// pidfd_open's and wait4's errors, in Linux's order (checked on Linux
// 6.18 with a C program).
func TestPidfdOpenAndWait4Errors(t *testing.T) {
	x := newProcTT(t)
	self := uintptr(x.t.Process().Pid())
	sib := x.t.Process().NewTask(AMD64)
	defer sib.Exit()
	for _, c := range []struct {
		pid, flags uintptr
		want       unix.Errno
	}{
		{0, 0, unix.EINVAL},
		{neg(-1), 0, unix.EINVAL},
		{self, 1, unix.EINVAL},
		{0, 1, unix.EINVAL},
		{99999999, 1, unix.EINVAL},
		{self, unix.O_NONBLOCK | unix.O_CLOEXEC, unix.EINVAL},
		{99999999, 0, unix.ESRCH},
		{uintptr(sib.Tid()), 0, unix.ENOENT},
	} {
		if _, e := x.call(sysPidfdOpen, c.pid, c.flags); e != c.want {
			t.Errorf("pidfd_open(%d, %#x): %v, want %v", int32(c.pid), c.flags, sx(e), sx(c.want))
		}
	}
	for _, c := range []struct {
		pid, options uintptr
		want         unix.Errno
	}{
		{neg(-1), 0x10, unix.EINVAL},
		{neg(-1), unix.WEXITED, unix.EINVAL},
		{neg(-1), 0, unix.ECHILD},
		{1, 0, unix.ECHILD},
		{neg(-1), 0x40000000, unix.ECHILD},
	} {
		if _, e := x.call(sysWait4, c.pid, 0, c.options, 0); e != c.want {
			t.Errorf("wait4(%d, %#x): %v, want %v", int32(c.pid), c.options, sx(e), sx(c.want))
		}
	}
	c := x.fork()
	c.exit(0)
	if _, e := x.call(sysWait4, neg(-1), 0, 0x80000000, 0); e != unix.ECHILD {
		t.Errorf("wait4 __WCLONE: %v, want ECHILD", sx(e))
	}
	if _, e := x.call(sysWait4, neg(-1), hole, 0, 0); e != unix.EFAULT {
		t.Errorf("wait4 to a bad status: %v, want EFAULT", sx(e))
	}
	if _, e := x.call(sysWait4, neg(-1), 0, 0, 0); e != unix.ECHILD {
		t.Errorf("wait4 after the faulting one: %v, want ECHILD (it reaped)", sx(e))
	}
}

func TestWait4BlocksUntilExitAndIsInterruptible(t *testing.T) {
	x := newProcTT(t)
	c := x.fork()
	pid := uintptr(c.t.Process().Pid())
	done := make(chan uintptr)
	go func() { done <- x.must(sysWait4, neg(-1), 0, 0, 0) }()
	select {
	case r := <-done:
		t.Fatalf("wait4 returned %d before the child exited", r)
	case <-time.After(20 * time.Millisecond):
	}
	c.exit(0)
	if r := <-done; r != pid {
		t.Fatalf("wait4: %d, want %d", r, pid)
	}

	c = x.fork()
	errc := make(chan unix.Errno)
	go func() {
		_, e := x.call(sysWait4, neg(-1), 0, 0, 0)
		errc <- e
	}()
	time.Sleep(20 * time.Millisecond)
	x.t.Interrupt(int(unix.SIGUSR1))
	if e := <-errc; e != unix.EINTR {
		t.Fatalf("interrupted wait4: %v, want EINTR", sx(e))
	}
	c.exit(0)
	if _, ok := c.t.Process().Reap(); !ok {
		t.Fatal("Reap of a zombie failed")
	}
}

// signalfd makes a signalfd of mask on x's task.
func (x *tt) signalfd(mask uint64, flags uintptr) uintptr {
	const at = memBase + 0x1300
	x.putU64(at, mask)
	return x.must(sysSignalfd4, neg(-1), at, 8, flags)
}

func (x *tt) sigmask(how int, mask uint64) {
	const at = memBase + 0x1308
	x.putU64(at, mask)
	x.must(sysRtSigprocmask, uintptr(how), at, 0, 8)
}

// readSig reads one signalfd_siginfo; it returns the signal or the errno.
func (x *tt) readSig(sfd uintptr) (int, unix.Errno) {
	const at = memBase + 0x1400
	n, e := x.call(sysRead, sfd, at, 128)
	if e != 0 {
		return 0, e
	}
	if n != 128 {
		x.tb.Fatalf("signalfd read %d bytes", n)
	}
	return int(binary.LittleEndian.Uint32(x.get(at, 4))), 0
}

func bit(sig unix.Signal) uint64 { return 1 << (sig - 1) }

// A signalfd's readiness and read are the calling thread's: the parent's
// registration hooks the parent's queue, a harvest by the child polls the
// child's signals (Linux 6.18, checked with a C program: the child's own
// signal does not wake the parent's registration).
func TestSignalfdReadinessIsTheCallers(t *testing.T) {
	x := newProcTT(t)
	usr2 := bit(unix.SIGUSR2)
	x.sigmask(unix.SIG_BLOCK, usr2)
	sfd := x.signalfd(usr2, unix.SFD_NONBLOCK)
	ep := x.epoll()
	x.ctl(ep, unix.EPOLL_CTL_ADD, sfd, unix.EPOLLIN, 5)
	c := x.fork()
	if c.t.SignalMask() != usr2 {
		t.Fatalf("child mask %#x, want the parent's", c.t.SignalMask())
	}
	childPid := uintptr(c.t.Process().Pid())
	x.must(sysKill, childPid, uintptr(unix.SIGUSR2))
	if got := x.pollOne(sfd); got != 0 {
		t.Fatalf("parent polls the signalfd: %#x, want 0 (the signal is the child's)", got)
	}
	if got := c.pollOne(sfd); got != unix.POLLIN {
		t.Fatalf("child polls the signalfd: %#x, want IN", got)
	}
	if n, _, _ := c.waitOne(ep); n != 0 {
		t.Fatalf("child's harvest: %d events; the child's signal woke nothing hooked", n)
	}
	// The parent's signal wakes the parent's queue; the child harvests
	// and sees its own pending USR2.
	x.must(sysKill, uintptr(x.t.Process().Pid()), uintptr(unix.SIGUSR2))
	if n, ev, _ := c.waitOne(ep); n != 1 || ev != unix.EPOLLIN {
		t.Fatalf("child's harvest after the parent's signal: %d %#x", n, ev)
	}
	if sig, e := c.readSig(sfd); e != 0 || sig != int(unix.SIGUSR2) {
		t.Fatalf("child's read: %d %v", sig, sx(e))
	}
	if n, _, _ := c.waitOne(ep); n != 0 {
		t.Fatalf("child's harvest after its read: %d events", n)
	}
	// The child's empty harvest dropped the registration from the ready
	// list, as ep_send_events drops an item found not ready: the parent's
	// pending USR2 is not reported until the next wakeup, though a poll
	// sees it.
	if n, _, _ := x.waitOne(ep); n != 0 {
		t.Fatalf("parent's harvest: %d events, want 0", n)
	}
	if got := x.pollOne(sfd); got != unix.POLLIN {
		t.Fatalf("parent's poll: %#x, want IN", got)
	}
	if sig, e := x.readSig(sfd); e != 0 || sig != int(unix.SIGUSR2) {
		t.Fatalf("parent's read: %d %v", sig, sx(e))
	}
	if _, e := x.readSig(sfd); e != unix.EAGAIN {
		t.Fatalf("empty signalfd: %v, want EAGAIN", sx(e))
	}
	c.exit(0)
}

// SIGCHLD is ignored by default: it reaches a signalfd only while
// blocked (Linux's sig_ignored).
func TestSigchldThroughSignalfd(t *testing.T) {
	x := newProcTT(t)
	chld := bit(unix.SIGCHLD)
	sfd := x.signalfd(chld, unix.SFD_NONBLOCK)
	c := x.fork()
	c.exit(0)
	if got := x.t.PendingSignals(); got != 0 {
		t.Fatalf("unblocked SIGCHLD left pending %#x", got)
	}
	x.sigmask(unix.SIG_BLOCK, chld)
	c = x.fork()
	c.exit(0)
	if got := x.pollOne(sfd); got != unix.POLLIN {
		t.Fatalf("signalfd after a child's exit: %#x, want IN", got)
	}
	if sig, e := x.readSig(sfd); e != 0 || sig != int(unix.SIGCHLD) {
		t.Fatalf("read: %d %v", sig, sx(e))
	}
}

// A blocked signalfd read sleeps until a signal of its mask comes.
func TestSignalfdBlockingRead(t *testing.T) {
	x := newProcTT(t)
	usr2 := bit(unix.SIGUSR2)
	x.sigmask(unix.SIG_BLOCK, usr2)
	sfd := x.signalfd(usr2, 0)
	got := make(chan int)
	go func() {
		sig, _ := x.readSig(sfd)
		got <- sig
	}()
	time.Sleep(20 * time.Millisecond)
	x.t.Process().Signal(int(unix.SIGUSR2))
	if sig := <-got; sig != int(unix.SIGUSR2) {
		t.Fatalf("read %d", sig)
	}
}

// signalfd4's and the signal calls' errors, in Linux's order (checked on
// Linux 6.18).
func TestSignalCallErrors(t *testing.T) {
	x := newProcTT(t)
	const set = memBase + 0x1500
	x.putU64(set, bit(unix.SIGUSR2))
	r, _ := x.pipe()
	sfd := x.signalfd(bit(unix.SIGUSR2), 0)
	self := uintptr(x.t.Process().Pid())
	for _, c := range []struct {
		name string
		id   sysID
		args []uintptr
		want unix.Errno
	}{
		{"signalfd4 size 4", sysSignalfd4, []uintptr{neg(-1), set, 4, 0}, unix.EINVAL},
		{"signalfd4 bad mask", sysSignalfd4, []uintptr{neg(-1), hole, 8, 1}, unix.EFAULT},
		{"signalfd4 bad flags", sysSignalfd4, []uintptr{neg(-1), set, 8, 1}, unix.EINVAL},
		{"signalfd4 O_RDWR", sysSignalfd4, []uintptr{neg(-1), set, 8, unix.O_RDWR}, unix.EINVAL},
		{"signalfd4 fd -2", sysSignalfd4, []uintptr{neg(-2), set, 8, 0}, unix.EBADF},
		{"signalfd4 of a pipe", sysSignalfd4, []uintptr{r, set, 8, 0}, unix.EINVAL},
		{"signalfd4 modify bad flags", sysSignalfd4, []uintptr{sfd, set, 8, 1}, unix.EINVAL},
		{"signalfd short read", sysRead, []uintptr{sfd, memBase, 127}, unix.EINVAL},
		{"signalfd write", sysWrite, []uintptr{sfd, memBase, 128}, unix.EINVAL},
		{"sigprocmask size", sysRtSigprocmask, []uintptr{0, set, 0, 7}, unix.EINVAL},
		{"sigprocmask how", sysRtSigprocmask, []uintptr{5, set, 0, 8}, unix.EINVAL},
		{"sigprocmask bad set", sysRtSigprocmask, []uintptr{5, hole, 0, 8}, unix.EFAULT},
		{"sigprocmask bad old", sysRtSigprocmask, []uintptr{0, 0, hole, 8}, unix.EFAULT},
		{"kill nobody", sysKill, []uintptr{99999999, 100}, unix.ESRCH},
		{"kill bad sig", sysKill, []uintptr{self, 100}, unix.EINVAL},
		{"kill sig -1", sysKill, []uintptr{self, neg(-1)}, unix.EINVAL},
		{"tgkill tgid 0", sysTgkill, []uintptr{0, 1, 100}, unix.EINVAL},
		{"tgkill no thread", sysTgkill, []uintptr{self, 99999999, 100}, unix.ESRCH},
		{"tgkill bad sig", sysTgkill, []uintptr{self, self, 100}, unix.EINVAL},
		{"tgkill other group", sysTgkill, []uintptr{self + 5000000, self, 0}, unix.ESRCH},
		{"tkill tid 0", sysTkill, []uintptr{0, 0}, unix.EINVAL},
		{"tkill sig 65", sysTkill, []uintptr{self, 65}, unix.EINVAL},
	} {
		if _, e := x.call(c.id, c.args...); e != c.want {
			t.Errorf("%s: %v, want %v", c.name, sx(e), sx(c.want))
		}
	}
	if _, e := x.call(sysRtSigprocmask, 5, 0, 0, 8); e != 0 {
		t.Errorf("sigprocmask without a set checks no how: %v", sx(e))
	}
	if r := x.must(sysSignalfd4, sfd, set, 8, unix.O_NONBLOCK); r != sfd {
		t.Errorf("signalfd4 modify returned %d, want %d", r, sfd)
	}
	if fl := x.must(sysFcntl, sfd, unix.F_GETFL); fl != unix.O_RDWR {
		t.Errorf("signalfd flags %#o, want O_RDWR", fl)
	}
}

// A process-directed signal goes to a thread that does not block it;
// while every thread blocks it, it stays pending for the process, and the
// first thread to unblock it takes it.
func TestProcessDirectedSignal(t *testing.T) {
	x := newProcTT(t)
	usr2 := bit(unix.SIGUSR2)
	x.t.Process().SetCaughtSignals(usr2)
	sib := x.t.Process().NewTask(AMD64)
	defer sib.Exit()
	x.sigmask(unix.SIG_BLOCK, usr2)
	x.must(sysKill, uintptr(x.t.Process().Pid()), uintptr(unix.SIGUSR2))
	if sib.OwnPendingSignals() != usr2 || x.t.OwnPendingSignals() != 0 {
		t.Fatalf("pending: main %#x, sibling %#x; want the sibling's", x.t.OwnPendingSignals(), sib.OwnPendingSignals())
	}
	sib.DeliverPendingSignals()
	sib.SetSignalMask(usr2)
	x.must(sysKill, uintptr(x.t.Process().Pid()), uintptr(unix.SIGUSR2))
	if got := x.t.Process().SharedPendingSignals(); got != usr2 {
		t.Fatalf("shared pending %#x, want USR2", got)
	}
	if x.t.PendingSignals() != usr2 || sib.PendingSignals() != usr2 {
		t.Fatal("both threads see the process's pending signal")
	}
	x.sigmask(unix.SIG_UNBLOCK, usr2)
	if x.t.Delivered(int(unix.SIGUSR2)) != 1 || x.t.Process().SharedPendingSignals() != 0 {
		t.Fatalf("the unblocking thread did not take it: delivered %d, shared %#x",
			x.t.Delivered(int(unix.SIGUSR2)), x.t.Process().SharedPendingSignals())
	}
	// tgkill targets the thread.
	x.must(sysTgkill, uintptr(x.t.Process().Pid()), uintptr(sib.Tid()), uintptr(unix.SIGUSR2))
	if sib.OwnPendingSignals() != usr2 {
		t.Fatalf("tgkill: sibling pending %#x", sib.OwnPendingSignals())
	}
}

const pollRdNorm = 0x40 // POLLRDNORM

// fdinfo of a signalfd shows its mask, of a pidfd its pid (-1 once
// reaped), as Linux 6.18 does (checked with a C program).
func TestProcessFilesFDInfo(t *testing.T) {
	x := newProcTT(t)
	sfd := x.signalfd(bit(unix.SIGUSR2)|bit(unix.SIGCHLD), 0)
	if s, _ := FDInfo(x.t, int32(sfd)); !strings.HasSuffix(s, "sigmask:\t0000000000010800\n") {
		t.Errorf("signalfd fdinfo:\n%s", s)
	}
	c := x.fork()
	pid := c.t.Process().Pid()
	pd := x.must(sysPidfdOpen, uintptr(pid), 0)
	want := fmt.Sprintf("Pid:\t%d\nNSpid:\t%d\n", pid, pid)
	if s, _ := FDInfo(x.t, int32(pd)); !strings.HasSuffix(s, want) || !strings.Contains(s, "flags:\t02000002\n") {
		t.Errorf("pidfd fdinfo:\n%s", s)
	}
	c.exit(0)
	c.t.Process().Reap()
	if s, _ := FDInfo(x.t, int32(pd)); !strings.HasSuffix(s, "Pid:\t-1\nNSpid:\t-1\n") {
		t.Errorf("reaped pidfd fdinfo:\n%s", s)
	}
}

// A signal with its default action ends the process when it reaches a
// thread that does not block it (Linux 6.18: waitpid's status is the
// signal); blocked, it stays pending.
func TestDefaultActionTerminates(t *testing.T) {
	x := newProcTT(t)
	c := x.fork()
	pid := uintptr(c.t.Process().Pid())
	c.sigmask(unix.SIG_BLOCK, bit(unix.SIGUSR2))
	x.must(sysKill, pid, uintptr(unix.SIGUSR2))
	if c.t.Process().Exited() || c.t.PendingSignals() != bit(unix.SIGUSR2) {
		t.Fatalf("blocked USR2: exited %v, pending %#x", c.t.Process().Exited(), c.t.PendingSignals())
	}
	x.must(sysTgkill, pid, pid, uintptr(unix.SIGUSR1))
	if !c.t.Process().Exited() {
		t.Fatal("an uncaught USR1 did not end the child")
	}
	const st = memBase + 0x1600
	if r := x.must(sysWait4, pid, st, 0, 0); r != pid {
		t.Fatalf("wait4: %d", r)
	}
	if s := binary.LittleEndian.Uint32(x.get(st, 4)); s != uint32(unix.SIGUSR1) {
		t.Fatalf("status %#x, want %#x (killed by USR1)", s, unix.SIGUSR1)
	}
	c.t.Exit()
}

// A signal made pending, a harvest of a signalfd registration, a poll of
// the signalfd and its non-blocking read allocate nothing once warm.
func TestSignalfdHotPathsAllocateNothing(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	x := newProcTT(t)
	usr2 := bit(unix.SIGUSR2)
	x.sigmask(unix.SIG_BLOCK, usr2)
	sfd := x.signalfd(usr2, unix.SFD_NONBLOCK)
	ep := x.epoll()
	x.ctl(ep, unix.EPOLL_CTL_ADD, sfd, unix.EPOLLIN, 1)
	self := uintptr(x.t.Process().Pid())
	const pfd, evs, info = memBase + 0x1700, memBase + 0x1800, memBase + 0x1900
	x.putU32(pfd, uint32(sfd), unix.POLLIN)
	nr := func(id sysID) uintptr { return nrOf(t, AMD64, id) }
	kill, wait, poll, read := nr(sysKill), nr(sysEpollWait), nr(sysPoll), nr(sysRead)
	var signo [4]byte
	round := func() {
		x.t.Syscall(kill, [6]uintptr{self, uintptr(unix.SIGUSR2)})
		if n, _ := x.t.Syscall(wait, [6]uintptr{ep, evs, 4, 0}); n != 1 {
			t.Fatalf("harvest: %d events", n)
		}
		if n, _ := x.t.Syscall(poll, [6]uintptr{pfd, 1, 0}); n != 1 {
			t.Fatalf("poll: %d", n)
		}
		if n, e := x.t.Syscall(read, [6]uintptr{sfd, info, 128}); n != 128 || e != 0 {
			t.Fatalf("read: %d %v", n, sx(e))
		}
		x.mem.CopyIn(info, signo[:])
		if signo[0] != byte(unix.SIGUSR2) {
			t.Fatalf("read signal %d", signo[0])
		}
	}
	round()
	if n := testing.AllocsPerRun(100, round); n != 0 {
		t.Fatalf("%v allocations per round", n)
	}
}

// Forks, exits, kills and wait4 from several goroutines at once: every
// child is reaped exactly once, every SIGCHLD and USR2 read or merged, no
// lock is taken out of order (run with -race).
func TestProcessesConcurrently(t *testing.T) {
	x := newProcTT(t)
	chld, usr2 := bit(unix.SIGCHLD), bit(unix.SIGUSR2)
	x.t.Process().SetCaughtSignals(usr2)
	x.sigmask(unix.SIG_BLOCK, chld|usr2)
	const n = 40
	children := map[uintptr]bool{}
	exited := make(chan struct{})
	for range n {
		c := x.fork()
		children[uintptr(c.t.Process().Pid())] = true
		go func() { c.exit(0); exited <- struct{}{} }()
	}
	reaped := make(chan uintptr, n)
	go func() {
		// A thread of the parent reaps while children exit.
		w := &tt{tb: t, k: x.k, t: x.t.Process().NewTask(AMD64), mem: x.mem}
		defer w.t.Exit()
		w.t.SetSignalMask(chld | usr2)
		for range n {
			r, e := w.call(sysWait4, neg(-1), 0, 0, 0)
			if e != 0 {
				t.Errorf("wait4: %v", sx(e))
				r = 0
			}
			reaped <- r
		}
	}()
	for range n {
		x.t.Process().Signal(int(unix.SIGUSR2))
	}
	for range n {
		select {
		case pid := <-reaped:
			if !children[pid] {
				t.Fatalf("reaped %d: not a child, or twice", pid)
			}
			delete(children, pid)
		case <-time.After(10 * time.Second):
			t.Fatal("wait4 did not reap every child")
		}
	}
	for range n {
		<-exited
	}
	if p := x.t.PendingSignals(); p != chld|usr2 {
		t.Fatalf("pending %#x, want CHLD|USR2 (each merged while pending)", p)
	}
	if _, e := x.call(sysWait4, neg(-1), 0, 0, 0); e != unix.ECHILD {
		t.Fatalf("wait4 with no children: %v", sx(e))
	}
}

// Changing a signalfd's mask wakes the caller's signalfd queue
// (do_signalfd4): an edge-triggered registration then reports a signal
// that was pending all along (Linux 6.18, checked with a C program).
func TestSignalfdModifyWakes(t *testing.T) {
	x := newProcTT(t)
	usr1, usr2 := bit(unix.SIGUSR1), bit(unix.SIGUSR2)
	x.sigmask(unix.SIG_BLOCK, usr1|usr2)
	sfd := x.signalfd(usr1, unix.SFD_NONBLOCK)
	ep := x.epoll()
	x.ctl(ep, unix.EPOLL_CTL_ADD, sfd, unix.EPOLLIN|unix.EPOLLET, 1)
	x.must(sysKill, uintptr(x.t.Process().Pid()), uintptr(unix.SIGUSR2))
	if n, _, _ := x.waitOne(ep); n != 0 {
		t.Fatalf("before the change: %d events", n)
	}
	const at = memBase + 0x1a00
	x.putU64(at, usr2)
	if r := x.must(sysSignalfd4, sfd, at, 8, 0); r != sfd {
		t.Fatalf("signalfd4 modify: %d", r)
	}
	if n, _, _ := x.waitOne(ep); n != 1 {
		t.Fatalf("after the change: %d events, want 1", n)
	}
	if n, _, _ := x.waitOne(ep); n != 0 {
		t.Fatalf("again: %d events, want 0 (edge-triggered)", n)
	}
}
