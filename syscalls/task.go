package syscalls

import (
	"errors"
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

// errnoOf converts a kernel-model error to an errno (EINVAL for anything
// that is not one, which would be a bug in the model).
func errnoOf(err error) errno {
	if err == nil {
		return 0
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EINVAL
}

// Kernel is the state shared by every task: the epoll domain (watch
// accounting, nesting checks) and the clocks.
type Kernel struct {
	epoll   *epoll.Domain
	clock   fs.Clock
	creator FileCreator // nil: ModelFiles (see creator.go)

	inoMu   sync.Mutex
	inos    map[any]inoEntry // fdinfo inode numbers, pruned lazily
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

// Signal numbers that cannot be blocked.
const unblockable = 1<<(unix.SIGKILL-1) | 1<<(unix.SIGSTOP-1)

// Task is one guest thread. Its syscall state (scratch buffers, the
// reusable sleeper) belongs to the goroutine that calls Syscall; only
// Interrupt may be called from other goroutines.
type Task struct {
	k     *Kernel
	fds   *fd.Table
	mem   Memory
	arch  Arch
	table *[maxSysNr]sysID

	// sigMu guards mask, pending and stopped, which Interrupt and Stop
	// touch from other goroutines. sigReady mirrors
	// pending&^mask != 0 || stopped for lockless reads (SignalPending, and
	// deliverSignals at the end of every syscall); every change of mask,
	// pending or stopped ends with signalsChangedLocked. handled is the
	// task goroutine's only.
	sigMu    sync.Mutex
	mask     uint64 // blocked signals, bit sig-1
	pending  uint64
	sigReady atomic.Bool
	stopped  bool // Stop without Continue: ends sleeps as a signal does
	handled  bool // a signal was delivered during the current Syscall

	// sleeper ends Sleep: wakeups post its token, and so does a signal that
	// becomes pending unblocked, so a sleep without a deadline is a plain
	// receive on one channel. A token left over from an earlier call only
	// ends a sleep early, which every caller treats as a spurious wakeup;
	// prepareSleep drops it at the start of each blocking call.
	sleeper *waiter.Sleeper
	entry   waiter.Entry // epoll_wait's: exclusive, auto-remove
	ioEntry waiter.Entry // blocking read/write's
	timer   *time.Timer

	// Scratch, allocated once.
	args    [6]uintptr
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

	// pollRestart is Linux's restart block for poll: the deadline of a
	// poll that a Stop ended with ErrRestart, kept for the same call issued
	// again; any other call forgets it. pollDeadline is the current poll's.
	pollRestart struct {
		args [6]uintptr
		dl   waitDeadline
		set  bool
	}
	pollDeadline waitDeadline

	// Delivered counts signals consumed ("handlers run"), for tests.
	delivered [64]uint32
	rlimits   [rlimNLimits][2]uint64
}

const (
	evChunk   = 64
	ioBufSize = 64 << 10
)

// NewTask returns a task of kernel k using fd table table (which other
// tasks may share: the task attaches to it), address space mem and syscall
// ABI arch. Call Exit when the task is done.
func NewTask(k *Kernel, table *fd.Table, mem Memory, arch Arch) *Task {
	table.Attach()
	t := &Task{
		k:       k,
		fds:     table,
		mem:     mem,
		arch:    arch,
		sleeper: waiter.NewSleeper(),
	}
	if arch == ARM64 {
		t.table = &arm64Table
	} else {
		t.table = &amd64Table
	}
	t.entry.Init(t.sleeper, true, true)
	t.timer = time.NewTimer(time.Hour)
	t.timer.Stop()
	for i := range t.rlimits {
		t.rlimits[i] = [2]uint64{rlimInfinity, rlimInfinity}
	}
	return t
}

// Exit detaches the task from its fd table, which closes the table if it
// was the task's own (after close_range with CLOSE_RANGE_UNSHARE). The task
// must not be used afterwards.
func (t *Task) Exit() {
	t.fds.Detach()
	t.fds = nil
}

// FDTable returns the task's fd table: the one it was made with, or its own
// copy after close_range with CLOSE_RANGE_UNSHARE.
func (t *Task) FDTable() *fd.Table { return t.fds }

// Memory returns the task's address space.
func (t *Task) Memory() Memory { return t.mem }

// Arch returns the task's ABI.
func (t *Task) Arch() Arch { return t.arch }

// Syscall runs syscall nr with args and returns its result, or an errno
// (unix.ENOSYS for a number the task's arch does not serve). Pending
// unblocked signals are consumed on the way out, as if their handlers ran.
func (t *Task) Syscall(nr uintptr, args [6]uintptr) (uintptr, unix.Errno) {
	var h handler
	if nr < maxSysNr {
		h = handlers[t.table[nr]]
	}
	if h == nil {
		return 0, unix.ENOSYS
	}
	// The arguments live in the task so that the indirect call does not
	// make them escape.
	t.args = args
	t.handled = false
	if t.pollRestart.set && (t.table[nr] != sysPoll || args != t.pollRestart.args) {
		t.pollRestart.set = false
	}
	r, e := h(t, &t.args)
	t.deliverSignals()
	if e != 0 {
		if e == unix.EINTR {
			e = t.restartErrno(nr) // stop.go
			if e == ErrRestart && t.table[nr] == sysPoll {
				t.pollRestart.args, t.pollRestart.dl, t.pollRestart.set = args, t.pollDeadline, true
			}
		}
		return 0, e
	}
	return r, 0
}

// SignalMask returns the blocked-signal mask (bit sig-1).
func (t *Task) SignalMask() uint64 {
	t.sigMu.Lock()
	defer t.sigMu.Unlock()
	return t.mask
}

// SetSignalMask replaces the blocked-signal mask (SIGKILL and SIGSTOP
// cannot be blocked) and returns the old one. A pending signal the new mask
// unblocks is delivered at the end of the next syscall.
func (t *Task) SetSignalMask(mask uint64) uint64 {
	t.sigMu.Lock()
	defer t.sigMu.Unlock()
	return t.setMaskLocked(mask)
}

func (t *Task) setMaskLocked(mask uint64) uint64 {
	old := t.mask
	t.mask = mask &^ unblockable
	t.signalsChangedLocked()
	return old
}

// signalsChangedLocked updates sigReady after mask or pending changed and,
// if an unblocked signal is pending, posts the sleeper's token so that a
// sleep in progress ends. t.sigMu must be held.
func (t *Task) signalsChangedLocked() {
	ready := t.pending&^t.mask != 0 || t.stopped
	if ready != t.sigReady.Load() {
		t.sigReady.Store(ready)
	}
	if ready {
		t.sleeper.Wake(0)
	}
}

// Interrupt sends signal sig (1..64) to the task. A signal the task's
// current mask does not block ends a blocking call with EINTR; a blocked
// one stays pending until the mask stops blocking it. Safe to call from any
// goroutine. The caller decides dispositions: it must not send a signal the
// guest ignores (see the package doc).
func (t *Task) Interrupt(sig int) {
	if sig < 1 || sig > 64 {
		return
	}
	t.sigMu.Lock()
	t.pending |= 1 << (sig - 1)
	t.signalsChangedLocked()
	t.sigMu.Unlock()
}

// PendingSignals returns the pending (not yet delivered) signals.
func (t *Task) PendingSignals() uint64 {
	t.sigMu.Lock()
	defer t.sigMu.Unlock()
	return t.pending
}

// Delivered returns how many times signal sig was delivered (its handler
// "ran"). Call it from the task's goroutine or after it stopped.
func (t *Task) Delivered(sig int) int {
	t.sigMu.Lock()
	defer t.sigMu.Unlock()
	if sig < 1 || sig > 64 {
		return 0
	}
	return int(t.delivered[sig-1])
}

// deliverSignals consumes every pending signal the current mask allows.
// With none (the common case) it takes no lock: a signal that becomes
// pending after the look is delivered at the end of the next call, as it
// would be if it had come a moment later.
func (t *Task) deliverSignals() {
	if !t.sigReady.Load() {
		return
	}
	t.sigMu.Lock()
	if d := t.pending &^ t.mask; d != 0 {
		t.pending &^= d
		t.handled = true
		for i := 0; i < 64; i++ {
			if d&(1<<i) != 0 {
				t.delivered[i]++
			}
		}
		t.signalsChangedLocked()
	}
	t.sigMu.Unlock()
}

// WaitEntry implements epoll.Blocker.
func (t *Task) WaitEntry() *waiter.Entry { return &t.entry }

// SignalPending implements epoll.Blocker. It takes no lock (see sigReady).
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

var timeZero time.Time
