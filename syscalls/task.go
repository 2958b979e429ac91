package syscalls

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

type errno = unix.Errno

// errnoOf converts an error of the kernel model (the fd table, epoll, the
// model's files) to an errno. Those return only unix.Errno values, so
// anything else is a bug, and panics.
func errnoOf(err error) errno {
	if e, ok := err.(unix.Errno); ok || err == nil {
		return e
	}
	return errnoFrom(err, nil)
}

// fileErrno converts an error returned by f's implementation. A file type
// of another package must return unix.Errno values (wrapped ones are
// unwrapped); any other error is a misuse and panics, naming the type.
func fileErrno(f *fs.File, err error) errno {
	if e, ok := err.(unix.Errno); ok || err == nil {
		return e
	}
	return errnoFrom(err, f)
}

// errnoFrom unwraps an errno from err or panics naming source: a file, a
// FileCreator, or nil for the kernel model.
func errnoFrom(err error, source any) errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	what := "the kernel model"
	switch s := source.(type) {
	case *fs.File:
		what = fmt.Sprintf("file type %T", s.Impl())
	case FileCreator:
		what = fmt.Sprintf("file creator %T", s)
	}
	panic(fmt.Sprintf("syscalls: %s returned the error %q (%T), which is not a unix.Errno: "+
		"files and file creators must return errnos (see the package doc)", what, err.Error(), err))
}

// Kernel is the state shared by every task: the epoll domain (watch
// accounting, nesting checks) and the clocks.
type Kernel struct {
	epoll   *epoll.Domain
	clock   fs.Clock
	creator FileCreator // nil: ModelFiles (see creator.go)
	names   kernelNames // abstract socket addresses and paths (names.go)

	handlers handlerRegistry // the embedder's syscalls (handlers.go)
	procs    processTable    // pids (process.go)

	inoMu sync.Mutex
	// +checklocks:inoMu
	inos map[any]inoEntry // fdinfo inode numbers, pruned lazily
	// +checklocks:inoMu
	nextIno uint64
}

// NewKernel returns a kernel with a fresh epoll domain on the host's
// clocks.
func NewKernel() *Kernel { return NewKernelClock(fs.RealClock{}) }

// NewKernelClock returns a kernel whose clock_gettime and timerfds use
// clock (an fs.FakeClock in tests).
func NewKernelClock(clock fs.Clock) *Kernel {
	return &Kernel{
		epoll:   epoll.NewDomain(),
		clock:   clock,
		inos:    make(map[any]inoEntry),
		nextIno: 0x1000,
	}
}

// EpollDomain returns the kernel's epoll domain (max_user_watches etc.).
func (k *Kernel) EpollDomain() *epoll.Domain { return k.epoll }

