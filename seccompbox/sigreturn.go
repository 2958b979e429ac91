//go:build linux && amd64

package seccompbox

import (
	"encoding/binary"
	"strconv"
	"strings"
	"time"
	"unsafe"

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
// uc_flags, uc_link and uc_stack (8+8+24). In sigcontext, rax is register
// 13 and rip register 16.
const (
	frameBelowSP  = 8
	frameRegsBase = 8 + 40
	frameRAX      = frameRegsBase + 13*8
	frameRIP      = frameRegsBase + 16*8
	syscallInsn   = 2 // the length of the syscall instruction
)

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
//   - the thread has an interrupted call the box has not settled, and the
//     frame is that call's: the saved registers are rewritten to Linux's
//     answer.
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
	var site callSite
	var waitLeft bool
	var rp *replay
	var pc *pending
	if th != nil {
		th.mu.Lock()
		if c := th.current; c != nil {
			// A handler ran: the thread left its blocking wait.
			b.cancelLocked(c)
			th.leftCallLocked(&c.n)
		}
		site, waitLeft = th.intr, th.cancelled
		rp, pc = th.replay, th.pending
		th.mu.Unlock()
	}
	// The frame is read only when something may need mending: reading it
	// costs a /proc read, and most handlers interrupt nothing of the box's.
	settle := waitLeft || rp != nil || pc != nil
	if !settle && !b.checkFrame[tid] && !time.Now().Before(b.gapUntil) {
		return
	}
	delete(b.checkFrame, tid)
	sp, ok := syscallSP(int(tid))
	if !ok {
		return
	}
	mem := guestMem{pid: int(tid), listener: b.listener, id: n.id}
	frame := sp - frameBelowSP
	var reg [8]byte
	if mem.CopyIn(frame+frameRAX, reg[:]) != nil {
		return
	}
	rax := binary.LittleEndian.Uint64(reg[:])
	if mem.CopyIn(frame+frameRIP, reg[:]) != nil {
		return
	}
	rip := binary.LittleEndian.Uint64(reg[:])
	if int64(rax) == -int64(unix.EINTR) && sigreturnInterrupted(&mem, rip) {
		if rewriteFrame(&mem, frame, unix.SYS_RT_SIGRETURN, rip-syscallInsn) {
			b.stats[statSettled].count.Add(1)
		}
		return
	}
	if !settle {
		return
	}
	// The answer the interrupted call must give (for a pending create, the
	// fd it is about to get).
	answer := -int64(unix.EINTR)
	switch {
	case rp != nil:
		site = callSite{nr: rp.nr, ip: rp.ip, args: rp.args}
		answer = rp.val
		if rp.err != 0 {
			answer = -int64(rp.err)
		}
	case pc != nil:
		site = pc.site
	}
	restart := rip == site.ip-syscallInsn && rax == uint64(site.nr)
	eintr := rip == site.ip && int64(rax) == -int64(unix.EINTR)
	if !restart && !eintr {
		return // another handler's frame (nested signals): not this one
	}
	if pc != nil {
		// Install the placeholder now, through this notification (the
		// thread is still trapped), and make its number the result.
		th.mu.Lock()
		if th.pending != pc {
			th.mu.Unlock()
			return
		}
		th.pending = nil
		th.mu.Unlock()
		num, e := addfd(b.listener, n.id, pc.ph, pc.cloexec, 0)
		rawClose(pc.ph)
		if e != 0 {
			b.kill(pc.inst)
			if e == unix.ENOENT || e == unix.EINPROGRESS {
				return // interrupted again: the create is left as it is
			}
			answer = -int64(e)
		} else {
			answer = int64(num)
			b.mu.Lock()
			b.idCache[fdKey{tid, int32(num)}] = pc.inst
			b.mu.Unlock()
		}
	}
	if (restart || rax != uint64(answer)) && !rewriteFrame(&mem, frame, answer, site.ip) {
		return
	}
	th.mu.Lock()
	if rp != nil && th.replay == rp {
		th.replay = nil
	}
	if waitLeft && th.intr == site {
		th.cancelled = false
	}
	th.mu.Unlock()
	b.stats[statSettled].count.Add(1)
}

// rewriteFrame makes the frame at frame restore rax and rip as given.
func rewriteFrame(mem *guestMem, frame uint64, rax int64, rip uint64) bool {
	var reg [8]byte
	binary.LittleEndian.PutUint64(reg[:], uint64(rax))
	if mem.CopyOut(frame+frameRAX, reg[:]) != nil {
		return false
	}
	binary.LittleEndian.PutUint64(reg[:], rip)
	return mem.CopyOut(frame+frameRIP, reg[:]) == nil
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
	var code [9]byte
	if rip < uint64(len(code)) || mem.CopyIn(rip-uint64(len(code)), code[:]) != nil {
		return false
	}
	if code[7] != 0x0f || code[8] != 0x05 { // syscall
		return false
	}
	movRAX := [7]byte{0x48, 0xc7, 0xc0, 0x0f, 0, 0, 0} // mov $15,%rax
	movEAX := [5]byte{0xb8, 0x0f, 0, 0, 0}             // mov $15,%eax
	return [7]byte(code[:7]) == movRAX || [5]byte(code[2:7]) == movEAX
}

// syscallSP returns the user stack pointer of thread tid, which is blocked
// in a system call, from /proc/TID/syscall ("NR ARG1..ARG6 SP PC").
func syscallSP(tid int) (uint64, bool) {
	var path [64]byte
	s := append(path[:0], "/proc/"...)
	s = appendInt(s, tid)
	s = append(s, "/syscall\x00"...)
	f, _, e := unix.RawSyscall6(unix.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(&s[0])), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		return 0, false
	}
	defer rawClose(int(f))
	var buf [256]byte
	n, e := rawRead(int(f), buf[:])
	if e != 0 || n <= 0 {
		return 0, false
	}
	fields := strings.Fields(string(buf[:n]))
	if len(fields) != 9 {
		return 0, false // "running", or not in a system call
	}
	sp, err := strconv.ParseUint(strings.TrimPrefix(fields[7], "0x"), 16, 64)
	return sp, err == nil
}
