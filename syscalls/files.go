package syscalls

import (
	"encoding/binary"
	"math"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
)

// Syscalls that create files of the kernel/fs types: pipes, eventfds,
// AF_UNIX sockets, timerfds, memfds (regular files).

func init() {
	register(sysPipe, hPipe)
	register(sysPipe2, hPipe2)
	register(sysEventfd, hEventfd)
	register(sysEventfd2, hEventfd2)
	register(sysSocket, hSocket)
	register(sysSocketpair, hSocketpair)
	register(sysShutdown, hShutdown)
	register(sysTimerfdCreate, hTimerfdCreate)
	register(sysTimerfdSettime, hTimerfdSettime)
	register(sysTimerfdGettime, hTimerfdGettime)
	register(sysMemfdCreate, hMemfdCreate)
}

// reservePair reserves two fd numbers (EMFILE), as pipe2 and socketpair do
// before they copy the numbers out.
func (t *Task) reservePair() (a, b int32, e errno) {
	a, err := t.fds.Reserve()
	if err != nil {
		return -1, -1, errnoOf(err)
	}
	b, err = t.fds.Reserve()
	if err != nil {
		t.fds.Unreserve(a)
		return -1, -1, errnoOf(err)
	}
	return a, b, 0
}

func (t *Task) unreservePair(a, b int32) {
	t.fds.Unreserve(a)
	t.fds.Unreserve(b)
}

func (t *Task) install(f *fs.File, cloexec bool) (uintptr, errno) {
	n, err := t.fds.Install(f, 0, cloexec)
	if err != nil {
		f.DecRef()
		return 0, errnoOf(err)
	}
	return uintptr(n), 0
}

const oNotificationPipe = unix.O_EXCL // O_NOTIFICATION_PIPE (unsupported: ENOPKG without CONFIG_WATCH_QUEUE)

func hPipe(t *Task, a *[6]uintptr) (uintptr, errno) {
	return t.pipe2(uint64(a[0]), 0)
}

func hPipe2(t *Task, a *[6]uintptr) (uintptr, errno) {
	return t.pipe2(uint64(a[0]), uint32(a[1]))
}

func (t *Task) pipe2(addr uint64, flags uint32) (uintptr, errno) {
	if flags&^uint32(unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_DIRECT|oNotificationPipe) != 0 {
		return 0, unix.EINVAL
	}
	if flags&oNotificationPipe != 0 {
		return 0, unix.ENOPKG
	}
	// do_pipe2: create the files, reserve both numbers, copy them out as
	// one int[2], and install only when all of that succeeded.
	r, w, err := t.k.files().Pipe(flags & (unix.O_NONBLOCK | unix.O_DIRECT))
	if err != nil {
		return 0, t.k.creatorErrno(err)
	}
	fr, fw, e := t.reservePair()
	if e == 0 {
		buf := t.small[:8]
		binary.LittleEndian.PutUint32(buf, uint32(fr))
		binary.LittleEndian.PutUint32(buf[4:], uint32(fw))
		if e = t.copyOut(addr, buf); e != 0 {
			t.unreservePair(fr, fw)
		}
	}
	if e != 0 {
		r.DecRef()
		w.DecRef()
		return 0, e
	}
	cloexec := flags&unix.O_CLOEXEC != 0
	t.fds.InstallReserved(fr, r, cloexec)
	t.fds.InstallReserved(fw, w, cloexec)
	return 0, 0
}

func hEventfd(t *Task, a *[6]uintptr) (uintptr, errno) {
	return t.eventfd2(uint32(a[0]), 0)
}

func hEventfd2(t *Task, a *[6]uintptr) (uintptr, errno) {
	return t.eventfd2(uint32(a[0]), uint32(a[1]))
}

func (t *Task) eventfd2(initval, flags uint32) (uintptr, errno) {
	if flags&^uint32(unix.EFD_CLOEXEC|unix.EFD_NONBLOCK|unix.EFD_SEMAPHORE) != 0 {
		return 0, unix.EINVAL
	}
	f, err := t.k.files().Eventfd(uint64(initval), flags&(unix.O_NONBLOCK|fs.EFDSemaphore))
	if err != nil {
		return 0, t.k.creatorErrno(err)
	}
	return t.install(f, flags&unix.EFD_CLOEXEC != 0)
}