// Task is one guest thread. Its syscall state (scratch buffers, the
// reusable sleeper) belongs to the goroutine that calls Syscall; the
// package doc lists the methods safe from other goroutines (the signal
// and stop controls).
type Task struct {
	k     *Kernel
	proc  *Process
	tid   int32
	fds   *fd.Table
	mem   Memory
	arch  Arch
	table *[maxSysNr]sysID

	// sigMu guards mask, pending and stopped, which Interrupt and Stop
	// touch from other goroutines. sigReady mirrors
	// pending&^mask != 0 || stopped for lockless reads (SignalPending, and
	// deliverSignals at the end of every syscall); every change of mask,
	// pending or stopped ends with publishSigMuLocked. callDelivered is
	// the task goroutine's only.
	sigMu sync.Mutex
	// +checklocks:sigMu
	mask uint64 // blocked signals, bit sig-1
	// +checklocks:sigMu
	pending  uint64
	sigReady atomic.Bool
	// +checklocks:sigMu
	stopped       bool          // Stop without Continue: ends sleeps as a signal does
	callDelivered uint64        // signals delivered during the current Syscall
	saRestart     atomic.Uint64 // signals whose handlers have SA_RESTART

	// sleeper ends Sleep: wakeups post its token, and so does a signal that
	// becomes pending unblocked, so a sleep without a deadline is a plain
	// receive on one channel. A token left over from an earlier call only
	// ends a sleep early, which every caller treats as a spurious wakeup;
	// prepareSleep drops it at the start of each blocking call.
	sleeper *waiter.Sleeper
	entry   waiter.Entry // epoll_wait's: exclusive, auto-remove
	ioEntry waiter.Entry // blocking read/write's, and Block's
	// blockWake is ioEntry's waker in Block: the sleeper, plus whether
	// the entry was woken (block.go).
	blockWake blockWaker
	timer     *time.Timer

	// Scratch, allocated once.
	args    [6]uintptr
	nr      uintptr // the current foreign call's number (CurrentSyscall)
	evBuf   [evChunk]epoll.Event
	evBytes [evChunk * 16]byte
	evAddr  uint64 // where WriteEvents copies to
	// commitEvents, when set, confirms each harvest (SetEventCommit);
	// committer is the EventWriter that asks it.
	commitEvents func(n int) error
	committer    eventCommitter
	ioBuf        []byte
	small        [64]byte
	pollEnts     []waiter.Entry
	pollFds      []pollFD
	iovs         []iovec
	single       [1]iovec // read and write's one segment
	seq          guestSeq // the current read or write's guest buffers
	stage        []byte   // the part of ioBuf a staged read or write uses

	// ioBuf is nil, stageSmall or a heap buffer (growIOBuf, iobuf.go).
	stageSmall [stageSmallSize]byte

	// restart is Linux's restart block (restart.go): the call that ended
	// with ErrRestartBlock and ErrRestart, kept for the same call issued
	// again. pollDeadline is the current poll's deadline, which a re-issued
	// poll keeps.
	restart      restartBlock
	pollDeadline waitDeadline

	// Delivered counts signals consumed ("handlers run"), for tests.
	// +checklocks:sigMu
	delivered [64]uint32
	rlimits   [rlimNLimits][2]uint64
}

const (
	evChunk   = 64
	ioBufSize = 64 << 10
)

// NewTask returns a task of kernel k using fd table table (which other
// tasks may share: the task attaches to it), address space mem and syscall
// ABI arch. Call Exit when the task is done. The tasks NewTask makes on one
// table are the threads of one process, which k makes for the table with
// the first of them (without a parent) and forgets with the last; use
// Kernel.NewProcess and Process.NewTask to manage processes explicitly. A
// task alone on a task-owned table (fd.Table.SetTaskOwned, the embedder's
// promise that only its tasks' calls change it) looks fds up without
// taking references.
func NewTask(k *Kernel, table *fd.Table, mem Memory, arch Arch) *Task {
	return newTask(k.implicitProcess(table, mem), table, mem, arch)
}

func newTask(p *Process, table *fd.Table, mem Memory, arch Arch) *Task {
	return newTaskWithTid(p, table, mem, arch, 0)
}

// newTaskWithTid is newTask with thread id tid (0: a fresh one).
func newTaskWithTid(p *Process, table *fd.Table, mem Memory, arch Arch, tid int32) *Task {
	table.Attach()
	t := &Task{
		k:       p.k,
		proc:    p,
		fds:     table,
		mem:     mem,
		arch:    arch,
		sleeper: waiter.NewSleeper(),
	}
	t.blockWake.sleeper = t.sleeper
	t.table = archTable(arch)
	t.entry.Init(t.sleeper, true, true)
	t.timer = time.NewTimer(time.Hour)
	t.timer.Stop()
	for i := range t.rlimits {
		t.rlimits[i] = [2]uint64{rlimInfinity, rlimInfinity}
	}
	p.addTask(t, tid)
	return t
}

// Exit detaches the task from its fd table, which closes the table if it
// was the task's own (after close_range with CLOSE_RANGE_UNSHARE). The task
// must not be used afterwards: Syscall and a second Exit panic.
func (t *Task) Exit() {
	if t.fds == nil {
		panic("syscalls: Task.Exit called twice")
	}
	t.fds.Detach()
	t.fds = nil
	t.proc.removeTask(t)
}

