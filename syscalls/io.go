package syscalls

import (
	"encoding/binary"
	"math"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// read, write, readv, writev, poll, ppoll.

func init() {
	register(sysRead, hRead)
	register(sysWrite, hWrite)
	register(sysReadv, hReadv)
	register(sysWritev, hWritev)
	register(sysPoll, hPoll)
	register(sysPpoll, hPpoll)
}

const (
	maxRWCount = 0x7ffff000 // MAX_RW_COUNT: INT_MAX & PAGE_MASK
	uioMaxIOV  = 1024

	readWaitMask  = waiter.EventIn | waiter.EventHUp | waiter.EventErr | waiter.EventRdHUp
	writeWaitMask = waiter.EventOut | waiter.EventHUp | waiter.EventErr
)

type iovec struct{ base, len uint64 }

// rangeOK is access_ok.
func (t *Task) rangeOK(addr, size uint64) bool {
	top := t.arch.UserTop()
	return size <= top && addr <= top-size
}

// sleepOn blocks until f reports one of mask (checked after registering,
// so no wakeup is lost) or a wakeup or signal arrives. Pipes use it: their
// readiness is exactly the condition their blocked readers and writers
// wait for. It is Task.Block's step (block.go), as every sleep of a read
// or write is.
func (t *Task) sleepOn(f *fs.File, mask waiter.EventMask) {
	t.blockOn(f, &Wait{Mask: mask, Exclusive: fs.BlockingWaitExclusive(f)})
}

// retryOrSleep is the blocking step for file types other than pipes, whose
// wait condition may be narrower than their readiness (an eventfd write
// waits for room for its value, not for OUT): register, try again, and
// sleep only if the retry still cannot proceed. It returns the retry's
// result.
func (t *Task) retryOrSleep(f *fs.File, write bool) (n int, err error) {
	t.blockOn(f, &Wait{Exclusive: fs.BlockingWaitExclusive(f), Ready: func() bool {
		n, err = t.attempt(f, write)
		return err != unix.EAGAIN
	}})
	return n, err
}

// attempt makes one non-blocking transfer between f and the task's guest
// buffers: through t.seq for an fs.SequenceIO type, else through t.stage
// (a write consumes t.stage as it goes).
func (t *Task) attempt(f *fs.File, write bool) (int, error) {
	if sio, ok := f.Impl().(fs.SequenceIO); ok {
		if write {
			return sio.WriteSeq(f, &t.seq)
		}
		return sio.ReadSeq(f, &t.seq)
	}
	if !write {
		return f.Read(t.stage)
	}
	n, err := f.Write(t.stage)
	t.stage = t.stage[n:]
	return n, err
}

// unwritten is what the current write attempt has left to write.
func (t *Task) unwritten(f *fs.File) int {
	if _, ok := f.Impl().(fs.SequenceIO); ok {
		return t.seq.Len()
	}
	return len(t.stage)
}

// Reads and writes go through the task's guestSeq. File types that copy
// from or to it themselves (fs.BlockingIO: pipes; fs.SequenceIO: sockets,
// regular files) see the guest memory directly, with Linux's behaviour when
// it faults part-way; the others (eventfd, timerfd, files of other
// packages) are staged through the task's ioBuf.

// doRead reads from f into t.seq, blocking unless f is O_NONBLOCK.
func (t *Task) doRead(f *fs.File) (int, errno) {
	if !f.Readable() {
		return 0, unix.EBADF
	}
	blocking := !f.Nonblocking() && f.Pollable() != nil
	switch impl := f.Impl().(type) {
	case *signalFile:
		return t.readSignalfd(f, impl)
	case fs.BlockingIO:
		resumed := false
		for {
			n, err := impl.ReadRound(f, &t.seq, fs.IORound{Resumed: resumed, WillSleep: blocking && !t.SignalPending()})
			if err != unix.EAGAIN || !blocking {
				return n, fileErrno(f, err)
			}
			if t.SignalPending() {
				return 0, unix.EINTR
			}
			t.sleepOn(f, readWaitMask)
			resumed = true
		}
	case fs.SequenceIO:
		return t.retryRead(f, blocking)
	}
	// Staged: the value is consumed before it is copied out, so a fault
	// loses it (EFAULT), as for Linux's eventfd and timerfd.
	t.growIOBuf(t.seq.left)
	t.stage = t.ioBuf[:min(uint64(len(t.ioBuf)), t.seq.left)]
	n, e := t.retryRead(f, blocking)
	if e != 0 {
		return 0, e
	}
	if c, _ := t.seq.CopyOut(t.ioBuf[:n]); c < n {
		return 0, unix.EFAULT
	}
	return n, 0
}

// retryRead makes attempts until one does not return EAGAIN, sleeping in
// between when the file is blocking.
func (t *Task) retryRead(f *fs.File, blocking bool) (int, errno) {
	for {
		n, err := t.attempt(f, false)
		if err != unix.EAGAIN || !blocking {
			return n, fileErrno(f, err)
		}
		if t.SignalPending() {
			return 0, unix.EINTR
		}
		if n, err = t.retryOrSleep(f, false); err != unix.EAGAIN {
			return n, fileErrno(f, err)
		}
	}
}

// doWrite writes t.seq to f, blocking unless f is O_NONBLOCK: a blocking
// write returns when everything is written, or with the count so far when
// a signal or an error ends it (the error itself only if nothing was
// written).
func (t *Task) doWrite(f *fs.File) (int, errno) {
	if !f.Writable() {
		return 0, unix.EBADF
	}
	blocking := !f.Nonblocking() && f.Pollable() != nil
	switch impl := f.Impl().(type) {
	case fs.BlockingIO:
		return t.writeRounds(f, impl, blocking)
	case fs.SequenceIO:
		return t.retryWrite(f, blocking)
	}
	// Staged. A fixed-size type fails a write of any other size without
	// looking at the bytes, so none are copied in for it.
	t.growIOBuf(t.seq.left)
	size := min(uint64(len(t.ioBuf)), t.seq.left)
	if fx, ok := f.Impl().(fs.FixedSizeIO); ok && size != uint64(fx.IOSize()) {
		n, err := f.Write(t.ioBuf[:size])
		return n, fileErrno(f, err)
	}
	total := 0
	for {
		buf := t.ioBuf[:size]
		if c, _ := t.seq.CopyIn(buf); c < len(buf) {
			if total > 0 {
				return total, 0
			}
			return 0, unix.EFAULT
		}
		t.stage = buf
		n, e := t.retryWrite(f, blocking)
		total += n
		if e != 0 {
			if total > 0 {
				return total, 0
			}
			return 0, e
		}
		size = min(uint64(len(t.ioBuf)), t.seq.left)
		if n < len(buf) || size == 0 {
			return total, 0
		}
	}
}

// writeRounds is a write to a pipe: rounds over the whole sequence, with
// the wakeups Linux sends around sleeping (fs.BlockingIO).
func (t *Task) writeRounds(f *fs.File, bio fs.BlockingIO, blocking bool) (int, errno) {
	if t.seq.left == 0 {
		n, err := bio.WriteRound(f, &t.seq, fs.IORound{})
		return n, fileErrno(f, err)
	}
	total, resumed := 0, false
	for {
		willSleep := blocking && !t.SignalPending()
		n, err := bio.WriteRound(f, &t.seq, fs.IORound{Resumed: resumed, WillSleep: willSleep})
		total += n
		switch {
		case err == nil && (t.seq.left == 0 || n == 0):
			return total, 0
		case err == nil:
			continue
		case err != unix.EAGAIN || !blocking:
			if total > 0 {
				return total, 0
			}
			return 0, fileErrno(f, err)
		}
		if !willSleep || t.SignalPending() {
			if willSleep {
				// Linux re-checks the pipe once more before giving up.
				n, _ = bio.WriteRound(f, &t.seq, fs.IORound{Resumed: resumed})
				total += n
			}
			if total > 0 {
				return total, 0
			}
			return 0, unix.EINTR
		}
		t.sleepOn(f, writeWaitMask)
		resumed = true
	}
}

// retryWrite makes attempts until everything given is written, the file
// stops taking bytes, or an error other than a blocking file's EAGAIN ends
// the write; it sleeps between attempts that would block.
func (t *Task) retryWrite(f *fs.File, blocking bool) (int, errno) {
	total := 0
	for {
		n, err := t.attempt(f, true)
		if err == unix.EAGAIN && blocking && !t.SignalPending() {
			n, err = t.retryOrSleep(f, true)
		}
		total += n
		switch {
		case err == nil && (t.unwritten(f) == 0 || n == 0):
			return total, 0
		case err == nil || err == unix.EAGAIN && blocking && !t.SignalPending():
			continue // a short write, or woken: try again for the rest
		case total > 0:
			return total, 0
		case err == unix.EAGAIN && blocking:
			return 0, unix.EINTR
		}
		return 0, fileErrno(f, err)
	}
}

// checkAccess is vfs_read and vfs_write's first checks: the access mode
// (EBADF), then whether the type can write at all (EINVAL).
func checkAccess(f *fs.File, write bool) errno {
	if write && !f.Writable() || !write && !f.Readable() {
		return unix.EBADF
	}
	if _, no := f.Impl().(fs.WriteUnsupported); no && write {
		return unix.EINVAL
	}
	return 0
}

// rw is the common part of read and write: fd lookup, access mode (EBADF),
// the buffer's range (EFAULT), then the transfer over one iovec.
func (t *Task) rw(a *[6]uintptr, write bool) (uintptr, errno) {
	f, ref, e := t.borrowFile(int32(a[0]))
	if e != 0 {
		return 0, e
	}
	if ref {
		defer f.DecRef()
	}
	if e := checkAccess(f, write); e != 0 {
		return 0, e
	}
	buf, count := uint64(a[1]), uint64(a[2])
	if !t.rangeOK(buf, count) {
		return 0, unix.EFAULT
	}
	count = min(count, maxRWCount)
	t.single[0] = iovec{buf, count}
	t.seq.reset(t.mem, t.single[:], count)
	return t.transfer(f, write)
}

func (t *Task) transfer(f *fs.File, write bool) (uintptr, errno) {
	var n int
	var e errno
	if write {
		n, e = t.doWrite(f)
	} else {
		n, e = t.doRead(f)
	}
	t.seq.reset(nil, nil, 0) // drop the references to guest state
	t.stage = nil
	return uintptr(n), e
}

func hRead(t *Task, a *[6]uintptr) (uintptr, errno)  { return t.rw(a, false) }
func hWrite(t *Task, a *[6]uintptr) (uintptr, errno) { return t.rw(a, true) }

// copyIovecs reads the iovec array: iovcnt outside [0, UIO_MAXIOV] is
// EINVAL, a copy fault EFAULT, a negative length EINVAL, a segment outside
// the user range EFAULT. It returns the total, clamped to MAX_RW_COUNT.
func (t *Task) copyIovecs(addr uint64, cnt int32) (uint64, errno) {
	if cnt < 0 || cnt > uioMaxIOV {
		return 0, unix.EINVAL
	}
	if cap(t.iovs) < int(cnt) {
		t.iovs = make([]iovec, uioMaxIOV)
	}
	t.iovs = t.iovs[:cnt]
	var total uint64
	b := t.small[:16]
	for i := range t.iovs {
		if e := t.copyIn(addr+uint64(i)*16, b); e != 0 {
			return 0, e
		}
		v := iovec{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])}
		if int64(v.len) < 0 {
			return 0, unix.EINVAL
		}
		if !t.rangeOK(v.base, v.len) {
			return 0, unix.EFAULT
		}
		if v.len > maxRWCount-total {
			v.len = maxRWCount - total
		}
		total += v.len
		t.iovs[i] = v
	}
	return total, 0
}

