package syscalls

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// Epoll syscalls (docs/semantics.md#create, #ctl-order, #wait).

const (
	epollCtlAdd = 1
	epollCtlDel = 2
	epollCtlMod = 3
	sigsetSize  = 8
)

func init() {
	register(sysEpollCreate, hEpollCreate)
	register(sysEpollCreate1, hEpollCreate1)
	register(sysEpollCtl, hEpollCtl)
	register(sysEpollWait, hEpollWait)
	register(sysEpollPwait, hEpollPwait)
	register(sysEpollPwait2, hEpollPwait2)
}

func hEpollCreate(t *Task, a *[6]uintptr) (uintptr, errno) {
	if int32(a[0]) <= 0 {
		return 0, unix.EINVAL
	}
	return t.epollCreate(0)
}

func hEpollCreate1(t *Task, a *[6]uintptr) (uintptr, errno) {
	if int32(a[0])&^unix.EPOLL_CLOEXEC != 0 {
		return 0, unix.EINVAL
	}
	return t.epollCreate(int32(a[0]))
}

func (t *Task) epollCreate(flags int32) (uintptr, errno) {
	f := epoll.NewFile(t.k.epoll)
	n, err := t.fds.Install(f, 0, flags&unix.EPOLL_CLOEXEC != 0)
	if err != nil {
		f.DecRef()
		return 0, errnoOf(err)
	}
	return uintptr(n), 0
}

// decodeEvent reads a struct epoll_event in the task's layout.
func (t *Task) decodeEvent(b []byte) (waiter.EventMask, uint64) {
	ev := binary.LittleEndian.Uint32(b)
	off := t.arch.eventDataOffset()
	return waiter.EventMask(ev), binary.LittleEndian.Uint64(b[off:])
}

func hEpollCtl(t *Task, a *[6]uintptr) (uintptr, errno) {
	epfd, op, tfd, evp := int32(a[0]), int32(a[1]), int32(a[2]), uint64(a[3])
	var events waiter.EventMask
	var data uint64
	if op != epollCtlDel {
		b := t.small[:t.arch.EventSize()]
		if e := t.copyIn(evp, b); e != 0 {
			return 0, e
		}
		events, data = t.decodeEvent(b)
	}
	epf, e := t.getFile(epfd)
	if e != 0 {
		return 0, e
	}
	defer epf.DecRef()
	tf, e := t.getFile(tfd)
	if e != 0 {
		return 0, e
	}
	defer tf.DecRef()
	if tf.Pollable() == nil {
		return 0, unix.EPERM
	}
	ep, ok := epoll.FromFile(epf)
	if tf == epf || !ok {
		return 0, unix.EINVAL
	}
	id := epoll.FileIdentifier{File: tf, Fd: tfd}
	var err error
	switch op {
	case epollCtlAdd:
		err = ep.AddFor(t, id, events, data)
	case epollCtlDel:
		err = ep.Delete(id)
	case epollCtlMod:
		err = ep.ModifyFor(t, id, events, data)
	default:
		err = unix.EINVAL
	}
	return 0, errnoOf(err)
}

func hEpollWait(t *Task, a *[6]uintptr) (uintptr, errno) {
	return t.epollWait(a, msDeadline(int32(a[3])))
}

func hEpollPwait(t *Task, a *[6]uintptr) (uintptr, errno) {
	return t.epollPwait(a, msDeadline(int32(a[3])))
}

func hEpollPwait2(t *Task, a *[6]uintptr) (uintptr, errno) {
	dl := waitDeadline{}
	if tsp := uint64(a[3]); tsp != 0 {
		var e errno
		if dl, e = t.copyTimeout(tsp); e != 0 {
			return 0, e
		}
	}
	return t.epollPwait(a, dl)
}

// waitDeadline is a timeout turned into what epoll.Wait takes.
type waitDeadline struct {
	at          time.Time // zero: none
	nonblocking bool
}

func msDeadline(ms int32) waitDeadline {
	switch {
	case ms < 0:
		return waitDeadline{}
	case ms == 0:
		return waitDeadline{nonblocking: true}
	}
	return waitDeadline{at: time.Now().Add(time.Duration(ms) * time.Millisecond)}
}

// copyTimeout reads and validates a struct timespec timeout (pwait2,
// ppoll): EFAULT, then EINVAL for tv_sec < 0 or tv_nsec outside
// [0, 999999999]. {0, 0} is non-blocking; huge values saturate to none.
func (t *Task) copyTimeout(addr uint64) (waitDeadline, errno) {
	b := t.small[:16]
	if e := t.copyIn(addr, b); e != 0 {
		return waitDeadline{}, e
	}
	sec := int64(binary.LittleEndian.Uint64(b))
	nsec := int64(binary.LittleEndian.Uint64(b[8:]))
	if sec < 0 || nsec < 0 || nsec > 999999999 {
		return waitDeadline{}, unix.EINVAL
	}
	if sec == 0 && nsec == 0 {
		return waitDeadline{nonblocking: true}, 0
	}
	if sec > (math.MaxInt64-nsec)/int64(time.Second)-1 {
		return waitDeadline{}, 0 // saturates: effectively infinite
	}
	return waitDeadline{at: time.Now().Add(time.Duration(sec)*time.Second + time.Duration(nsec))}, 0
}

