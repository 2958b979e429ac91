package syscalls

import (
	"encoding/binary"
	"math"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
)

// Descriptor-table, limit and clock syscalls.

func init() {
	register(sysClose, hClose)
	register(sysCloseRange, hCloseRange)
	register(sysDup, hDup)
	register(sysDup2, hDup2)
	register(sysDup3, hDup3)
	register(sysFcntl, hFcntl)
	register(sysGetrlimit, hGetrlimit)
	register(sysSetrlimit, hSetrlimit)
	register(sysPrlimit64, hPrlimit64)
	register(sysClockGettime, hClockGettime)
}

func hClose(t *Task, a *[6]uintptr) (uintptr, errno) {
	return 0, errnoOf(t.fds.Close(int32(a[0])))
}

const (
	closeRangeUnshare = 1 << 1
	closeRangeCloexec = 1 << 2
)

func hCloseRange(t *Task, a *[6]uintptr) (uintptr, errno) {
	first, last, flags := uint32(a[0]), uint32(a[1]), uint32(a[2])
	if flags&^(closeRangeUnshare|closeRangeCloexec) != 0 || first > last {
		return 0, unix.EINVAL
	}
	if flags&closeRangeUnshare != 0 {
		t.fds = t.fds.Unshare() // a copy of its own if other tasks share it
	}
	t.fds.CloseRange(first, last, flags&closeRangeCloexec != 0)
	return 0, 0
}

func hDup(t *Task, a *[6]uintptr) (uintptr, errno) {
	n, err := t.fds.Dup(int32(a[0]), false)
	if err != nil {
		return 0, errnoOf(err)
	}
	return uintptr(n), 0
}

func hDup2(t *Task, a *[6]uintptr) (uintptr, errno) {
	n, err := t.fds.Dup2(int32(a[0]), int32(a[1]), false, false)
	if err != nil {
		return 0, errnoOf(err)
	}
	return uintptr(n), 0
}

func hDup3(t *Task, a *[6]uintptr) (uintptr, errno) {
	flags := int32(a[2])
	if flags&^unix.O_CLOEXEC != 0 {
		return 0, unix.EINVAL
	}
	n, err := t.fds.Dup2(int32(a[0]), int32(a[1]), flags != 0, true)
	if err != nil {
		return 0, errnoOf(err)
	}
	return uintptr(n), 0
}

func hFcntl(t *Task, a *[6]uintptr) (uintptr, errno) {
	n, cmd, arg := int32(a[0]), int32(a[1]), a[2]
	f, e := t.getFile(n)
	if e != 0 {
		return 0, e
	}
	defer f.DecRef()
	switch cmd {
	case unix.F_DUPFD, unix.F_DUPFD_CLOEXEC:
		// arg is an unsigned long; the table rejects it at or beyond
		// RLIMIT_NOFILE (EINVAL), which anything above int32 always is.
		if uint64(arg) > math.MaxInt32 {
			return 0, unix.EINVAL
		}
		nfd, err := t.fds.DupFrom(n, int32(arg), cmd == unix.F_DUPFD_CLOEXEC)
		if err != nil {
			return 0, errnoOf(err)
		}
		return uintptr(nfd), 0
	case unix.F_GETFD:
		c, err := t.fds.CloseOnExec(n)
		if err != nil {
			return 0, errnoOf(err)
		}
		if c {
			return unix.FD_CLOEXEC, 0
		}
		return 0, 0
	case unix.F_SETFD:
		return 0, errnoOf(t.fds.SetCloseOnExec(n, arg&unix.FD_CLOEXEC != 0))
	case unix.F_GETFL:
		return uintptr(f.StatusFlags()), 0
	case unix.F_SETFL:
		return 0, errnoOf(f.SetStatusFlags(uint32(arg)))
	case unix.F_SETPIPE_SZ, unix.F_GETPIPE_SZ:
		return pipeFcntl(f, cmd, uint32(arg))
	}
	return 0, unix.EINVAL
}

const (
	rlimNLimits  = 16
	rlimInfinity = math.MaxUint64
)

// getLimit and setLimit serve any resource: RLIMIT_NOFILE is the fd
// table's, the others are remembered per task and enforce nothing.
func (t *Task) getLimit(res uint32) (soft, hard uint64) {
	if res == unix.RLIMIT_NOFILE {
		return t.fds.Limit()
	}
	return t.rlimits[res][0], t.rlimits[res][1]
}

