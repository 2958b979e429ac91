//go:build linux && amd64

package seccompbox

import (
	"encoding/binary"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/syscalls"
)

// threadFor returns the state of guest thread tid, opening a pidfd for it
// the first time (or again, when the cached one names a thread that has
// exited and whose tid was reused).
func (b *Box) threadFor(n *notif) *thread {
	tid := int32(n.pid)
	b.mu.Lock()
	th := b.threads[tid]
	b.mu.Unlock()
	if th != nil && th.pidfd >= 0 {
		return th
	}
	pidfd, _, e := unix.RawSyscall(unix.SYS_PIDFD_OPEN, uintptr(tid), pidfdThread, 0)
	if e != 0 {
		return nil
	}
	// The tid may have been reused between the notification and the open.
	if !notifIDValid(b.listener, n.id) {
		rawClose(int(pidfd))
		return nil
	}
	if th == nil {
		th = &thread{tid: tid}
		th.srv.mem = guestMem{pid: int(tid), listener: b.listener}
		b.mu.Lock()
		b.threads[tid] = th
		b.mu.Unlock()
	}
	th.pidfd = int(pidfd)
	return th
}

// getfd duplicates guest fd n of th into the box; on ESRCH (the thread
// exited, or the pidfd names an older thread with this tid) the pidfd is
// reopened once.
func (b *Box) getfd(th *thread, n int32) (int, unix.Errno) {
	fd, e := pidfdGetfd(th.pidfd, n)
	if e == unix.ESRCH {
		rawClose(th.pidfd)
		pidfd, _, e2 := unix.RawSyscall(unix.SYS_PIDFD_OPEN, uintptr(th.tid), pidfdThread, 0)
		if e2 != 0 {
			th.pidfd = -1
			return -1, e
		}
		th.pidfd = int(pidfd)
		fd, e = pidfdGetfd(th.pidfd, n)
	}
	return fd, e
}

func (b *Box) handle(n *notif) {
	start := time.Now()
	if n.nr == unix.SYS_RT_SIGRETURN {
		b.sigreturn(n, start)
		return
	}
	th := b.threadFor(n)
	if th == nil {
		sendContinue(b.listener, n.id)
		return
	}
	// A thread has one system call in flight: a wait of this thread still
	// recorded as in flight was interrupted (and maybe restarted).
	th.mu.Lock()
	if c := th.current; c != nil {
		b.cancelLocked(c)
		th.leftCallLocked(&c.n)
	}
	// The interrupted wait comes back as the same call from the same
	// place when the kernel restarts it with no handler run (a stop);
	// any other call means the guest has left it (a handler that did not
	// return, say) and settles it too.
	restarted := th.cancelled && th.intr == callSite{nr: n.nr, ip: n.ip, args: n.args}
	th.cancelled = false
	// An uninstalled epoll_create is dropped: the guest has left it (a
	// restart of it makes a new instance, which nobody can tell apart).
	pc := th.pending
	th.pending = nil
	rp := th.replay
	th.replay = nil
	th.mu.Unlock()
	b.dropPending(pc)
	if rp != nil && rp.nr == n.nr && rp.args == n.args {
		b.reply(th, n, rp.val, rp.err, false)
		return
	}
	switch n.nr {
	case unix.SYS_EPOLL_CREATE:
		b.create(th, n, start, int32(n.args[0]) <= 0, false)
	case unix.SYS_EPOLL_CREATE1:
		fl := int32(n.args[0])
		b.create(th, n, start, fl&^unix.EPOLL_CLOEXEC != 0, fl&unix.EPOLL_CLOEXEC != 0)
	case unix.SYS_EPOLL_CTL:
		b.ctl(th, n, start)
	case unix.SYS_EPOLL_WAIT, unix.SYS_EPOLL_PWAIT, unix.SYS_EPOLL_PWAIT2:
		if restarted {
			// Linux's epoll_wait is never restarted: it returns EINTR.
			b.reply(th, n, 0, unix.EINTR, false)
			b.account(n.nr, start)
			return
		}
		b.wait(th, n, start)
	default: // poll, ppoll, select, pselect6
		b.pollSync(th, n)
		sendContinue(b.listener, n.id)
		b.account(n.nr, start)
	}
}

// dropPending releases an epoll_create that was never installed.
func (b *Box) dropPending(pc *pending) {
	if pc != nil {
		rawClose(pc.ph)
		b.kill(pc.inst)
	}
}

