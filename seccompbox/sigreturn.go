//go:build linux && amd64

package seccompbox

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"
)

// How a guest thread leaves an interrupted call.
//
// A signal that interrupts a trapped call ends the kernel's wait for the
// answer with -ERESTARTSYS. A handler with SA_RESTART then makes the kernel
// re-execute the call, where Linux's epoll_wait returns EINTR; a handler
// without it makes the guest see EINTR, also for an epoll_ctl the box had
// already done, which Linux never returns. The box cannot tell the two
// apart when the call comes back: both are the same call from the same
// place. It can when the handler returns: rt_sigreturn is trapped, and the
// signal frame it is about to restore says which it is. Before the handler
// ran, the kernel saved the thread's registers there either as a restart
// (rip on the syscall instruction, rax the call's number) or as EINTR (rip
// after it, rax -EINTR). The box rewrites that saved state into what Linux
// would have returned: EINTR for a wait, the result it already applied for
// a ctl (the replay cache), and for an epoll_create whose placeholder could
// not be installed, the placeholder, installed now through the
// rt_sigreturn's own notification (SECCOMP_IOCTL_NOTIF_ADDFD without SEND).
// A call interrupted with no handler (a stop and SIGCONT) is always
// restarted, without a sigreturn: the restarted wait is answered EINTR
// (handle), and a restarted create makes a new instance.

// Offsets in an x86-64 rt_sigframe, which starts 8 bytes below the stack
// pointer at rt_sigreturn (the handler's return popped pretcode): pretcode
// (8), then the ucontext, whose uc_mcontext (struct sigcontext) follows
// uc_flags, uc_link and uc_stack (8+8+24). In sigcontext, the registers
// are r8 to r15 (0-7), rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip (16).
const (
	frameBelowSP  = 8
	frameRegsBase = 8 + 40
	frameRAX      = frameRegsBase + 13*8
	frameRIP      = frameRegsBase + 16*8
	syscallInsn   = 2 // the length of the syscall instruction
)

// argRegs are the sigcontext registers of a system call's six arguments
// (rdi, rsi, rdx, r10, r8, r9), which the call leaves as they were.
var argRegs = [6]int{8, 9, 12, 2, 0, 1}

// gapWindow is how long after a gap in the notification ids every trapped
// rt_sigreturn's frame is checked.
const gapWindow = time.Second

// sigreturn serves a trapped rt_sigreturn (on the receiver). It reads the
// signal frame the call is about to restore, when something may need
// mending, and mends it in two cases:
//
//   - the frame is that of a handler which interrupted an earlier trapped
//     rt_sigreturn (see sigreturnInterrupted): the saved state is turned
//     into a restart of that rt_sigreturn. Such a frame can only follow a
//     notification withdrawn by a signal: one the box received but could
//     not continue (checkFrame), or one it never received, which leaves a
//     gap in the notification ids (gapUntil);
//   - the thread left a call the box has not settled, and the frame is
//     that call's: the saved registers are rewritten to Linux's answer
//     (settleFrame);
//   - the frame is that of the call the box last answered, whose answer
//     the kernel dropped (mendDropped);
//   - the frame is an EINTR of an epoll_ctl or epoll_create the box never
//     received (restartUnseen).
//
// The call itself is always continued.
func (b *Box) sigreturn(n *notif, start time.Time) {
	defer b.account(n.nr, start)
	tid := int32(n.pid)
	defer func() {
		if sendContinue(b.listener, n.id) != 0 {
			// Withdrawn after we received it: its thread's next
			// rt_sigreturn may be that of the interrupting handler.
			b.checkFrame[tid] = true
		}
	}()
	if h := b.opts.beforeAnswer; h != nil {
		h(b, n)
	}
	b.mu.Lock()
	th := b.threads[tid]
	b.mu.Unlock()
	var left leftCall
	var answered answeredCall
	if th != nil {
		// A handler ran: the thread left its blocking wait.
		var abandoned bool
		if left, answered, abandoned = th.calls.handlerRan(); abandoned {
			b.stats[statCancelled].count.Add(1)
		}
	}
	// The frame is read only when something may need mending: reading it
	// costs a /proc read, and most handlers interrupt nothing of the box's.
	settle := left.kind != leftNothing
	mend := answered.id != 0 && b.lastGap <= answered.id
	if !settle && !mend && !b.checkFrame[tid] && !time.Now().Before(b.gapUntil) {
		return
	}
	delete(b.checkFrame, tid)
	f, ok := b.readFrame(n)
	if !ok {
		return
	}
	if int64(f.rax) == -int64(unix.EINTR) && sigreturnInterrupted(&f.mem, f.rip) {
		if f.rewrite(unix.SYS_RT_SIGRETURN, f.rip-syscallInsn) {
			b.stats[statSettled].count.Add(1)
		}
		return
	}
	if settle && b.settleFrame(th, n, &f, left) {
		b.stats[statSettled].count.Add(1)
		return
	}
	if mend {
		// One look is enough, and costs one frame read per answered call:
		// a dropped answer shows at the first handler's return. (Two
		// signals at once in the few instructions of the drop window
		// would show the second handler's frame first.)
		th.calls.forgetAnswered(answered)
		if f.mendDropped(answered) {
			b.stats[statMended].count.Add(1)
			return
		}
	}
	if b.restartUnseen(n, th, &f) {
		b.stats[statSettled].count.Add(1)
	}
}