// FDTable returns the task's fd table: the one it was made with, or its own
// copy after close_range with CLOSE_RANGE_UNSHARE.
func (t *Task) FDTable() *fd.Table { return t.fds }

// Memory returns the task's address space.
func (t *Task) Memory() Memory { return t.mem }

// Arch returns the task's ABI.
func (t *Task) Arch() Arch { return t.arch }

// Syscall runs syscall nr with args and returns its result, or an errno:
// unix.ENOSYS for a number that neither the package nor the kernel's
// registered handlers (Kernel.RegisterSyscall) serve for the task's arch,
// ErrRestart for a call to issue again (restart.go). Pending unblocked
// signals are consumed on the way out, as if their handlers ran
// (SignalsDelivered tells which). Syscall after Exit panics.
func (t *Task) Syscall(nr uintptr, args [6]uintptr) (uintptr, unix.Errno) {
	if t.fds == nil {
		panic("syscalls: Task.Syscall after Task.Exit")
	}
	var id sysID
	if nr < maxSysNr {
		id = t.table[nr]
	}
	h := handlers[id]
	if h == nil || t.k.handlers.overridden(t.arch, nr) {
		return t.foreignSyscall(nr, &args) // handlers.go
	}
	// The arguments live in the task so that the indirect call does not
	// make them escape.
	t.args = args
	t.callDelivered = 0
	if t.restart.state != restartNone {
		t.restart.begin(nr, &args)
	}
	r, e := h(t, &t.args)
	t.deliverSignals()
	if e != 0 {
		if e == unix.EINTR {
			e = t.finishInterrupted(nr, &args, builtinRestartCode(id))
		}
		return 0, e
	}
	return r, 0
}

// WaitEntry implements epoll.Blocker.
func (t *Task) WaitEntry() *waiter.Entry { return &t.entry }

// SignalPending implements epoll.Blocker: it reports whether a signal the
// mask does not block is pending, and is also true while the task is
// stopped (Stop), so that every sleep ends and none starts. It takes no
// lock (see sigReady).
func (t *Task) SignalPending() bool { return t.sigReady.Load() }

// Sleep implements epoll.Blocker: it returns when the sleeper is woken, an
// unblocked signal is pending, or deadline (zero: none) has passed, and
// reports the last. It never reports a timeout before the deadline.
//
// Without a deadline it is a plain receive of the sleeper's token (a
// select over several channels costs about 100 ns more per wakeup).
func (t *Task) Sleep(deadline time.Time) bool {
	if t.SignalPending() {
		return false
	}
	if deadline.IsZero() {
		<-t.sleeper.C()
		return false
	}
	d := time.Until(deadline)
	if d <= 0 {
		return true
	}
	t.timer.Reset(d)
	select {
	case <-t.sleeper.C():
		t.timer.Stop()
		return false
	case <-t.timer.C:
		return true
	}
}

// prepareSleep drops a stale wakeup token before a blocking call registers
// anything.
func (t *Task) prepareSleep() { t.sleeper.Drain() }

// getFile returns fd's file with a reference, or EBADF.
func (t *Task) getFile(n int32) (*fs.File, errno) {
	f, err := t.fds.GetFile(n)
	if err != nil {
		return nil, errnoOf(err)
	}
	return f, 0
}

// borrowFile returns fd's file for the rest of the current call, or EBADF;
// when ref is true the caller drops the file's reference with DecRef at
// the end (fd.Table.Borrow: no reference is taken in a task-owned table
// that this task alone uses).
func (t *Task) borrowFile(n int32) (f *fs.File, ref bool, e errno) {
	f, ref, err := t.fds.Borrow(n)
	if err != nil {
		return nil, false, errnoOf(err)
	}
	return f, ref, 0
}

func (t *Task) copyIn(addr uint64, dst []byte) errno {
	if t.mem.CopyIn(addr, dst) != nil {
		return unix.EFAULT
	}
	return 0
}

func (t *Task) copyOut(addr uint64, src []byte) errno {
	if t.mem.CopyOut(addr, src) != nil {
		return unix.EFAULT
	}
	return 0
}