func (t *Task) setLimit(res uint32, soft, hard uint64) errno {
	if soft > hard {
		return unix.EINVAL
	}
	if res == unix.RLIMIT_NOFILE {
		return errnoOf(t.fds.SetLimit(soft, hard))
	}
	t.rlimits[res] = [2]uint64{soft, hard}
	return 0
}

func (t *Task) putRlimit(addr uint64, soft, hard uint64) errno {
	b := t.small[:16]
	binary.LittleEndian.PutUint64(b, soft)
	binary.LittleEndian.PutUint64(b[8:], hard)
	return t.copyOut(addr, b)
}

func hGetrlimit(t *Task, a *[6]uintptr) (uintptr, errno) {
	res := uint32(a[0])
	if res >= rlimNLimits {
		return 0, unix.EINVAL
	}
	soft, hard := t.getLimit(res)
	return 0, t.putRlimit(uint64(a[1]), soft, hard)
}

func hSetrlimit(t *Task, a *[6]uintptr) (uintptr, errno) {
	res := uint32(a[0])
	b := t.small[:16]
	if e := t.copyIn(uint64(a[1]), b); e != 0 {
		return 0, e
	}
	if res >= rlimNLimits {
		return 0, unix.EINVAL
	}
	return 0, t.setLimit(res, binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:]))
}

// hPrlimit64 serves the calling process only (pid 0 or the model's pid 1);
// anything else is ESRCH.
func hPrlimit64(t *Task, a *[6]uintptr) (uintptr, errno) {
	pid, res, newp, oldp := int32(a[0]), uint32(a[1]), uint64(a[2]), uint64(a[3])
	var ns, nh uint64
	if newp != 0 {
		b := t.small[:16]
		if e := t.copyIn(newp, b); e != 0 {
			return 0, e
		}
		ns, nh = binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
	}
	if pid != 0 && pid != 1 {
		return 0, unix.ESRCH
	}
	if res >= rlimNLimits {
		return 0, unix.EINVAL
	}
	os, oh := t.getLimit(res)
	if newp != 0 {
		if e := t.setLimit(res, ns, nh); e != 0 {
			return 0, e
		}
	}
	if oldp != 0 {
		return 0, t.putRlimit(oldp, os, oh)
	}
	return 0, 0
}

// Clocks served by clock_gettime: the coarse and raw variants read their
// base clocks.
const (
	clockMonotonicRaw    = 4
	clockRealtimeCoarse  = 5
	clockMonotonicCoarse = 6
)

// Now returns the time of a clock in nanoseconds, as clock_gettime reports
// it; ok is false for a clock the model does not serve (EINVAL).
func (k *Kernel) Now(clock int32) (ns int64, ok bool) {
	switch clock {
	case unix.CLOCK_REALTIME, clockRealtimeCoarse:
		return k.clock.Now(unix.CLOCK_REALTIME), true
	case unix.CLOCK_MONOTONIC, clockMonotonicRaw, clockMonotonicCoarse:
		return k.clock.Now(unix.CLOCK_MONOTONIC), true
	case unix.CLOCK_BOOTTIME:
		return k.clock.Now(unix.CLOCK_BOOTTIME), true
	}
	return 0, false
}

func hClockGettime(t *Task, a *[6]uintptr) (uintptr, errno) {
	ns, ok := t.k.Now(int32(a[0]))
	if !ok {
		return 0, unix.EINVAL
	}
	b := t.small[:16]
	putTimespec(b, ns)
	return 0, t.copyOut(uint64(a[1]), b)
}

// pipeFcntl is pipe_fcntl: EBADF for a file that is not a pipe; the size
// argument is an unsigned int.
func pipeFcntl(f *fs.File, cmd int32, size uint32) (uintptr, errno) {
	p, ok := f.Impl().(fs.PipeSizer)
	if !ok {
		return 0, unix.EBADF
	}
	if cmd == unix.F_GETPIPE_SZ {
		return uintptr(p.PipeSize()), 0
	}
	n, err := p.SetPipeSize(size)
	if err != nil {
		return 0, fileErrno(f, err)
	}
	return uintptr(n), 0
}