// mendDropped rewrites the frame, if it is that of the answered call a
// (saved for a restart or for EINTR, at a's place, with a's arguments), to
// a's answer, which the kernel then dropped (see answeredCall): the guest
// gets what the box did (a wait's events are in its buffer already), or
// for a call the box continued to the host, a restart of it. A
// call whose answer arrived would show its result instead, or another
// place. The caller has checked that no notification was withdrawn
// unreceived since a was answered (no gap in the ids): the same call made
// again and interrupted before the box saw it would look the same.
func (f *sigFrame) mendDropped(a answeredCall) bool {
	site := a.site
	restart := f.rip == site.ip-syscallInsn && f.rax == uint64(site.nr)
	eintr := f.rip == site.ip && int64(f.rax) == -int64(unix.EINTR)
	if !restart && !eintr || !f.argsAre(site.args) {
		return false
	}
	if a.continued {
		// The host kernel never ran it: run it now (a restart frame
		// needs nothing).
		return restart || f.rewrite(int64(site.nr), site.ip-syscallInsn)
	}
	if eintr && a.val == -int64(unix.EINTR) {
		return false // the answer was EINTR: nothing to mend
	}
	return f.rewrite(a.val, site.ip)
}

// argsAre reports whether the frame's argument registers hold args.
func (f *sigFrame) argsAre(args [6]uint64) bool {
	for i, r := range argRegs {
		if binary.LittleEndian.Uint64(f.regs[8*r:]) != args[i] {
			return false
		}
	}
	return true
}

// sigFrame is the saved state of a guest thread's signal frame that an
// rt_sigreturn is about to restore.
type sigFrame struct {
	mem      guestMem // the thread's memory, checked against the notification
	addr     uint64   // where the rt_sigframe starts
	rax, rip uint64
	// regs are the saved registers from r8 to rip, as read: rewrite
	// writes back those from rax to rip in one piece.
	regs [frameRIP + 8 - frameRegsBase]byte
	// beforeWrite is Options.beforeFrameWrite, with its notification.
	beforeWrite func()
}

// readFrame reads the frame the trapped rt_sigreturn n is about to
// restore.
func (b *Box) readFrame(n *notif) (sigFrame, bool) {
	sp, ok := b.frameSP(n)
	if !ok {
		return sigFrame{}, false
	}
	f := sigFrame{mem: guestMem{pid: int(n.pid), listener: b.listener, id: n.id}, addr: sp - frameBelowSP}
	if h := b.opts.beforeFrameWrite; h != nil {
		f.beforeWrite = func() { h(b, n) }
	}
	if f.mem.CopyIn(f.addr+frameRegsBase, f.regs[:]) != nil {
		return sigFrame{}, false
	}
	f.rax = binary.LittleEndian.Uint64(f.regs[frameRAX-frameRegsBase:])
	f.rip = binary.LittleEndian.Uint64(f.regs[frameRIP-frameRegsBase:])
	return f, true
}

