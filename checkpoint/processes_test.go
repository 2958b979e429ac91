package checkpoint

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/syscalls"
)

const procMem = 0x10000

func sys(t testing.TB, task *syscalls.Task, nr uintptr, args ...uintptr) uintptr {
	t.Helper()
	var a [6]uintptr
	copy(a[:], args)
	r, e := task.Syscall(nr, a)
	if e != 0 {
		t.Fatalf("syscall %d%v: %v", nr, args, e)
	}
	return r
}

// pollIn is poll(fd, IN, 0) on task: its revents.
func pollIn(t testing.TB, task *syscalls.Task, fdn uintptr) uint16 {
	t.Helper()
	const at = procMem + 0x100
	b := binary.LittleEndian.AppendUint32(nil, uint32(fdn))
	b = binary.LittleEndian.AppendUint32(b, unix.POLLIN)
	must(t, task.Memory().CopyOut(at, b))
	sys(t, task, syscalls.AMD64Poll, at, 1, 0)
	must(t, task.Memory().CopyIn(at+6, b[:2]))
	return binary.LittleEndian.Uint16(b)
}

// epollWait0 is epoll_wait(ep, 4 events, 0) on task: the count.
func epollWait0(t testing.TB, task *syscalls.Task, ep uintptr) uintptr {
	t.Helper()
	return sys(t, task, syscalls.AMD64EpollWait, ep, procMem+0x200, 4, 0)
}

func newProcMem(t testing.TB) *syscalls.GuestMemory {
	m := syscalls.NewGuestMemory()
	must(t, m.Map(procMem, 0x1000))
	return m
}

// TestProcessesRoundTrip: a parent with a running child and a zombie one,
// a pidfd of each, a signalfd whose epoll registration the child made
// (hooked on the child's queue), masks and a signal pending for the whole
// parent survive a checkpoint: the restored kernel behaves as the old one
// would.
func TestProcessesRoundTrip(t *testing.T) {
	k := syscalls.NewKernel()
	tab := fd.NewTable()
	defer tab.CloseAll()
	main := k.NewProcess(tab, newProcMem(t))
	main.SetCaughtSignals(1 << (unix.SIGUSR1 - 1))
	pt := main.NewTask(syscalls.AMD64)
	usr2 := uint64(1) << (unix.SIGUSR2 - 1)
	pt.SetSignalMask(usr2)
	must(t, pt.Memory().CopyOut(procMem, binary.LittleEndian.AppendUint64(nil, usr2)))
	sfd := sys(t, pt, syscalls.AMD64Signalfd4, ^uintptr(0), procMem, 8, unix.SFD_NONBLOCK)
	epfd := sys(t, pt, syscalls.AMD64EpollCreate1, 0)
	zombie := pt.Fork(newProcMem(t))
	zpid := zombie.Process().Pid()
	zp := zombie.Process()
	zombie.Exit()
	zp.Exit(7)
	child := pt.Fork(newProcMem(t))
	cpid := child.Process().Pid()
	pdZombie := sys(t, pt, syscalls.AMD64PidfdOpen, uintptr(zpid), 0)
	pdChild := sys(t, pt, syscalls.AMD64PidfdOpen, uintptr(cpid), unix.O_NONBLOCK)
	// The child registers the inherited signalfd in the shared instance:
	// its hook is on the child's queue.
	ev := binary.LittleEndian.AppendUint32(nil, unix.EPOLLIN)
	must(t, child.Memory().CopyOut(procMem+0x300, binary.LittleEndian.AppendUint64(ev, 9)))
	sys(t, child, syscalls.AMD64EpollCtl, epfd, unix.EPOLL_CTL_ADD, sfd, procMem+0x300)
	// Every thread of the parent blocks USR2: it stays pending for the
	// process.
	main.Signal(int(unix.SIGUSR2))
	if main.SharedPendingSignals() != usr2 {
		t.Fatal("setup: USR2 not pending for the process")
	}

	b, err := Save(k, []*syscalls.Task{pt, child}, SaveOptions{Processes: []*syscalls.Process{main}})
	must(t, err)
	r, err := Restore(b, RestoreOptions{})
	must(t, err)
	rp, rc := r.Tasks[0], r.Tasks[1]
	defer func() {
		rc.Exit()
		rp.Exit()
		r.Tables[0].CloseAll()
		for _, p := range r.Processes {
			p.Table().CloseAll()
		}
	}()
	rmain := r.Processes[0]
	if rmain.Pid() != main.Pid() || rc.Process().Pid() != cpid || rc.Tid() != cpid || rp.Tid() != pt.Tid() {
		t.Fatalf("pids: main %d child %d (tid %d), want %d %d", rmain.Pid(), rc.Process().Pid(), rc.Tid(), main.Pid(), cpid)
	}
	if rc.Process().Parent() != rmain || rp.Process() != rmain {
		t.Fatal("the restored child's parent is not the restored main process")
	}
	if rp.SignalMask() != usr2 || rc.SignalMask() != usr2 || rmain.SharedPendingSignals() != usr2 {
		t.Fatalf("masks %#x %#x, shared pending %#x", rp.SignalMask(), rc.SignalMask(), rmain.SharedPendingSignals())
	}
	if got := pollIn(t, rp, pdZombie); got != unix.POLLIN {
		t.Errorf("zombie's pidfd: %#x, want IN", got)
	}
	if got := pollIn(t, rp, pdChild); got != 0 {
		t.Errorf("running child's pidfd: %#x, want 0", got)
	}
	if got := pollIn(t, rp, sfd); got != unix.POLLIN {
		t.Errorf("parent's signalfd: %#x, want IN (its pending USR2)", got)
	}
	// The parent's signal (caught: it does not end the process) wakes
	// the parent's queue, where nothing is hooked: the child's
	// registration stays unqueued.
	rmain.Signal(int(unix.SIGUSR1))
	if rmain.Exited() {
		t.Fatal("a caught USR1 ended the restored process")
	}
	if n := epollWait0(t, rp, epfd); n != 0 {
		t.Fatalf("a signal to the parent woke the child's registration: %d events", n)
	}
	// A signal to the restored child wakes its hook; the parent harvests
	// it as itself, and sees its own USR2.
	rc.Process().Signal(int(unix.SIGUSR2))
	if n := epollWait0(t, rp, epfd); n != 1 {
		t.Fatalf("a signal to the child: %d events, want 1", n)
	}
	// The zombie is reaped by the restored parent with its status.
	const st = procMem + 0x400
	if pid := sys(t, rp, syscalls.AMD64Wait4, uintptr(zpid), st, 0, 0); pid != uintptr(zpid) {
		t.Fatalf("wait4: %d, want %d", pid, zpid)
	}
	var sb [4]byte
	must(t, rp.Memory().CopyIn(st, sb[:]))
	if s := binary.LittleEndian.Uint32(sb[:]); s != 7<<8 {
		t.Fatalf("status %#x, want 0x700", s)
	}
	if got := pollIn(t, rp, pdZombie); got != unix.POLLIN|unix.POLLHUP {
		t.Errorf("reaped zombie's pidfd: %#x, want IN|HUP", got)
	}
	if rc.FDTable() == rp.FDTable() {
		t.Fatal("the child shares the parent's table after restore")
	}
}