// rwv is readv and writev: fd lookup, the iovec array, then the access
// mode, as do_readv and do_writev check them.
func (t *Task) rwv(a *[6]uintptr, write bool) (uintptr, errno) {
	f, e := t.getFile(int32(a[0]))
	if e != 0 {
		return 0, e
	}
	defer f.DecRef()
	total, e := t.copyIovecs(uint64(a[1]), int32(a[2]))
	if e != 0 {
		return 0, e
	}
	if e := checkAccess(f, write); e != 0 {
		return 0, e
	}
	t.seq.reset(t.mem, t.iovs, total)
	return t.transfer(f, write)
}

func hReadv(t *Task, a *[6]uintptr) (uintptr, errno)  { return t.rwv(a, false) }
func hWritev(t *Task, a *[6]uintptr) (uintptr, errno) { return t.rwv(a, true) }

// poll and ppoll.

type pollFD struct {
	fd      int32
	events  uint16
	revents uint16
	file    *fs.File // registered on, with a reference
}

// defaultPollMask is what a file without poll operations reports.
const defaultPollMask = waiter.EventIn | waiter.EventOut | waiter.EventRdNorm | waiter.EventWrNorm

func hPoll(t *Task, a *[6]uintptr) (uintptr, errno) {
	dl := msDeadline(int32(a[2]))
	if t.Restarting() {
		// Re-issued after a Stop: the first call's deadline holds
		// (do_restart_poll); no other poll ran since.
		dl = t.pollDeadline
	}
	t.pollDeadline = dl
	return t.doPoll(uint64(a[0]), uint64(uint32(a[1])), dl)
}