const (
	nproto       = 46 // NPROTO (AF_MAX)
	sockTypeMask = 0xf
	sockMax      = 11
)

// sockArgs is the common part of socket and socketpair: flag bits EINVAL,
// family EAFNOSUPPORT, type EINVAL, non-AF_UNIX EAFNOSUPPORT, protocol
// EPROTONOSUPPORT. It returns the type and the O_ flags.
func sockArgs(domain, typArg, proto int32) (int, uint32, errno) {
	flags := uint32(typArg) & (unix.SOCK_CLOEXEC | unix.SOCK_NONBLOCK)
	if uint32(typArg)&^uint32(sockTypeMask|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK) != 0 {
		return 0, 0, unix.EINVAL
	}
	typ := int(typArg & sockTypeMask)
	if domain < 0 || domain >= nproto {
		return 0, 0, unix.EAFNOSUPPORT
	}
	if typ >= sockMax {
		return 0, 0, unix.EINVAL
	}
	if domain != unix.AF_UNIX {
		return 0, 0, unix.EAFNOSUPPORT
	}
	if proto != 0 && proto != unix.AF_UNIX {
		return 0, 0, unix.EPROTONOSUPPORT
	}
	return typ, flags, 0
}

func hSocket(t *Task, a *[6]uintptr) (uintptr, errno) {
	typ, flags, e := sockArgs(int32(a[0]), int32(a[1]), int32(a[2]))
	if e != 0 {
		return 0, e
	}
	f, err := t.k.files().Socket(typ, flags&unix.O_NONBLOCK)
	if err != nil {
		return 0, t.k.creatorErrno(err)
	}
	return t.install(f, flags&unix.O_CLOEXEC != 0)
}

// hSocketpair follows __sys_socketpair's order: the flag bits (EINVAL),
// then two fd numbers are reserved (EMFILE) and stored one at a time (a
// fault on the second leaves the first written: EFAULT), and only then are
// family, type and protocol checked and the sockets made.
func hSocketpair(t *Task, a *[6]uintptr) (uintptr, errno) {
	if uint32(a[1])&^uint32(sockTypeMask|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK) != 0 {
		return 0, unix.EINVAL
	}
	fx, fy, e := t.reservePair()
	if e != 0 {
		return 0, e
	}
	vec := uint64(a[3])
	buf := t.small[:4]
	binary.LittleEndian.PutUint32(buf, uint32(fx))
	if e = t.copyOut(vec, buf); e == 0 {
		binary.LittleEndian.PutUint32(buf, uint32(fy))
		e = t.copyOut(vec+4, buf)
	}
	var typ int
	var flags uint32
	if e == 0 {
		typ, flags, e = sockArgs(int32(a[0]), int32(a[1]), int32(a[2]))
	}
	var x, y *fs.File
	if e == 0 {
		var err error
		x, y, err = t.k.files().SocketPair(typ, flags&unix.O_NONBLOCK)
		e = t.k.creatorErrno(err)
	}
	if e != 0 {
		t.unreservePair(fx, fy)
		return 0, e
	}
	cloexec := flags&unix.O_CLOEXEC != 0
	t.fds.InstallReserved(fx, x, cloexec)
	t.fds.InstallReserved(fy, y, cloexec)
	return 0, 0
}

func hShutdown(t *Task, a *[6]uintptr) (uintptr, errno) {
	f, e := t.getFile(int32(a[0]))
	if e != 0 {
		return 0, e
	}
	defer f.DecRef()
	s, ok := f.Impl().(fs.Shutdowner)
	if !ok {
		return 0, unix.ENOTSOCK
	}
	return 0, fileErrno(f, s.Shutdown(f, int(int32(a[1]))))
}

func hTimerfdCreate(t *Task, a *[6]uintptr) (uintptr, errno) {
	clockID, flags := int32(a[0]), uint32(int32(a[1]))
	if flags&^uint32(unix.TFD_CLOEXEC|unix.TFD_NONBLOCK) != 0 {
		return 0, unix.EINVAL
	}
	f, err := t.k.files().Timerfd(t.k.clock, clockID, flags&unix.O_NONBLOCK)
	if err != nil {
		return 0, t.k.creatorErrno(err)
	}
	return t.install(f, flags&unix.TFD_CLOEXEC != 0)
}

