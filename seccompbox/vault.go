//go:build linux && amd64

package seccompbox

import (
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A vault is an fd table of the box's own besides its main one, where
// probes (and always-ready eventfds) go once the main table is half full:
// RLIMIT_NOFILE bounds the fd numbers of each fd table, not the files a
// process holds, so the main table's fds stay bounded however many guest
// files are registered, and the box holds 100,000 registrations under the
// 20,000-fd limit of a process without CAP_SYS_RESOURCE.
//
// The vault is a locked OS thread of the supervisor that has unshared its
// fd table (unshare(CLONE_FILES)), closed what it inherited, and sits in
// pause(2), trapped by a seccomp filter of its own whose listener the box
// holds: SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SETFD installs a
// file of the box at a number of the vault's table that the box picks
// (replacing what was there: a release installs the filler), and
// pidfd_getfd takes a copy out for a use. The notification is answered
// only after a release (see release), and the thread pauses again; closing
// the listener ends the pause with ENOSYS, the thread exits, and its
// table, with every file in it, is released.
type vault struct {
	tid      int32
	pidfd    int
	listener int
	exited   chan struct{}

	mu sync.Mutex // guards id, free and next; held across an ADDFD
	// +checklocks:mu
	id uint64 // the thread's pending notification (its pause)
	// +checklocks:mu
	free []int32 // numbers holding the filler
	// +checklocks:mu
	next  int32 // the lowest number never used
	limit int32 // +checklocksignore: not guarded (immutable; the tool guesses from reads under mu)
}

// vaultFilter notifies pause and allows everything else: the vault thread
// makes no other trapped call.
var vaultFilter = []unix.SockFilter{
	{Code: bpfLdWAbs, K: 0}, // seccomp_data.nr
	{Code: bpfJeqK, K: unix.SYS_PAUSE, Jt: 0, Jf: 1},
	{Code: bpfRetK, K: unix.SECCOMP_RET_USER_NOTIF},
	{Code: bpfRetK, K: unix.SECCOMP_RET_ALLOW},
}

// addfdFlagSetfd is SECCOMP_ADDFD_FLAG_SETFD: install at the given number.
const addfdFlagSetfd = 1

// startVault starts a vault whose table takes numbers below limit.
func startVault(limit int) (*vault, unix.Errno) {
	ch := make(chan vaultStarted, 1)
	fetched := make(chan struct{})
	v := &vault{pidfd: -1, listener: -1, exited: make(chan struct{}), limit: int32(limit)}
	go v.thread(ch, fetched)
	s := <-ch
	if s.err != 0 {
		<-v.exited
		return nil, s.err
	}
	v.tid = s.tid
	pidfd, _, e := unix.RawSyscall(unix.SYS_PIDFD_OPEN, uintptr(s.tid), pidfdThread, 0)
	if e == 0 {
		v.pidfd = int(pidfd)
		v.listener, e = pidfdGetfd(v.pidfd, int32(s.listener))
	}
	close(fetched) // the thread closes its copy; alone, that ends its pause
	if e == 0 {
		e = v.recv() // +checklocksignore: v is not shared yet.
	}
	if e != 0 {
		v.stop()
		return nil, e
	}
	return v, 0
}

// vaultStarted is what a vault thread reports once set up.
type vaultStarted struct {
	tid      int32
	listener int
	err      unix.Errno
}

// thread is the vault's goroutine. Its thread is never unlocked: with its
// own table and filter, it ends with the goroutine. It must not be the
// process's main thread, which /proc/self and kcmp by pid name: on that
// one, it keeps the main thread and starts the vault afresh, on another.
func (v *vault) thread(ch chan<- vaultStarted, fetched <-chan struct{}) {
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		relay := make(chan vaultStarted, 1)
		go v.thread(relay, fetched)
		s := <-relay // the new goroutine has its own thread by now
		runtime.UnlockOSThread()
		ch <- s
		return
	}
	defer close(v.exited)
	listener, e := vaultThreadSetup()
	ch <- vaultStarted{int32(unix.Gettid()), listener, e}
	if e != 0 {
		return
	}
	<-fetched
	rawClose(listener)
	for {
		if _, _, e := unix.Syscall(unix.SYS_PAUSE, 0, 0, 0); e == unix.ENOSYS {
			return // the box closed the listener
		}
	}
}

// vaultThreadSetup gives the calling thread a table of its own, empty,
// and a filter that traps pause; it returns the listener (in that table).
func vaultThreadSetup() (int, unix.Errno) {
	if _, _, e := unix.RawSyscall(unix.SYS_UNSHARE, unix.CLONE_FILES, 0, 0); e != 0 {
		return -1, e
	}
	unix.RawSyscall(unix.SYS_CLOSE_RANGE, 0, ^uintptr(0)>>32, 0)
	if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
		return -1, e
	}
	prog := unix.SockFprog{Len: uint16(len(vaultFilter)), Filter: &vaultFilter[0]}
	fd, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, uintptr(unsafe.Pointer(&prog)))
	return int(fd), e
}