func isWait(nr int32) bool {
	return nr == unix.SYS_EPOLL_WAIT || nr == unix.SYS_EPOLL_PWAIT || nr == unix.SYS_EPOLL_PWAIT2
}

// reply answers n. For a side-effecting call (sideEffect), an answer that
// cannot be delivered is kept for a restart of the same call.
func (b *Box) reply(th *thread, n *notif, val int64, e unix.Errno, sideEffect bool) {
	if h := b.opts.beforeAnswer; h != nil && sideEffect {
		h(b, n)
	}
	if send(b.listener, n.id, val, e) == unix.ENOENT && sideEffect {
		th.mu.Lock()
		th.replay = &replay{nr: n.nr, ip: n.ip, args: n.args, val: val, err: e}
		th.mu.Unlock()
	}
}

// create serves epoll_create and epoll_create1: a model instance, and its
// placeholder installed in the guest with the reply (ADDFD with SEND, so
// no interruption can leave an fd behind).
func (b *Box) create(th *thread, n *notif, start time.Time, bad, cloexec bool) {
	defer b.account(n.nr, start)
	if bad {
		b.reply(th, n, 0, unix.EINVAL, false)
		return
	}
	inst, ph, err := b.newInstance()
	if err != nil {
		e, _ := err.(unix.Errno)
		if e == 0 {
			e = unix.ENOMEM
		}
		b.reply(th, n, 0, e, false)
		return
	}
	if h := b.opts.beforeAnswer; h != nil {
		h(b, n)
	}
	num, e := addfdSend(b.listener, n.id, ph, cloexec)
	if e == unix.ENOENT || e == unix.EINPROGRESS {
		// The guest was interrupted: its rt_sigreturn may still make
		// this the call's result.
		th.mu.Lock()
		old := th.pending
		th.pending = &pending{site: callSite{nr: n.nr, ip: n.ip, args: n.args}, inst: inst, ph: ph, cloexec: cloexec}
		th.mu.Unlock()
		b.dropPending(old)
		return
	}
	rawClose(ph)
	if e != 0 {
		// Not installed (EMFILE): the instance has no placeholder and
		// goes.
		b.kill(inst)
		b.reply(th, n, 0, e, false)
		return
	}
	b.mu.Lock()
	b.idCache[fdKey{th.tid, int32(num)}] = inst
	b.mu.Unlock()
}

// identify returns the instance whose placeholder is at the slot (the
// caller holds slotMu), nil if none: the cached instance for the guest's
// (tid, fd) first, then every instance.
//
// +checklocks:b.slotMu
func (b *Box) identify(tid, num int32) *instance {
	key := fdKey{tid, num}
	b.mu.Lock()
	cached := b.idCache[key]
	b.mu.Unlock()
	if cached != nil && cached.matchesSlot() {
		return cached
	}
	b.mu.Lock()
	all := make([]*instance, 0, len(b.instances))
	for inst := range b.instances {
		if inst != cached {
			all = append(all, inst)
		}
	}
	b.mu.Unlock()
	for _, inst := range all {
		if inst.matchesSlot() {
			b.mu.Lock()
			if len(b.idCache) > 1<<16 {
				clear(b.idCache)
			}
			b.idCache[key] = inst
			b.mu.Unlock()
			return inst
		}
	}
	return nil
}

// resolveEpfd finds the instance behind guest fd epfd of th, or nil when
// the fd is not open or not one of the box's instances (the call is then
// continued: the kernel gives the guest its EBADF, EINVAL or EFAULT, or
// serves a host epoll the guest inherited).
//
// The instance comes with a reference on its model file, which the caller
// drops (release): the guest may close the placeholder meanwhile, and the
// box then forgets the instance, but a call in progress keeps its file, as
// an fdget does in Linux.
func (b *Box) resolveEpfd(th *thread, epfd int32) *instance {
	// The instance this thread last found at epfd, checked in one kcmp.
	b.mu.Lock()
	cached := b.idCache[fdKey{th.tid, epfd}]
	b.mu.Unlock()
	if cached != nil && cached.isGuestFd(th.tid, epfd) && cached.file.TryIncRef() {
		return cached
	}
	g, e := b.getfd(th, epfd)
	if e != 0 {
		return nil
	}
	b.slotMu.Lock()
	var inst *instance
	if rawDup3(g, b.slot) == 0 {
		inst = b.identify(th.tid, epfd)
		rawClose(b.slot)
	}
	b.slotMu.Unlock()
	rawClose(g)
	if inst != nil && !inst.file.TryIncRef() {
		return nil
	}
	return inst
}