// rewrite makes the frame restore rax and rip as given, unless the
// rt_sigreturn was withdrawn (then the frame is left as the kernel saved
// it).
//
// The two registers change together or not at all, whatever signal comes
// meanwhile: one check that the notification is pending, then one
// process_vm_writev of the contiguous range from rax to rip (the rcx and
// rsp between them written back as read). A signal after the check
// withdraws the notification but no longer stops the write. That is
// atomic with respect to the guest because the only reader of the frame
// is the kernel's restore in rt_sigreturn, which is trapped: the thread
// either waits for this notification's answer, or, withdrawn by the
// signal, runs the interrupting handler (whose frame lies below this one)
// and comes back to a new trapped rt_sigreturn, which waits for the
// receiver, busy here until the write has returned. Written in two
// checked steps, a signal between them left rip on the syscall
// instruction with rax already -EINTR: the restart ran system call -4,
// which the filter kills (SIGSYS).
func (f *sigFrame) rewrite(rax int64, rip uint64) bool {
	regs := [frameRIP + 8 - frameRAX]byte(f.regs[frameRAX-frameRegsBase:])
	binary.LittleEndian.PutUint64(regs[0:], uint64(rax))
	binary.LittleEndian.PutUint64(regs[frameRIP-frameRAX:], rip)
	if !notifIDValid(f.mem.listener, f.mem.id) {
		return false
	}
	if f.beforeWrite != nil {
		f.beforeWrite()
	}
	unchecked := f.mem
	unchecked.id = 0
	return unchecked.CopyOut(f.addr+frameRAX, regs[:]) == nil
}

// settleFrame rewrites frame f, if it is that of the call left (saved
// either for a restart or for EINTR), to Linux's answer to that call:
// EINTR for a wait that slept, a restart for one that did not (it runs
// again), the result the box applied for a ctl, and for a create, the
// placeholder, installed now. It reports whether the call was settled.
func (b *Box) settleFrame(th *thread, n *notif, f *sigFrame, left leftCall) bool {
	site := left.site
	restart := f.rip == site.ip-syscallInsn && f.rax == uint64(site.nr)
	eintr := f.rip == site.ip && int64(f.rax) == -int64(unix.EINTR)
	if !restart && !eintr {
		return false // another handler's frame (nested signals): not this one
	}
	if left.kind == leftRerun {
		// Run it again: a restart, which the box serves as a new call.
		if eintr && !f.rewrite(int64(site.nr), site.ip-syscallInsn) {
			return false
		}
		th.calls.settle(left)
		return true
	}
	if left.kind == leftCreate {
		var ok bool
		if left, ok = b.installLeftCreate(th, n, left); !ok {
			return false
		}
	}
	answer := -int64(unix.EINTR)
	if left.kind == leftResult {
		answer = left.val
		if left.err != 0 {
			answer = -int64(left.err)
		}
	}
	if (restart || f.rax != uint64(answer)) && !f.rewrite(answer, site.ip) {
		return false
	}
	th.calls.settle(left)
	return true
}

// installLeftCreate installs the placeholder of the create the thread
// left, through the rt_sigreturn's own notification n (the thread is still
// trapped), and returns the record that replaces the create's: its result
// (leftResult), the fd number or the errno of a failed install. The
// record stays until the frame has that result: if the rt_sigreturn is
// interrupted before the box writes it, its restart finds the result
// (the fd is in the guest already) and writes it then. False, with the
// create still left as it was, when the rt_sigreturn was interrupted
// before the thread took the fd in: its restart installs it.
func (b *Box) installLeftCreate(th *thread, n *notif, left leftCall) (leftCall, bool) {
	pc := left.create
	num, e := addfd(b.listener, n.id, pc.ph, pc.cloexec, 0)
	if addfdInterrupted(e) {
		return left, false
	}
	if h := b.opts.afterLeftInstall; h != nil && e == 0 {
		h(b, n)
	}
	result, ok := th.calls.createDone(left, int64(num), e)
	if !ok {
		// Not the record any more (cannot happen: the receiver alone
		// changes it while the thread is in rt_sigreturn); the fd, if
		// installed, is the guest's.
		return left, false
	}
	rawClose(pc.ph)
	if e != 0 {
		b.kill(pc.inst)
		return result, true
	}
	b.mu.Lock()
	b.idCache[fdKey{th.tid, int32(num)}] = pc.inst
	b.mu.Unlock()
	return result, true
}