// recv takes the vault thread's pending notification (v.mu held, or the
// vault not yet shared).
//
// +checklocks:v.mu
func (v *vault) recv() unix.Errno {
	for {
		var n notif
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(v.listener), ioctlNotifRecv, uintptr(unsafe.Pointer(&n)))
		if e == unix.EINTR {
			continue
		}
		if e == 0 {
			v.id = n.id
		}
		return e
	}
}

// setfd installs fd of the box at number num of the vault. A
// signal to the vault thread ends its notification (pause is made again,
// a new one): the next is received and the install retried. An EINTR (a
// signal to the box's own thread while it waited for the listener's
// lock) is retried at once.
//
// +checklocks:v.mu
func (v *vault) setfd(num int32, fd int) unix.Errno {
	for tries := 0; ; tries++ {
		a := notifAddfd{id: v.id, flags: addfdFlagSetfd, srcfd: uint32(fd), newfd: uint32(num), newfdFlags: unix.O_CLOEXEC}
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(v.listener), ioctlNotifAddfd, uintptr(unsafe.Pointer(&a)))
		if e == unix.EINTR {
			// notify_lock is taken interruptibly (seccomp_notify_addfd):
			// a signal to this thread while it waited did nothing.
			tries--
			continue
		}
		if e != unix.ENOENT || tries == 3 {
			return e
		}
		if e := v.recv(); e != 0 {
			return e
		}
	}
}

// put installs fd of the box in the vault and returns its number there;
// EMFILE when the vault is full.
func (v *vault) put(fd int) (int32, unix.Errno) {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := len(v.free)
	num := v.next
	if n > 0 {
		num = v.free[n-1]
	} else if v.next >= v.limit {
		return -1, unix.EMFILE
	}
	if e := v.setfd(num, fd); e != 0 {
		return -1, e
	}
	if n > 0 {
		v.free = v.free[:n-1]
	} else {
		v.next++
	}
	return num, 0
}

// release drops the vault's file at num, putting filler (an fd of the box)
// in its place. The vault thread drops the file inside the kernel, in its
// seccomp wait, and the last reference's release (fput) runs only when the
// thread returns to user space: until then the file lives on, and a probe
// with it, in the central epoll and in the always-ready eventfd's wakeup
// paths (which Linux bounds: the box's ADDs failed EINVAL). So the pause is
// answered, and the thread, back from it, makes the next one.
func (v *vault) release(num int32, filler int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.setfd(num, filler) != 0 {
		return
	}
	v.free = append(v.free, num)
	if send(v.listener, v.id, 0, 0) == 0 {
		v.recv()
	}
}

// fetch returns a copy, in the box's main table, of the vault's file at
// num; the caller closes it.
func (v *vault) fetch(num int32) (int, unix.Errno) {
	return pidfdGetfd(v.pidfd, num)
}

// full reports whether the vault has no number left.
func (v *vault) full() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.free) == 0 && v.next >= v.limit
}

// stop ends the vault thread (closing the listener ends its pause), which
// releases every file in its table.
func (v *vault) stop() {
	if v.listener >= 0 {
		rawClose(v.listener)
		v.listener = -1
	}
	<-v.exited
	if v.pidfd >= 0 {
		rawClose(v.pidfd)
		v.pidfd = -1
	}
}

// vaultPut moves fd of the box into a vault (closing it in the main
// table), starting a vault when none has room.
func (b *Box) vaultPut(fd int) (*vault, int32, unix.Errno) {
	b.vaultMu.Lock()
	defer b.vaultMu.Unlock()
	var v *vault
	if n := len(b.vaults); n > 0 && !b.vaults[n-1].full() {
		v = b.vaults[n-1]
	} else {
		for _, w := range b.vaults {
			if !w.full() {
				v = w
				break
			}
		}
	}
	if v == nil {
		var e unix.Errno
		if v, e = startVault(b.fdLimit); e != 0 {
			return nil, -1, e
		}
		if b.filler < 0 {
			fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
			if err != nil {
				v.stop()
				return nil, -1, err.(unix.Errno)
			}
			b.filler = fd
		}
		b.vaults = append(b.vaults, v)
	}
	num, e := v.put(fd)
	if e != 0 {
		return nil, -1, e
	}
	rawClose(fd)
	return v, num, 0
}

// vaultRelease drops the vault's file at num.
func (b *Box) vaultRelease(v *vault, num int32) {
	b.vaultMu.Lock()
	filler := b.filler
	b.vaultMu.Unlock()
	v.release(num, filler)
}

// stopVaults ends every vault (at shutdown, after the proxies).
func (b *Box) stopVaults() {
	b.vaultMu.Lock()
	defer b.vaultMu.Unlock()
	for _, v := range b.vaults {
		v.stop()
	}
	b.vaults = nil
	if b.filler >= 0 {
		rawClose(b.filler)
		b.filler = -1
	}
}

// inVault reports whether a probe or always-ready eventfd at fd number fd
// of the main table goes to a vault: once the table is half used, so that
// instances and pidfds keep room.
func (b *Box) inVault(fd int) bool {
	return (fd >= b.slot/2 || b.opts.allVaults) && !b.opts.noVaults
}