// install puts f at number n of a view table (the syscall layer then finds
// it where the guest has it), with a reference of the table's own.
func install(t *fd.Table, f *fs.File, n int32) bool {
	f.IncRef()
	got, err := t.Install(f, n, false)
	if err != nil || got != n {
		if err == nil {
			t.Close(got)
		} else {
			f.DecRef()
		}
		return false
	}
	return true
}

// ctl serves epoll_ctl through the syscall layer, on a view of the guest's
// fd table that holds the instance at epfd and the target's model file at
// fd: a nested instance, the proxy of an existing registration of the same
// guest file through fd, or a new proxy.
func (b *Box) ctl(th *thread, n *notif, start time.Time) {
	defer b.account(n.nr, start)
	epfd, op, tfd := int32(n.args[0]), int32(n.args[1]), int32(n.args[2])
	// Linux reads the event before it looks at the fds (EFAULT first).
	var events uint32
	b.recv.mem.pid, b.recv.mem.id = int(th.tid), 0
	if op != unix.EPOLL_CTL_DEL {
		var ev [12]byte
		if b.recv.mem.CopyIn(n.args[3], ev[:]) != nil {
			b.reply(th, n, 0, unix.EFAULT, false)
			return
		}
		events = binary.LittleEndian.Uint32(ev[:])
	}
	inst := b.resolveEpfd(th, epfd)
	if inst == nil {
		sendContinue(b.listener, n.id)
		return
	}
	defer inst.file.DecRef()
	b.reapChildren(inst)
	// What the guest did before this call reaches the model first (a
	// wakeup queues its item before a MOD here queues another).
	b.drainHost()
	var target *fs.File // the model file at tfd (nil: EBADF)
	var fresh *regProxy // a proxy made for this call
	var found *regProxy // the existing registration's proxy
	var child *instance // a nested instance
	var drop []*fs.File // references to drop after the call
	defer func() {
		for _, f := range drop {
			f.DecRef()
		}
	}()
	if tfd == epfd {
		target = inst.file
	} else if r := inst.proxyForGuestFd(th.tid, tfd); r != nil {
		// The registered file is still at tfd (one kcmp).
		found = r
		target = r.file
	} else if g, e := b.getfd(th, tfd); e == 0 {
		b.slotMu.Lock()
		if rawDup3(g, b.slot) == 0 {
			if child = b.identify(th.tid, tfd); child != nil && child.file.TryIncRef() {
				target = child.file
				drop = append(drop, child.file) // after the call
			} else if child != nil {
				child = nil // released meanwhile: EBADF, as for a closed fd
			} else {
				var gone []*fs.File
				found, gone = inst.findProxy(tfd)
				drop = append(drop, gone...)
				if found != nil {
					target = found.file
				} else if op != unix.EPOLL_CTL_ADD {
					// Not registered: the model answers ENOENT, or EPERM
					// for a file epoll cannot watch.
					target = b.unregisteredFile()
					drop = append(drop, target)
				} else if r := b.sharedExclusiveFor(op, events); r != nil {
					fresh = r
					target = r.file
				} else if f, p, err := b.newProxy(events); err == nil {
					fresh = &regProxy{file: f, p: p}
					target = f
				} else {
					rawClose(b.slot)
					b.slotMu.Unlock()
					rawClose(g)
					// The box is out of fds for probes: what Linux says
					// when no more watches may be added.
					e, _ := err.(unix.Errno)
					if e == 0 || e == unix.EMFILE || e == unix.ENFILE {
						e = unix.ENOSPC
					}
					b.reply(th, n, 0, e, false)
					return
				}
			}
			rawClose(b.slot)
		}
		b.slotMu.Unlock()
		rawClose(g)
	}
	t := b.recv.table
	ok := install(t, inst.file, epfd)
	if ok && target != nil && tfd != epfd {
		ok = install(t, target, tfd)
	}
	var r uintptr
	var e unix.Errno
	if ok {
		var args [6]uintptr
		for i := range args {
			args[i] = uintptr(n.args[i])
		}
		r, e = b.recv.task.Syscall(unix.SYS_EPOLL_CTL, args)
	} else {
		e = unix.ENOMEM
	}
	t.Close(epfd)
	if target != nil && tfd != epfd {
		t.Close(tfd)
	}
	// Keep the instance's bookkeeping in step with the model's.
	if e == 0 {
		switch {
		case op == unix.EPOLL_CTL_ADD && fresh != nil:
			if inst.addProxy(tfd, fresh) {
				fresh = nil
			}
		case op == unix.EPOLL_CTL_ADD && child != nil:
			inst.mu.Lock()
			if inst.children != nil {
				inst.children[child]++
			}
			inst.mu.Unlock()
		case op == unix.EPOLL_CTL_DEL && found != nil:
			if f := inst.removeProxy(tfd, found.file); f != nil {
				f.DecRef()
			}
		case op == unix.EPOLL_CTL_DEL && child != nil:
			inst.mu.Lock()
			if inst.children != nil {
				if inst.children[child]--; inst.children[child] <= 0 {
					delete(inst.children, child)
				}
			}
			inst.mu.Unlock()
		}
	}
	if fresh != nil {
		fresh.file.DecRef()
	}
	inst.refreshBell(false)
	b.reply(th, n, int64(r), e, true)
}

