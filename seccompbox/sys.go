//go:build linux && amd64

package seccompbox

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The seccomp user-notification ABI (x86-64 uapi).

// notif is struct seccomp_notif.
type notif struct {
	id    uint64
	pid   uint32
	flags uint32
	// struct seccomp_data
	nr   int32
	arch uint32
	ip   uint64
	args [6]uint64
}

// notifResp is struct seccomp_notif_resp.
type notifResp struct {
	id    uint64
	val   int64
	error int32
	flags uint32
}

// notifAddfd is struct seccomp_notif_addfd.
type notifAddfd struct {
	id         uint64
	flags      uint32
	srcfd      uint32
	newfd      uint32
	newfdFlags uint32
}

const (
	ioctlNotifRecv     = 0xc0502100
	ioctlNotifSend     = 0xc0182101
	ioctlNotifIDValid  = 0x40082102
	ioctlNotifAddfd    = 0x40182103
	ioctlNotifSetFlags = 0x40082104 // _IOW('!', 4, __u64): the flags go by value

	notifFlagContinue = 1 // SECCOMP_USER_NOTIF_FLAG_CONTINUE
	addfdFlagSend     = 2 // SECCOMP_ADDFD_FLAG_SEND
	notifFDSyncWakeUp = 1 // SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP

	auditArchX8664 = 0xc000003e
	x32SyscallBit  = 0x40000000

	pidfdThread  = 0x80 // PIDFD_THREAD (6.9+)
	kcmpFile     = 0    // KCMP_FILE
	kcmpEpollTFD = 7    // KCMP_EPOLL_TFD
)

// The system calls the filter traps.
var (
	epollNrs = []uint32{unix.SYS_EPOLL_CREATE, unix.SYS_EPOLL_CREATE1, unix.SYS_EPOLL_CTL,
		unix.SYS_EPOLL_WAIT, unix.SYS_EPOLL_PWAIT, unix.SYS_EPOLL_PWAIT2}
	pollNrs = []uint32{unix.SYS_POLL, unix.SYS_PPOLL, unix.SYS_SELECT, unix.SYS_PSELECT6}
	// rt_sigreturn is trapped so that the box sees how a handler leaves
	// an interrupted call (sigreturn.go).
	sigreturnNr = uint32(unix.SYS_RT_SIGRETURN)
)

// enosysNrs are the system calls the filter answers ENOSYS itself. An
// io_uring's operations reach the kernel without a system call the filter
// sees (IORING_OP_EPOLL_CTL registers a file in a guest epoll fd, which is
// the box's placeholder, and the model would never learn of it), so the
// guest gets no io_uring: programs that try it first (libuv) fall back to
// epoll on ENOSYS, as on a kernel built without it.
var enosysNrs = []uint32{unix.SYS_IO_URING_SETUP}

// BPF instruction classes and fields used by the filter.
const (
	bpfLdWAbs = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	bpfJeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	bpfJgeK   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	bpfRetK   = unix.BPF_RET | unix.BPF_K
)

// filterProgram builds the cBPF program: kill any other arch and x32
// numbers, send nrs to the listener, answer enosys with ENOSYS, allow
// everything else.
func filterProgram(nrs, enosys []uint32) []unix.SockFilter {
	n, m := len(nrs), len(enosys)
	// The four returns follow the 4+n+m tests: allow, notify, ENOSYS, kill.
	// A jump's offset counts from the instruction after it.
	const retNotify, retENOSYS, retKill = 1, 2, 3
	jump := func(from, ret int) uint8 { return uint8(4 + n + m + ret - (from + 1)) }
	p := []unix.SockFilter{
		{Code: bpfLdWAbs, K: 4}, // seccomp_data.arch
		// arch ok: fall through; otherwise kill.
		{Code: bpfJeqK, K: auditArchX8664, Jt: 0, Jf: jump(1, retKill)},
		{Code: bpfLdWAbs, K: 0}, // seccomp_data.nr
		{Code: bpfJgeK, K: x32SyscallBit, Jt: jump(3, retKill), Jf: 0},
	}
	for i, nr := range nrs {
		p = append(p, unix.SockFilter{Code: bpfJeqK, K: nr, Jt: jump(4+i, retNotify), Jf: 0})
	}
	for i, nr := range enosys {
		p = append(p, unix.SockFilter{Code: bpfJeqK, K: nr, Jt: jump(4+n+i, retENOSYS), Jf: 0})
	}
	return append(p,
		unix.SockFilter{Code: bpfRetK, K: unix.SECCOMP_RET_ALLOW},
		unix.SockFilter{Code: bpfRetK, K: unix.SECCOMP_RET_USER_NOTIF},
		unix.SockFilter{Code: bpfRetK, K: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		unix.SockFilter{Code: bpfRetK, K: unix.SECCOMP_RET_KILL_PROCESS},
	)
}

func ioctlPtr(fd int, req uintptr, p unsafe.Pointer) unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(p))
	return e
}

// lockedIoctl makes listener ioctl req, one that takes the filter's
// notify_lock with mutex_lock_interruptible (seccomp_notify_send,
// seccomp_notify_id_valid): a signal to the calling thread while another
// holds the lock (a guest thread queueing a notification, a worker's
// answer) fails it with EINTR before it did anything, which is neither
// the notification withdrawn (ENOENT) nor answered. It is made again.
func lockedIoctl(listener int, req uintptr, p unsafe.Pointer) unix.Errno {
	for {
		e := unix.EINTR
		if h := injectEINTR.Load(); h == nil || !(*h)(req) {
			e = ioctlPtr(listener, req, p)
		}
		if e != unix.EINTR {
			return e
		}
	}
}