// hPpoll is sys_ppoll: the timeout (EFAULT, EINVAL), the sigmask
// (EINVAL, EFAULT), the poll, and then, whatever the poll's result, the
// time left is written back to the caller's timespec (poll_select_finish;
// glibc's wrapper hides this by passing a copy). A {0, 0} timeout is not
// written back, and a timespec that cannot be written is ignored.
func hPpoll(t *Task, a *[6]uintptr) (uintptr, errno) {
	dl := waitDeadline{}
	tsp := uint64(a[2])
	var end monoTime
	if tsp != 0 {
		var e errno
		if dl, e = t.copyTimeout(tsp); e != 0 {
			return 0, e
		}
		if !dl.nonblocking {
			end = t.monoNow().addSaturating(t.small[:16])
		}
	}
	mask, ok, e := t.copySigmask(uint64(a[3]), a[4])
	if e != 0 {
		return 0, e
	}
	var n uintptr
	if !ok {
		n, e = t.doPoll(uint64(a[0]), uint64(uint32(a[1])), dl)
	} else {
		old := t.SetSignalMask(mask)
		n, e = t.doPoll(uint64(a[0]), uint64(uint32(a[1])), dl)
		if e == unix.EINTR {
			t.deliverSignals()
		}
		t.SetSignalMask(old)
	}
	if tsp != 0 && !dl.nonblocking {
		left := end.sub(t.monoNow())
		b := t.small[:16]
		binary.LittleEndian.PutUint64(b, uint64(left.sec))
		binary.LittleEndian.PutUint64(b[8:], uint64(left.nsec))
		t.copyOut(tsp, b) // a fault here is ignored, as in Linux
	}
	return n, e
}