// wait serves epoll_wait, epoll_pwait and epoll_pwait2: inline when it
// cannot block, on the thread's worker otherwise.
func (b *Box) wait(th *thread, n *notif, start time.Time) {
	inst := b.resolveEpfd(th, int32(n.args[0]))
	if inst == nil {
		sendContinue(b.listener, n.id)
		b.account(n.nr, start)
		return
	}
	// The call owns inst's reference from here on (finishWait drops it).
	nonblocking := false
	switch n.nr {
	case unix.SYS_EPOLL_WAIT, unix.SYS_EPOLL_PWAIT:
		nonblocking = int32(n.args[3]) == 0
	case unix.SYS_EPOLL_PWAIT2:
		if n.args[3] != 0 {
			var ts [16]byte
			b.recv.mem.pid = int(th.tid)
			if b.recv.mem.CopyIn(n.args[3], ts[:]) != nil {
				nonblocking = true // the syscall layer answers EFAULT
			} else {
				nonblocking = binary.LittleEndian.Uint64(ts[:]) == 0 && binary.LittleEndian.Uint64(ts[8:]) == 0
			}
		}
	}
	if !nonblocking && n.nr != unix.SYS_EPOLL_WAIT && n.args[4] != 0 {
		b.warn("sigmask", "a blocking epoll_pwait/epoll_pwait2 with a signal mask cannot be emulated: "+
			"the box cannot change the thread's mask, so a signal the mask unblocks does not interrupt the wait "+
			"and one it blocks may (pid %d)", th.tid)
		b.stats[statSigmask].count.Add(1)
	}
	c := &call{n: *n, th: th, inst: inst, start: start}
	if !nonblocking && n.nr != unix.SYS_EPOLL_PWAIT2 {
		// Events already queued: the first harvest of a blocking wait is
		// a zero-timeout one (Linux's ep_poll harvests before it sleeps),
		// served here, without a hand-off to the worker. Only when it
		// finds nothing does the wait go to the worker.
		b.drainHost()
		if inst.ep.EventsAvailable() {
			c.n.args[3] = 0
			b.recv.mem.pid, b.recv.mem.id, b.recv.mem.stale = int(th.tid), n.id, false
			b.recv.serveWait(c)
			if c.e != 0 || c.r > 0 || b.recv.mem.stale {
				b.finishWait(c, &b.recv.mem)
				return
			}
			c.n.args[3] = n.args[3]
		}
	}
	if nonblocking {
		b.recv.mem.pid, b.recv.mem.id, b.recv.mem.stale = int(th.tid), n.id, false
		b.recv.serveWait(c)
		b.finishWait(c, &b.recv.mem)
		return
	}
	th.mu.Lock()
	th.current = c
	if !th.worker {
		th.worker = true
		th.work = make(chan *call, 1)
		th.srv.init(b, int(th.tid))
		b.workers.Add(1)
		go b.worker(th)
	}
	th.mu.Unlock()
	th.work <- c
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
}

func (s *server) init(b *Box, pid int) {
	s.b = b
	s.mem.pid, s.mem.listener = pid, b.listener
	s.table = newViewTable()
	s.task = syscalls.NewTask(b.k, s.table, &s.mem, syscalls.AMD64)
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
	c.th.mu.Lock()
	c.answered = s.b.answerLocked(c, s.mem.stale, int64(n), 0)
	c.th.mu.Unlock()
	if !c.answered {
		c.refused = true
		return errUnanswered
	}
	return nil
}