// sigreturnInterrupted reports whether a frame saved with rip and -EINTR
// is that of a handler which interrupted a trapped rt_sigreturn: rip
// follows the syscall instruction of a signal restorer (mov $15 into rax
// or eax, then syscall, as glibc's, musl's and Go's restorers are).
//
// Natively rt_sigreturn cannot be interrupted; trapped, it waits for the
// box like any trapped call, and a signal meanwhile ends that wait. With a
// handler lacking SA_RESTART, the kernel then returns EINTR from it, into
// the restorer, which does not expect rt_sigreturn to return and falls
// into whatever follows it (Go's traps, glibc's runs into the next
// function): the guest would crash. Restarting the rt_sigreturn instead
// is what its handler's return should lead to.
func sigreturnInterrupted(mem *guestMem, rip uint64) bool {
	nr, ok := syscallBefore(mem, rip)
	return ok && nr == unix.SYS_RT_SIGRETURN
}

// syscallBefore returns the system call number that the code just before
// rip loads into rax or eax before its syscall instruction (mov $nr, then
// syscall, as the system call wrappers of glibc, musl and Go's restorers
// have it), if it is such code.
func syscallBefore(mem *guestMem, rip uint64) (int32, bool) {
	var code [9]byte
	if rip < uint64(len(code)) || mem.CopyIn(rip-uint64(len(code)), code[:]) != nil {
		return 0, false
	}
	if code[7] != 0x0f || code[8] != 0x05 { // syscall
		return 0, false
	}
	switch {
	case code[0] == 0x48 && code[1] == 0xc7 && code[2] == 0xc0: // mov $imm32,%rax
		return int32(binary.LittleEndian.Uint32(code[3:])), true
	case code[2] == 0xb8: // mov $imm32,%eax
		return int32(binary.LittleEndian.Uint32(code[3:])), true
	}
	return 0, false
}

// neverEINTR reports whether Linux never fails trapped call nr, made with
// the frame's arguments by the thread of rt_sigreturn n (th, if the box
// knows it already), with
// EINTR: epoll_ctl and epoll_create always, and a wait that does not sleep:
// one with a zero timeout, one whose arguments it refuses first
// (failsEarly, an invalid pwait2 timeout), or one on an instance with
// events queued (ep_poll harvests first, and looks at signals only when it
// is about to sleep).
func (b *Box) neverEINTR(n *notif, th *thread, f *sigFrame, nr int32) bool {
	switch nr {
	case unix.SYS_EPOLL_CTL, unix.SYS_EPOLL_CREATE, unix.SYS_EPOLL_CREATE1:
		return true
	case unix.SYS_EPOLL_WAIT, unix.SYS_EPOLL_PWAIT, unix.SYS_EPOLL_PWAIT2:
	default:
		return false
	}
	w := notif{nr: nr}
	for i, r := range argRegs {
		w.args[i] = binary.LittleEndian.Uint64(f.regs[8*r:])
	}
	if tid := int32(n.pid); b.nonblocking(tid, &w) || b.failsEarly(tid, &w) {
		return true
	}
	if th == nil {
		// The withdrawn wait was the thread's first call.
		th = b.threadFor(n)
	}
	return th != nil && b.eventsQueued(th, int32(w.args[0]))
}

// eventsQueued reports whether guest fd epfd of th is an instance with
// events queued.
func (b *Box) eventsQueued(th *thread, epfd int32) bool {
	inst := b.resolveEpfd(th, epfd)
	if inst == nil {
		return false
	}
	defer inst.file.DecRef()
	b.drainHost()
	return inst.ep.EventsAvailable()
}

// restartUnseen turns a frame saved with -EINTR right after the syscall
// instruction of the wrapper of a call Linux does not fail with EINTR
// (neverEINTR) into a restart of that call. The box never answers EINTR
// to them either: the call was withdrawn by the signal before the box
// received it (it saw only the gap in the notification ids), so it was
// never done, and running it now is what Linux's call would have done.
//
// The call is known only by its wrapper's code, which must load the
// number as an immediate (mov $nr, %eax, then syscall), as the C
// library's wrappers of these calls do: the frame keeps the arguments but
// not the number (rax holds -EINTR, and x86-64's sigcontext has no
// orig_ax). A call made through a generic wrapper (the number in a
// register: syscall(2), Go's syscall package) cannot be told from any
// other interrupted call, and keeps its EINTR (docs/epollbox.md).
func (b *Box) restartUnseen(n *notif, th *thread, f *sigFrame) bool {
	if int64(f.rax) != -int64(unix.EINTR) {
		return false
	}
	nr, ok := syscallBefore(&f.mem, f.rip)
	return ok && b.neverEINTR(n, th, f, nr) && f.rewrite(int64(nr), f.rip-syscallInsn)
}