// monoTime is a CLOCK_MONOTONIC reading as Linux's struct timespec64.
type monoTime struct{ sec, nsec int64 }

func (t *Task) monoNow() monoTime {
	ns := t.k.clock.Now(unix.CLOCK_MONOTONIC)
	return monoTime{ns / 1e9, ns % 1e9}
}

// addSaturating adds the validated timespec in b (timespec64_add_safe):
// a sum past TIME64_MAX seconds saturates to {TIME64_MAX, 0}.
func (m monoTime) addSaturating(b []byte) monoTime {
	sec := int64(binary.LittleEndian.Uint64(b))
	nsec := int64(binary.LittleEndian.Uint64(b[8:])) + m.nsec
	carry := nsec / 1e9
	nsec %= 1e9
	if sec > math.MaxInt64-m.sec-carry {
		return monoTime{math.MaxInt64, 0}
	}
	return monoTime{m.sec + sec + carry, nsec}
}

// sub is m - o, or zero if o is later (poll_select_finish's clamp).
func (m monoTime) sub(o monoTime) monoTime {
	sec, nsec := m.sec-o.sec, m.nsec-o.nsec
	if nsec < 0 {
		sec, nsec = sec-1, nsec+1e9
	}
	if sec < 0 {
		return monoTime{}
	}
	return monoTime{sec, nsec}
}