// timespecNs converts a validated timespec to nanoseconds, saturating.
func timespecNs(sec, nsec int64) int64 {
	if sec > (math.MaxInt64-nsec)/1e9 {
		return math.MaxInt64
	}
	return sec*1e9 + nsec
}

func putTimespec(b []byte, ns int64) {
	binary.LittleEndian.PutUint64(b, uint64(ns/1e9))
	binary.LittleEndian.PutUint64(b[8:], uint64(ns%1e9))
}

// timerFile returns fd's timerfd: EBADF, or EINVAL when it is not one.
func (t *Task) timerFile(n int32) (*fs.File, fs.TimerFile, errno) {
	f, e := t.getFile(n)
	if e != 0 {
		return nil, nil, e
	}
	tf, ok := f.Impl().(fs.TimerFile)
	if !ok {
		f.DecRef()
		return nil, nil, unix.EINVAL
	}
	return f, tf, 0
}

func hTimerfdSettime(t *Task, a *[6]uintptr) (uintptr, errno) {
	n, flags, newp, oldp := int32(a[0]), uint32(int32(a[1])), uint64(a[2]), uint64(a[3])
	b := t.small[:32]
	if e := t.copyIn(newp, b); e != 0 {
		return 0, e
	}
	var v [4]int64
	for i := range v {
		v[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
	}
	if flags&^uint32(fs.TFDTimerAbstime|fs.TFDTimerCancelOnSet) != 0 {
		return 0, unix.EINVAL
	}
	for i := 0; i < 4; i += 2 {
		if v[i] < 0 || v[i+1] < 0 || v[i+1] > 999999999 {
			return 0, unix.EINVAL
		}
	}
	f, tf, e := t.timerFile(n)
	if e != 0 {
		return 0, e
	}
	defer f.DecRef()
	oldV, oldI, err := tf.SetTime(f, flags, timespecNs(v[2], v[3]), timespecNs(v[0], v[1]))
	if err != nil {
		return 0, errnoOf(err)
	}
	if oldp != 0 {
		putTimespec(b, oldI)
		putTimespec(b[16:], oldV)
		return 0, t.copyOut(oldp, b)
	}
	return 0, 0
}

func hTimerfdGettime(t *Task, a *[6]uintptr) (uintptr, errno) {
	f, tf, e := t.timerFile(int32(a[0]))
	if e != 0 {
		return 0, e
	}
	defer f.DecRef()
	v, i := tf.GetTime(f)
	b := t.small[:32]
	putTimespec(b, i)
	putTimespec(b[16:], v)
	return 0, t.copyOut(uint64(a[1]), b)
}

const (
	mfdCloexec      = 0x1
	mfdAllowSealing = 0x2
	mfdHugetlb      = 0x4
	mfdNoexecSeal   = 0x8
	mfdExec         = 0x10
	mfdNameMax      = 249 // NAME_MAX - strlen("memfd:")
)

func hMemfdCreate(t *Task, a *[6]uintptr) (uintptr, errno) {
	name, flags := uint64(a[0]), uint32(a[1])
	if flags&^uint32(mfdCloexec|mfdAllowSealing|mfdHugetlb|mfdNoexecSeal|mfdExec|0x3f<<26) != 0 {
		return 0, unix.EINVAL
	}
	if flags&mfdHugetlb == 0 && flags&(0x3f<<26) != 0 {
		return 0, unix.EINVAL
	}
	if flags&mfdExec != 0 && flags&mfdNoexecSeal != 0 {
		return 0, unix.EINVAL
	}
	// strnlen_user: the name, NUL included, must fit in mfdNameMax+1.
	b := t.small[:1]
	for i := uint64(0); ; i++ {
		if i > mfdNameMax {
			return 0, unix.EINVAL
		}
		if e := t.copyIn(name+i, b); e != 0 {
			return 0, e
		}
		if b[0] == 0 {
			break
		}
	}
	if flags&mfdHugetlb != 0 {
		return 0, unix.EINVAL // no hugetlbfs in the model
	}
	return t.install(fs.NewRegular(0), flags&mfdCloexec != 0)
}