// answerLocked delivers the answer of wait c, unless the box already knows
// that its thread left the call, and records the thread as having left it
// when the answer cannot be delivered (stale: the copy-out found the
// notification withdrawn). c.th.mu must be held, so that the thread's
// record and the answer change together: the guest's next call, which may
// arrive the moment it has the answer, must not find this wait still in
// flight (it would take it for interrupted), and an interrupted thread's
// rt_sigreturn must find it interrupted.
//
// +checklocks:c.th.mu
func (b *Box) answerLocked(c *call, stale bool, val int64, e unix.Errno) bool {
	th := c.th
	if th.current == c {
		th.current = nil
	}
	if c.cancelled {
		return false
	}
	if stale || send(b.listener, c.n.id, val, e) != 0 {
		th.leftCallLocked(&c.n)
		return false
	}
	return true
}

// serveWait runs wait c through the syscall layer, after bringing the
// model up to date with the host. A wait that harvests events is answered
// from inside the harvest (commit); finishWait answers the others.
func (s *server) serveWait(c *call) {
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
	s.c = c
	r, e := s.task.Syscall(uintptr(c.n.nr), args)
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
	c.th.mu.Lock()
	if c.answered || c.refused {
		if c.th.current == c {
			c.th.current = nil
		}
	} else {
		b.answerLocked(c, mem.stale, int64(c.r), c.e)
	}
	c.th.mu.Unlock()
	c.inst.file.DecRef()
	if c.refused {
		b.stats[statRolledBack].count.Add(1)
	}
	b.account(c.n.nr, c.start)
}

// reapThreads forgets the guest threads that have exited (their pidfds
// report POLLIN), with their workers. It runs on the receiver, which owns
// the pidfds.
func (b *Box) reapThreads() {
	threads := b.threadList()
	for _, th := range threads {
		if th.pidfd >= 0 {
			pfd := [1]unix.PollFd{{Fd: int32(th.pidfd), Events: unix.POLLIN}}
			var ts unix.Timespec
			n, _, e := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd[0])), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
			if e != 0 || n == 0 {
				continue // alive
			}
		}
		th.mu.Lock()
		if th.current != nil {
			th.mu.Unlock()
			continue
		}
		if th.worker {
			th.worker = false
			close(th.work)
		}
		th.mu.Unlock()
		if th.pidfd >= 0 {
			rawClose(th.pidfd)
			th.pidfd = -1
		}
		th.mu.Lock()
		pc := th.pending
		th.pending = nil
		th.mu.Unlock()
		b.dropPending(pc)
		b.mu.Lock()
		if b.threads[th.tid] == th {
			delete(b.threads, th.tid)
		}
		for k := range b.idCache {
			if k.tid == th.tid {
				delete(b.idCache, k)
			}
		}
		b.mu.Unlock()
	}
}

// worker runs the blocking waits of one guest thread, until its channel
// is closed (the thread exited, or the box stops).
func (b *Box) worker(th *thread) {
	defer b.workers.Done()
	defer th.srv.task.Exit()
	for c := range th.work {
		th.mu.Lock()
		if c.cancelled { // +checklocksignore: c.th is th (th.work carries th's waits).
			if th.current == c {
				th.current = nil
			}
			th.mu.Unlock()
			c.inst.file.DecRef()
			continue
		}
		c.running = true // +checklocksignore: c.th is th.
		th.srv.task.DiscardSignals(killBit)
		th.mu.Unlock()
		th.srv.mem.id, th.srv.mem.stale = c.n.id, false
		th.srv.serveWait(c)
		th.mu.Lock()
		c.running = false // +checklocksignore: c.th is th.
		th.mu.Unlock()
		b.finishWait(c, &th.srv.mem)
	}
}

// cancelLocked ends a blocking wait whose thread has left it.
//
// +checklocks:c.th.mu
func (b *Box) cancelLocked(c *call) {
	th := c.th
	c.cancelled = true
	if th.current == c {
		th.current = nil
	}
	if c.running {
		th.srv.task.Interrupt(int(unix.SIGKILL))
	}
	b.stats[statCancelled].count.Add(1)
}

// sweeper notices blocking waits whose thread was interrupted out of the
// call (a signal without SA_RESTART: the guest saw EINTR and went on), and
// forgets instances and registrations whose guest files are gone.
func (b *Box) sweeper() {
	defer b.wg.Done()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var rounds int
	for {
		select {
		case <-b.done:
			return
		case <-tick.C:
		}
		threads := b.threadList()
		for _, th := range threads {
			th.mu.Lock()
			if c := th.current; c != nil && c.running && !notifIDValid(b.listener, c.n.id) {
				b.cancelLocked(c)
				th.leftCallLocked(&c.n)
			}
			th.mu.Unlock()
		}
		if rounds++; rounds%50 == 0 {
			b.collect()
		}
	}
}

