//go:build linux && amd64

package seccompbox

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Where a trapped rt_sigreturn's signal frame is: its thread's user stack
// pointer, which only /proc/TID/syscall tells (the notification has the
// instruction pointer and the arguments, not the stack pointer).
//
// /proc/TID/syscall describes a thread only while it is off the CPU in a
// system call (task_current_syscall); a thread that is runnable reads as
// "running". A thread that has trapped is runnable for a moment after the
// box can receive its notification: seccomp_do_user_notification queues
// the notification and wakes the receiver with notify_lock held, and the
// thread drops the lock before it goes to sleep in
// wait_for_completion_interruptible. A receiver already awake on another
// CPU (serving another thread) takes the lock the moment the thread drops
// it; if the thread is held up before it sleeps (an interrupt, its vCPU
// descheduled by the hypervisor, preemption on a preemptible kernel), the
// box reads "running" for a thread that is still in the call and will be
// asleep in it in a moment. Taking that for "no frame"
// left the frame as the kernel saved it: the guest's epoll_create or
// epoll_ctl returned EINTR. So the box waits for the thread to sleep,
// as long as the notification is pending: an interrupted thread withdraws
// it (then its frame is checked at its next rt_sigreturn, checkFrame).

// spState is what a read of /proc/TID/syscall found.
type spState uint8

const (
	// spRead: the thread is in a system call; the stack pointer is read.
	spRead spState = iota
	// spRunning: the thread is runnable ("running"): not yet asleep in
	// the call, or woken out of it.
	spRunning
	// spUnreadable: the file could not be read or parsed (out of fds, the
	// thread gone, not in a system call).
	spUnreadable
)

// frameSPPatience is how long the box waits for a trapped thread to be
// asleep in its call before it gives up reading its frame: a runnable
// thread gets the CPU within a scheduler period or so, even on a loaded
// machine.
const frameSPPatience = time.Second

// frameSP returns the user stack pointer of the thread of trapped
// rt_sigreturn n, waiting while the thread is still runnable in the call
// (see above). False when the notification was withdrawn meanwhile, the
// file cannot be read, or the thread stays runnable longer than
// frameSPPatience (counted in statFrameUnread, and warned about once).
func (b *Box) frameSP(n *notif) (uint64, bool) {
	tid := int(n.pid)
	var deadline time.Time
	pause := unix.Timespec{Nsec: 10_000}
	for {
		sp, st := syscallSP(tid)
		if h := b.opts.frameReadRunning; h != nil && st == spRead && h(b, n) {
			st = spRunning
		}
		switch st {
		case spRead:
			return sp, true
		case spUnreadable:
			b.stats[statFrameUnread].count.Add(1)
			return 0, false
		}
		if !notifIDValid(b.listener, n.id) {
			return 0, false // interrupted: checkFrame looks again
		}
		now := time.Now()
		if deadline.IsZero() {
			deadline = now.Add(frameSPPatience)
			b.stats[statFrameWaited].count.Add(1)
		} else if now.After(deadline) {
			b.stats[statFrameUnread].count.Add(1)
			b.warn("frame-unread", "thread %d stayed runnable for %v in a trapped rt_sigreturn: its signal frame was not checked", tid, frameSPPatience)
			return 0, false
		}
		// Let the thread have the CPU (it may share the receiver's).
		rest := pause
		unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&rest)), 0, 0)
		pause.Nsec = min(2*pause.Nsec, 1_000_000)
	}
}

// syscallSP returns the user stack pointer of thread tid, blocked in a
// system call, from /proc/TID/syscall ("NR ARG1..ARG6 SP PC"), or why it
// could not.
func syscallSP(tid int) (uint64, spState) {
	var path [64]byte
	s := append(path[:0], "/proc/"...)
	s = appendInt(s, tid)
	s = append(s, "/syscall\x00"...)
	f, _, e := unix.RawSyscall6(unix.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(&s[0])), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		return 0, spUnreadable
	}
	defer rawClose(int(f))
	var buf [256]byte
	n, e := rawRead(int(f), buf[:])
	if e != 0 || n <= 0 {
		return 0, spUnreadable
	}
	if string(buf[:min(n, len("running"))]) == "running" {
		return 0, spRunning
	}
	sp, ok := parseSyscallSP(buf[:n])
	if !ok {
		return 0, spUnreadable
	}
	return sp, spRead
}

// parseSyscallSP returns the stack pointer of a /proc/TID/syscall line of
// a thread blocked in a system call (nine fields: number, six arguments,
// sp, pc, all but the number in hex with 0x), without allocating: the
// benchmark loop's handled signals read it on every rt_sigreturn while a
// notification gap is recent.
func parseSyscallSP(line []byte) (uint64, bool) {
	var sp []byte
	fields := 0
	for i := 0; i < len(line); {
		for i < len(line) && (line[i] == ' ' || line[i] == '\n') {
			i++
		}
		if i == len(line) {
			break
		}
		start := i
		for i < len(line) && line[i] != ' ' && line[i] != '\n' {
			i++
		}
		if fields == 7 {
			sp = line[start:i]
		}
		fields++
	}
	if fields != 9 {
		return 0, false // "running", or not in a system call
	}
	if len(sp) < 3 || sp[0] != '0' || sp[1] != 'x' || len(sp) > 18 {
		return 0, false
	}
	var v uint64
	for _, c := range sp[2:] {
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | uint64(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}
