//go:build linux && amd64

package seccompbox

import (
	"encoding/binary"
	"math"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/syscalls"
)

// call is one wait being served, inline by the receiver or, when it must
// block, by its thread's worker. Its phase is guarded by its thread's
// threadCalls.mu and changed only by threadCalls (lifecycle.go); r and e
// belong to the goroutine serving it.
type call struct {
	n     notif
	th    *thread
	inst  *instance
	start time.Time
	phase waitPhase
	// slept: the wait was handed to the worker, where it may sleep
	// (threadCalls.dispatch); guarded like phase.
	slept bool
	r     uintptr
	e     unix.Errno
}

const killBit = 1 << (unix.SIGKILL - 1)

// wait serves epoll_wait, epoll_pwait and epoll_pwait2: inline when it
// cannot block, on the thread's worker otherwise.
func (b *Box) wait(th *thread, n *notif, start time.Time) {
	inst := b.resolveEpfd(th, int32(n.args[0]))
	if inst == nil {
		b.continueCall(th, n, func() bool {
			return b.nonblocking(th.tid, n) || b.failsEarly(th.tid, n) || !b.hostEpollAt(th, int32(n.args[0]))
		})
		b.account(n.nr, start)
		return
	}
	// The call owns inst's reference from here on (finishWait drops it).
	if h := b.opts.beforeWait; h != nil {
		h(b, n)
	}
	nonblocking := b.nonblocking(th.tid, n)
	if !nonblocking && n.nr != unix.SYS_EPOLL_WAIT && n.args[4] != 0 && !b.failsEarly(th.tid, n) {
		b.warn("sigmask", "a blocking epoll_pwait/epoll_pwait2 with a signal mask cannot be emulated: "+
			"the box cannot change the thread's mask, so a signal the mask unblocks does not interrupt the wait "+
			"and one it blocks may (pid %d)", th.tid)
		b.stats[statSigmask].count.Add(1)
	}
	if nonblocking {
		// The receiver's own call: nothing keeps a wait served inline
		// past finishWait (only a dispatched one is in flight).
		c := &b.recv.inline
		*c = call{n: *n, th: th, inst: inst, start: start}
		b.recv.mem.pid, b.recv.mem.id, b.recv.mem.stale = int(th.tid), n.id, false
		b.recv.serveWait(c, false)
		b.finishWait(c, &b.recv.mem)
		return
	}
	c := &call{n: *n, th: th, inst: inst, start: start}
	// Events already queued: the first harvest of a blocking wait is
	// a zero-timeout one (Linux's ep_poll harvests before it sleeps),
	// served here, without a hand-off to the worker. So is a wait
	// whose arguments Linux refuses before it would sleep (its
	// error, which the harvest gives). Only when it finds nothing
	// does the wait go to the worker.
	b.drainHost()
	if inst.ep.EventsAvailable() || b.failsEarly(th.tid, n) {
		b.recv.mem.pid, b.recv.mem.id, b.recv.mem.stale = int(th.tid), n.id, false
		b.recv.serveWait(c, true)
		if c.e != 0 || c.r > 0 || b.recv.mem.stale {
			b.finishWait(c, &b.recv.mem)
			return
		}
	}
	th.calls.dispatch(c, func() modelWait { return b.startWorker(th) })
	th.work <- c
}

// nonblocking reports whether wait n has a zero timeout (or an unreadable
// or invalid one, which the syscall layer answers EFAULT or EINVAL without
// blocking; for epoll_pwait2, also arguments it refuses before it would
// sleep: failsEarly).
func (b *Box) nonblocking(tid int32, n *notif) bool {
	switch n.nr {
	case unix.SYS_EPOLL_WAIT, unix.SYS_EPOLL_PWAIT:
		return int32(n.args[3]) == 0
	case unix.SYS_EPOLL_PWAIT2:
		if n.args[3] == 0 {
			return b.failsEarly(tid, n)
		}
		var ts [16]byte
		b.recv.mem.pid = int(tid)
		if b.recv.mem.CopyIn(n.args[3], ts[:]) != nil {
			return true
		}
		sec, nsec := int64(binary.LittleEndian.Uint64(ts[:])), int64(binary.LittleEndian.Uint64(ts[8:]))
		return sec == 0 && nsec == 0 || sec < 0 || nsec < 0 || nsec > 999999999 || b.failsEarly(tid, n)
	}
	return false
}

// failsEarly reports whether Linux refuses wait n on one of the box's
// instances before it could sleep (do_epoll_wait, set_user_sigmask):
// maxevents out of range (EINVAL), a buffer beyond the user address space
// (EFAULT), a signal mask of the wrong size (EINVAL) or unreadable
// (EFAULT). Such a wait is answered on the receiver, never handed to a
// worker, where a signal would turn its error into EINTR.
func (b *Box) failsEarly(tid int32, n *notif) bool {
	maxev, events := int32(n.args[2]), n.args[1]
	size := uint64(syscalls.AMD64.EventSize())
	if maxev <= 0 || uint64(maxev) > math.MaxInt32/size {
		return true
	}
	if total, top := uint64(maxev)*size, syscalls.AMD64.UserTop(); total > top || events > top-total {
		return true
	}
	if n.nr == unix.SYS_EPOLL_WAIT || n.args[4] == 0 {
		return false
	}
	if n.args[5] != 8 { // sigsetsize
		return true
	}
	var mask [8]byte
	b.recv.mem.pid = int(tid)
	return b.recv.mem.CopyIn(n.args[4], mask[:]) != nil
}