// injectEINTR, for tests, makes lockedIoctl's attempt fail with EINTR
// when it returns true (what the kernel answers a signalled thread that
// waited for notify_lock), without making the ioctl.
var injectEINTR atomic.Pointer[func(req uintptr) bool]

// notifIDValid reports whether notification id is still pending (its
// thread has not been interrupted out of it).
func notifIDValid(listener int, id uint64) bool {
	return lockedIoctl(listener, ioctlNotifIDValid, unsafe.Pointer(&id)) == 0
}

// send answers notification id with val or errno e.
func send(listener int, id uint64, val int64, e unix.Errno) unix.Errno {
	r := notifResp{id: id, val: val, error: -int32(e)}
	if e != 0 {
		r.val = 0
	}
	return lockedIoctl(listener, ioctlNotifSend, unsafe.Pointer(&r))
}

// sendAnswer answers notification id of the box's guest (send), and with
// Options.answersDropped reports an answer refused for a thread that left
// the call as sent.
func (b *Box) sendAnswer(id uint64, val int64, e unix.Errno) unix.Errno {
	r := send(b.listener, id, val, e)
	if r == unix.ENOENT && b.opts.answersDropped {
		return 0
	}
	return r
}

// continueGuest is sendContinue for the box's guest, with
// Options.answersDropped as in sendAnswer.
func (b *Box) continueGuest(id uint64) unix.Errno {
	r := sendContinue(b.listener, id)
	if r == unix.ENOENT && b.opts.answersDropped {
		return 0
	}
	return r
}

// sendContinue lets the kernel run the trapped system call itself.
func sendContinue(listener int, id uint64) unix.Errno {
	r := notifResp{id: id, flags: notifFlagContinue}
	return lockedIoctl(listener, ioctlNotifSend, unsafe.Pointer(&r))
}

// addfdSend installs srcfd in the notifying process and answers the
// notification with its number, in one step. The caller's goroutine must
// be locked to its OS thread.
//
// The ioctl marks the notification answered before it waits for the
// target to install the fd, and waits interruptibly: a signal to this
// thread meanwhile (the Go runtime's preemption signal, for one) withdraws
// the fd but leaves the notification answered with 0, so the guest's
// epoll_create returns 0, an fd it never got. Every signal is therefore
// blocked on this thread for the duration of the ioctl.
func addfdSend(listener int, id uint64, srcfd int, cloexec bool) (int, unix.Errno) {
	return addfd(listener, id, srcfd, cloexec, addfdFlagSend)
}

// addfd installs srcfd in the notifying process, answering the
// notification too when flags has addfdFlagSend; see addfdSend.
func addfd(listener int, id uint64, srcfd int, cloexec bool, flags uint32) (int, unix.Errno) {
	a := notifAddfd{id: id, flags: flags, srcfd: uint32(srcfd)}
	if cloexec {
		a.newfdFlags = unix.O_CLOEXEC
	}
	all, old := ^uint64(0), uint64(0)
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&all)), uintptr(unsafe.Pointer(&old)), 8, 0, 0)
	r, _, e := unix.RawSyscall(unix.SYS_IOCTL, uintptr(listener), ioctlNotifAddfd, uintptr(unsafe.Pointer(&a)))
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	return int(r), e
}

// pidfdGetfd duplicates fd of the thread behind pidfd into this process
// (close-on-exec).
func pidfdGetfd(pidfd int, fd int32) (int, unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_PIDFD_GETFD, uintptr(pidfd), uintptr(fd), 0)
	return int(r), e
}

func rawClose(fd int) {
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

func rawDup3(old, new int) unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_DUP3, uintptr(old), uintptr(new), unix.O_CLOEXEC)
	return e
}

func rawEpollCtl(ep, op, fd int, events uint32, data uint64) unix.Errno {
	var ev [12]byte // packed struct epoll_event
	*(*uint32)(unsafe.Pointer(&ev[0])) = events
	*(*uint64)(unsafe.Pointer(&ev[4])) = data
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(ep), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(&ev[0])), 0, 0)
	return e
}

// hostEpollEvent is one packed struct epoll_event.
type hostEpollEvent struct {
	events uint32
	data   [2]uint32 // unaligned u64, little-endian halves
}

func (e *hostEpollEvent) u64() uint64 { return uint64(e.data[0]) | uint64(e.data[1])<<32 }

func rawRead(fd int, b []byte) (int, unix.Errno) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(n), e
}

func rawWrite(fd int, b []byte) (int, unix.Errno) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(n), e
}

// kcmpEpollSlot is struct kcmp_epoll_slot.
type kcmpEpollSlot struct{ efd, tfd, toff uint32 }

var selfPid = unix.Getpid()

// isEpollItem reports whether guest fd num of thread tid is the file that
// the box's epoll efd holds an item for under fd number tfd (kcmp with
// KCMP_EPOLL_TFD): an identity check in one system call, with no
// duplicate of the guest's fd. It is false on any error (no such fd or
// item, or a kernel without kcmp), and the caller then checks the slow
// way.
func isEpollItem(tid, num int32, efd, tfd int) bool {
	return isEpollItemOf(tid, num, int32(selfPid), efd, tfd)
}

// isEpollItemOf is isEpollItem for an epoll at fd efd of task owner (a
// vault thread's table).
func isEpollItemOf(tid, num, owner int32, efd, tfd int) bool {
	slot := kcmpEpollSlot{efd: uint32(efd), tfd: uint32(tfd)}
	r, _, e := unix.RawSyscall6(unix.SYS_KCMP, uintptr(tid), uintptr(owner), kcmpEpollTFD,
		uintptr(num), uintptr(unsafe.Pointer(&slot)), 0)
	return e == 0 && r == 0
}