// doPoll is do_sys_poll: copy the pollfds in, run do_poll's loop, copy
// the revents out.
func (t *Task) doPoll(addr, nfds uint64, dl waitDeadline) (uintptr, errno) {
	if soft, _ := t.fds.Limit(); nfds > soft {
		return 0, unix.EINVAL
	}
	pfds, e := t.copyInPollFds(addr, nfds)
	if e != 0 {
		return 0, e
	}
	count, err := t.pollLoop(pfds, dl)
	t.unregisterPoll(pfds)
	b := t.small[:2]
	for i := range pfds {
		binary.LittleEndian.PutUint16(b, pfds[i].revents)
		if e := t.copyOut(addr+uint64(i)*8+6, b); e != 0 {
			return 0, e
		}
	}
	if err != 0 {
		return 0, err
	}
	return uintptr(count), 0
}

// copyInPollFds reads nfds struct pollfd into the task's scratch array.
func (t *Task) copyInPollFds(addr, nfds uint64) ([]pollFD, errno) {
	if cap(t.pollFds) < int(nfds) {
		t.pollFds = make([]pollFD, nfds)
		t.pollEnts = make([]waiter.Entry, nfds)
	}
	pfds := t.pollFds[:nfds]
	b := t.small[:8]
	for i := range pfds {
		if e := t.copyIn(addr+uint64(i)*8, b); e != 0 {
			return nil, e
		}
		pfds[i] = pollFD{
			fd:     int32(binary.LittleEndian.Uint32(b)),
			events: binary.LittleEndian.Uint16(b[4:]),
		}
	}
	return pfds, 0
}

// pollLoop is do_poll: passes over the fds until one is ready, the
// deadline passes or a signal is pending. Only the first pass registers
// on the files' queues, and it stops registering at the first ready fd.
func (t *Task) pollLoop(pfds []pollFD, dl waitDeadline) (int, errno) {
	t.prepareSleep()
	register := !dl.nonblocking
	timedOut := dl.nonblocking
	for {
		count := t.pollPass(pfds, register)
		register = false
		if count > 0 || timedOut {
			return count, 0
		}
		if t.SignalPending() {
			return 0, unix.EINTR
		}
		timedOut = t.Sleep(dl.at)
	}
}

// pollPass polls every fd once and returns how many have events.
func (t *Task) pollPass(pfds []pollFD, register bool) int {
	count := 0
	for i := range pfds {
		p := &pfds[i]
		p.revents = 0
		if p.fd < 0 {
			continue
		}
		f, gerr := t.fds.GetFile(p.fd)
		if gerr != nil {
			p.revents = uint16(waiter.EventNVal)
			count++
			continue
		}
		want := waiter.EventMask(p.events) | waiter.EventErr | waiter.EventHUp
		var m waiter.EventMask
		if f.Pollable() == nil {
			m = defaultPollMask
		} else {
			if register && p.file == nil {
				e := &t.pollEnts[i]
				e.Init(t.sleeper, false, false)
				f.IncRef()
				p.file = f
				f.EventRegisterFor(e, t)
			}
			m = f.ReadinessFor(want, t)
		}
		f.DecRef()
		if m &= want; m != 0 {
			p.revents = uint16(m)
			count++
			register = false
		}
	}
	return count
}

// unregisterPoll unhooks the entries the first pass registered.
func (t *Task) unregisterPoll(pfds []pollFD) {
	for i := range pfds {
		if f := pfds[i].file; f != nil {
			f.EventUnregister(&t.pollEnts[i])
			f.DecRef()
			pfds[i].file = nil
		}
	}
}