// server is what serves guest system calls on one goroutine: the
// receiver's (inline calls) or a guest thread's worker (its blocking
// waits). Its task sees the guest through a view table and the guest
// thread's memory.
type server struct {
	b     *Box
	task  *syscalls.Task
	mem   guestMem
	table *fd.Table
	c     *call // the wait being served, for commit
	// holdsPoll: commit took b.pollMu, and serveWait releases it once the
	// harvest is done.
	holdsPoll bool
	// event is the receiver's buffer for an epoll_ctl's event (ctl).
	event [12]byte
	// inline is the receiver's nonblocking wait (wait).
	inline call
}

func (s *server) init(b *Box, pid int) {
	s.b = b
	s.mem.pid, s.mem.listener = pid, b.listener
	s.table = newViewTable()
	s.task = syscalls.NewTask(b.k, s.table, &s.mem, syscalls.AMD64)
	// Only this server's goroutine changes its view table, and never while
	// its task is inside a call (install before, close after): the
	// promise of a task-owned table, whose lookups take no reference.
	s.table.SetTaskOwned()
	s.task.SetEventCommit(s.commit)
}

// errUnanswered refuses a harvest whose answer was not delivered.
var errUnanswered = unix.EINTR // +checklocksignore: not guarded (the tool guesses so, as commit returns it under pollMu)

// commit answers a wait that harvested n events, from inside the harvest,
// before the model consumes them (syscalls.Task.SetEventCommit). If the
// answer cannot be delivered (the guest thread was interrupted out of the
// call after the copy-out), the refusal puts the events back on the ready
// list untouched, ONESHOT registrations still armed, as Linux's
// interrupted epoll_wait leaves them.
//
// The guest thread runs again as soon as it has the answer, while the
// model still has to finish the harvest (re-queue level-triggered items).
// Host wakeups the guest causes meanwhile must reach the model after that,
// as they reach Linux's ready list after its harvest: commit takes pollMu
// before the answer, and serveWait releases it after the harvest. commit
// runs with the model instance's harvest lock held; no path takes that
// lock with pollMu held (wakeups take only the ready-list locks).
//
// +checklocksignore: returns holding pollMu when it answered (holdsPoll
// says so) for serveWait to release, a hand-over the tool cannot follow.
func (s *server) commit(n int) error {
	c := s.c
	if c == nil {
		return nil
	}
	s.b.pollMu.Lock()
	s.holdsPoll = true
	if h := s.b.opts.beforeAnswer; h != nil {
		h(s.b, &c.n)
	}
	deliver := func() bool { return s.b.sendAnswer(c.n.id, int64(n), 0) == 0 }
	if !c.th.calls.commit(c, s.mem.stale, int64(n), deliver) {
		return errUnanswered
	}
	return nil
}

// serveWait runs wait c through the syscall layer, after bringing the
// model up to date with the host; harvestOnly makes its timeout zero (the
// first harvest of a blocking wait). A wait that harvests events is
// answered from inside the harvest (commit); finishWait answers the
// others.
func (s *server) serveWait(c *call, harvestOnly bool) {
	b := s.b
	epfd := int32(c.n.args[0])
	b.reapChildren(c.inst)
	b.drainHost()
	if !install(s.table, c.inst.file, epfd) {
		c.r, c.e = 0, unix.ENOMEM
		return
	}
	var args [6]uintptr
	for i := range args {
		args[i] = uintptr(c.n.args[i])
	}
	nr := uintptr(c.n.nr)
	if harvestOnly {
		// A zero timeout. epoll_pwait2's is a pointer, to a timespec
		// nonblocking found valid: its harvest is epoll_pwait's, whose
		// arguments are the same but for the timeout in milliseconds.
		args[3] = 0
		if nr == unix.SYS_EPOLL_PWAIT2 {
			nr = unix.SYS_EPOLL_PWAIT
		}
	}
	s.c = c
	r, e := s.task.Syscall(nr, args)
	s.c = nil
	if s.holdsPoll {
		s.holdsPoll = false
		b.pollMu.Unlock() // +checklocksignore: taken by commit, inside the harvest.
	}
	s.table.Close(epfd)
	c.inst.refreshBell(false)
	c.r, c.e = r, e
}

// finishWait answers a served wait, unless it was answered from inside its
// harvest, its answer failed there, or its thread has left the call.
func (b *Box) finishWait(c *call, mem *guestMem) {
	deliver := func() bool { return b.sendAnswer(c.n.id, int64(c.r), c.e) == 0 }
	val := int64(c.r)
	if c.e != 0 {
		val = -int64(c.e)
	}
	refused := c.th.calls.finish(c, mem.stale, val, deliver)
	c.inst.file.DecRef()
	if refused {
		b.stats[statRolledBack].count.Add(1)
	}
	d := int64(time.Since(c.start))
	b.accountAt(statIndex(c.n.nr), d)
	if mem != &b.recv.mem {
		b.accountAt(statWaitWorker, d)
	}
}

// worker runs the blocking waits of one guest thread, until its channel
// is closed (the thread exited, or the box stops).
func (b *Box) worker(th *thread) {
	defer b.workers.Done()
	defer th.srv.task.Exit()
	for c := range th.work {
		if !th.calls.start(c) {
			c.inst.file.DecRef() // the thread left it before it started
			continue
		}
		th.srv.mem.id, th.srv.mem.stale = c.n.id, false
		th.srv.serveWait(c, false)
		th.calls.served(c)
		b.finishWait(c, &th.srv.mem)
	}
}
