package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// rt_sigprocmask, kill, tkill, tgkill, getpid, gettid, getppid.

func init() {
	register(sysRtSigprocmask, hRtSigprocmask)
	register(sysKill, hKill)
	register(sysTkill, hTkill)
	register(sysTgkill, hTgkill)
	register(sysGetpid, func(t *Task, _ *[6]uintptr) (uintptr, errno) { return uintptr(t.proc.pid), 0 })
	register(sysGettid, func(t *Task, _ *[6]uintptr) (uintptr, errno) { return uintptr(t.tid), 0 })
	register(sysGetppid, hGetppid)
}

// hRtSigprocmask is rt_sigprocmask(how, set, oldset, sigsetsize), in
// Linux's order: sigsetsize (EINVAL); then, only with a set, its copy-in
// (EFAULT) and how (EINVAL); then the old mask's copy-out (EFAULT), which
// comes after the change.
func hRtSigprocmask(t *Task, a *[6]uintptr) (uintptr, errno) {
	how, setAddr, oldAddr := int(int32(a[0])), uint64(a[1]), uint64(a[2])
	if a[3] != sigsetSize {
		return 0, unix.EINVAL
	}
	old := t.SignalMask()
	if setAddr != 0 {
		var b [8]byte
		if e := t.copyIn(setAddr, b[:]); e != 0 {
			return 0, e
		}
		set := binary.LittleEndian.Uint64(b[:])
		switch how {
		case unix.SIG_BLOCK:
			t.SetSignalMask(old | set)
		case unix.SIG_UNBLOCK:
			t.SetSignalMask(old &^ set)
		case unix.SIG_SETMASK:
			t.SetSignalMask(set)
		default:
			return 0, unix.EINVAL
		}
	}
	if oldAddr != 0 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], old)
		if e := t.copyOut(oldAddr, b[:]); e != 0 {
			return 0, e
		}
	}
	return 0, 0
}

// validSignal is Linux's valid_signal for a signal to send (0 checks only).
func validSignal(sig int) bool { return sig >= 0 && sig <= 64 }

// hKill is kill(pid, sig): pid > 0 one process, 0 the caller's process
// group, -1 every process but the caller's (and init, which the model has
// not), < -1 the group -pid. The model's processes are one group, named
// by the pid of its first process. The target is looked up first (ESRCH),
// then the signal checked (EINVAL), as kill_pid_info then
// check_kill_permission do; signal 0 only checks.
func hKill(t *Task, a *[6]uintptr) (uintptr, errno) {
	pid, sig := int32(a[0]), int(int32(a[1]))
	if pid > 0 {
		p := t.k.processOfID(pid)
		if p == nil {
			return 0, unix.ESRCH
		}
		if !validSignal(sig) {
			return 0, unix.EINVAL
		}
		p.send(sig)
		return 0, 0
	}
	if !validSignal(sig) {
		return 0, unix.EINVAL
	}
	if pid == -2147483648 { // INT_MIN: -pid overflows
		return 0, unix.ESRCH
	}
	targets := t.k.groupTargets(t.proc, pid)
	if len(targets) == 0 {
		return 0, unix.ESRCH
	}
	for _, p := range targets {
		p.send(sig)
	}
	return 0, 0
}

// send is kill's delivery to p: nothing for signal 0, Kill for SIGKILL,
// else Signal.
func (p *Process) send(sig int) {
	switch sig {
	case 0:
	case int(unix.SIGKILL):
		p.Kill(sig)
	default:
		p.Signal(sig)
	}
}

// processOfID returns the process with pid id, or the process of thread
// id (kill of a thread's id signals its process, as kill_pid_info does).
func (k *Kernel) processOfID(id int32) *Process {
	pt := &k.procs
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if p := pt.procs[id]; p != nil {
		return p
	}
	if t := pt.threads[id]; t != nil {
		return t.proc
	}
	return nil
}

// groupTargets returns the running processes kill(pid <= 0) reaches.
func (k *Kernel) groupTargets(self *Process, pid int32) []*Process {
	pt := &k.procs
	pt.mu.Lock()
	defer pt.mu.Unlock()
	group := int32(firstPid)
	if pid < -1 && -pid != group {
		return nil
	}
	var out []*Process
	for _, p := range pt.procs {
		if pid == -1 && p == self {
			continue
		}
		out = append(out, p)
	}
	if pid == -1 && len(out) == 0 {
		return nil
	}
	return out
}

// hTkill is tkill(tid, sig).
func hTkill(t *Task, a *[6]uintptr) (uintptr, errno) {
	tid, sig := int32(a[0]), int(int32(a[1]))
	if tid <= 0 {
		return 0, unix.EINVAL
	}
	return t.k.sendToThread(0, tid, sig)
}

// hTgkill is tgkill(tgid, tid, sig): ids ≤ 0 EINVAL, a thread not in
// tgid ESRCH, then an invalid signal EINVAL (do_send_specific).
func hTgkill(t *Task, a *[6]uintptr) (uintptr, errno) {
	tgid, tid, sig := int32(a[0]), int32(a[1]), int(int32(a[2]))
	if tgid <= 0 || tid <= 0 {
		return 0, unix.EINVAL
	}
	return t.k.sendToThread(tgid, tid, sig)
}

// sendToThread sends sig to thread tid (of process tgid unless 0).
func (k *Kernel) sendToThread(tgid, tid int32, sig int) (uintptr, errno) {
	k.procs.mu.Lock()
	target := k.procs.threads[tid]
	k.procs.mu.Unlock()
	if target == nil || tgid != 0 && target.proc.pid != tgid {
		return 0, unix.ESRCH
	}
	if !validSignal(sig) {
		return 0, unix.EINVAL
	}
	switch sig {
	case 0:
	case int(unix.SIGKILL): // fatal to the whole process
		target.proc.Kill(sig)
	default:
		target.SendSignal(sig)
	}
	return 0, 0
}

// hGetppid is getppid: the parent's pid, or 0 without a parent (the
// model's stand-in for init's, which is outside its pid namespace).
func hGetppid(t *Task, _ *[6]uintptr) (uintptr, errno) {
	if p := t.proc.Parent(); p != nil {
		return uintptr(p.pid), 0
	}
	return 0, 0
}