// threadList returns the known guest threads, for a walk without b.mu
// held.
func (b *Box) threadList() []*thread {
	b.mu.Lock()
	defer b.mu.Unlock()
	threads := make([]*thread, 0, len(b.threads))
	for _, th := range b.threads {
		threads = append(threads, th)
	}
	return threads
}

// instanceList returns the live instances, for a walk without b.mu held.
func (b *Box) instanceList() []*instance {
	b.mu.Lock()
	defer b.mu.Unlock()
	insts := make([]*instance, 0, len(b.instances))
	for inst := range b.instances {
		insts = append(insts, inst)
	}
	return insts
}

// collect forgets instances whose placeholder the guest released.
func (b *Box) collect() {
	for _, inst := range b.instanceList() {
		if inst.gone() {
			b.kill(inst)
		}
	}
}

// bellRefresher updates doorbells after the model instances' wakeups.
func (b *Box) bellRefresher() {
	defer b.wg.Done()
	for {
		select {
		case <-b.done:
			return
		case inst := <-b.bellQ:
			inst.refreshBell(false)
		case <-b.bellKick:
			if b.bellAll.Swap(false) {
				for _, inst := range b.instanceList() {
					inst.refreshBell(false)
				}
			}
		}
	}
}

// pollSync runs before a trapped poll, ppoll, select or pselect6 is
// continued: the model catches up with the host, and the doorbells of the
// guest's epoll fds in the poll set are recomputed as Linux's poll of an
// epoll fd would (every instance for select).
func (b *Box) pollSync(th *thread, n *notif) {
	b.mu.Lock()
	none := len(b.instances) == 0
	b.mu.Unlock()
	if none {
		return
	}
	b.drainHost()
	var targets []*instance
	if n.nr == unix.SYS_POLL || n.nr == unix.SYS_PPOLL {
		nfds := n.args[1]
		if nfds > 64 {
			nfds = 64 // larger sets: every instance
		} else {
			buf := make([]byte, 8*nfds)
			b.recv.mem.pid, b.recv.mem.id = int(th.tid), 0
			if b.recv.mem.CopyIn(n.args[0], buf) != nil {
				return
			}
			for i := uint64(0); i < nfds; i++ {
				num := int32(binary.LittleEndian.Uint32(buf[8*i:]))
				if num < 0 {
					continue
				}
				if inst := b.resolveEpfd(th, num); inst != nil {
					targets = append(targets, inst)
				}
			}
			for _, inst := range targets {
				b.reapChildren(inst)
				inst.refreshBell(true)
				inst.file.DecRef()
			}
			return
		}
	}
	b.mu.Lock()
	for inst := range b.instances {
		targets = append(targets, inst)
	}
	b.mu.Unlock()
	for _, inst := range targets {
		b.reapChildren(inst)
		inst.refreshBell(true)
	}
}

// sharedExclusiveFor returns the shared proxy for an EPOLL_CTL_ADD with
// EPOLLEXCLUSIVE of the file at the slot, if one exists (the caller holds
// slotMu).
//
// +checklocks:b.slotMu
func (b *Box) sharedExclusiveFor(op int32, events uint32) *regProxy {
	if op != unix.EPOLL_CTL_ADD || events&unix.EPOLLEXCLUSIVE == 0 {
		return nil
	}
	if r := b.sharedExclusive(); r != nil {
		return &regProxy{file: r.file, p: r.p}
	}
	return nil
}

// unregisteredFile returns a model file for the guest file at the slot
// (the caller holds slotMu) that is registered nowhere: a file epoll_ctl
// refuses with EPERM when the host cannot poll it, an inert pollable one
// otherwise.
//
// +checklocks:b.slotMu
func (b *Box) unregisteredFile() *fs.File {
	fd, e := b.newProbe(inGroup)
	if e == unix.EPERM {
		return fs.New(unpollable{}, unix.O_RDWR)
	}
	if e == 0 {
		b.dropReady(fd)
		rawClose(fd)
	}
	return fs.New(&proxy{b: b, probes: [2]int{-1, -1}, idx: ^uint32(0)}, unix.O_RDWR)
}