// copySigmask reads a pwait/ppoll sigmask: sigsetsize must be 8 (EINVAL),
// then the copy (EFAULT). ok is false for a NULL sigmask.
func (t *Task) copySigmask(addr uint64, size uintptr) (mask uint64, ok bool, e errno) {
	if addr == 0 {
		return 0, false, 0
	}
	if size != sigsetSize {
		return 0, false, unix.EINVAL
	}
	b := t.small[:8]
	if e := t.copyIn(addr, b); e != 0 {
		return 0, false, e
	}
	return binary.LittleEndian.Uint64(b), true, 0
}

// epollPwait installs the temporary mask (args 4, 5) around epollWait. On
// EINTR the handler runs under the temporary mask; otherwise the old mask
// is restored first (docs/semantics.md#wait-loop).
func (t *Task) epollPwait(a *[6]uintptr, dl waitDeadline) (uintptr, errno) {
	mask, ok, e := t.copySigmask(uint64(a[4]), a[5])
	if e != 0 {
		return 0, e
	}
	if !ok {
		return t.epollWait(a, dl)
	}
	old := t.SetSignalMask(mask)
	n, e := t.epollWait(a, dl)
	if e == unix.EINTR {
		t.deliverSignals()
	}
	t.SetSignalMask(old)
	return n, e
}

func (t *Task) epollWait(a *[6]uintptr, dl waitDeadline) (uintptr, errno) {
	epfd, evp, maxev := int32(a[0]), uint64(a[1]), int32(a[2])
	f, ref, e := t.borrowFile(epfd)
	if e != 0 {
		return 0, e
	}
	if ref {
		defer f.DecRef()
	}
	size := t.arch.EventSize()
	if maxev <= 0 || int64(maxev) > math.MaxInt32/int64(size) {
		return 0, unix.EINVAL
	}
	if total, top := uint64(maxev)*uint64(size), t.arch.UserTop(); total > top || evp > top-total {
		return 0, unix.EFAULT
	}
	ep, ok := epoll.FromFile(f)
	if !ok {
		return 0, unix.EINVAL
	}
	if !dl.nonblocking {
		t.prepareSleep()
	}
	t.evAddr = evp
	var w epoll.EventWriter = t
	if t.commitEvents != nil {
		w = &t.committer
	}
	n, err := ep.Wait(t, t.evBuf[:], int(maxev), w, dl.at, dl.nonblocking)
	if err != nil {
		return 0, errnoOf(err)
	}
	return uintptr(n), 0
}

// WriteEvents implements epoll.EventWriter: it copies evs to guest memory
// at the current epoll_wait's cursor, in the task's layout, and advances
// the cursor. On a fault it reports how many whole slots were written.
func (t *Task) WriteEvents(evs []epoll.Event) (int, error) {
	size := t.arch.EventSize()
	off := t.arch.eventDataOffset()
	b := t.evBytes[:len(evs)*size]
	clear(b)
	for i, ev := range evs {
		s := b[i*size:]
		binary.LittleEndian.PutUint32(s, uint32(ev.Events))
		binary.LittleEndian.PutUint64(s[off:], ev.Data)
	}
	if t.mem.CopyOut(t.evAddr, b) == nil {
		t.evAddr += uint64(len(b))
		return len(evs), nil
	}
	// Find the faulting slot, writing slot by slot as Linux does.
	for i := range evs {
		if t.mem.CopyOut(t.evAddr, b[i*size:(i+1)*size]) != nil {
			return i, unix.EFAULT
		}
		t.evAddr += uint64(size)
	}
	return len(evs), nil
}

// SetEventCommit makes every epoll wait of t that copies n > 0 events to
// guest memory call commit(n) before the events are consumed (see
// epoll.EventCommitter); nil removes it. It is for an embedder that answers
// the guest itself after the call (a seccomp supervisor): commit delivers
// the answer, and an error (the answer could not be delivered) puts the
// events back on the ready list, untouched, and makes the wait return that
// error's errno (EINTR for an error that is not an errno). commit runs with
// the epoll instance's harvest lock held: it must not call into that
// instance. Set it while t runs no system call.
func (t *Task) SetEventCommit(commit func(n int) error) {
	t.commitEvents = commit
	t.committer.t = t
}

// eventCommitter is the task's EventWriter when SetEventCommit is in use.
type eventCommitter struct{ t *Task }

func (c *eventCommitter) WriteEvents(evs []epoll.Event) (int, error) {
	return c.t.WriteEvents(evs)
}

func (c *eventCommitter) CommitEvents(n int) error {
	err := c.t.commitEvents(n)
	var e unix.Errno
	if err != nil && !errors.As(err, &e) {
		return unix.EINTR
	}
	return err
}
