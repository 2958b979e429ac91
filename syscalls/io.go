package syscalls

import (
	"encoding/binary"

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
// wait for.
func (t *Task) sleepOn(f *fs.File, mask waiter.EventMask) {
	t.armWait(f)
	if f.Readiness(mask)&mask == 0 && !t.SignalPending() {
		t.Sleep(timeZero)
	}
	f.EventUnregister(&t.ioEntry)
}

// armWait registers the task's I/O entry on f's queue.
func (t *Task) armWait(f *fs.File) {
	t.prepareSleep()
	t.ioEntry.Init(t.sleeper, fs.BlockingWaitExclusive(f), true)
	f.EventRegister(&t.ioEntry)
}

// retryOrSleep is the blocking step for file types other than pipes, whose
// wait condition may be narrower than their readiness (an eventfd write
// waits for room for its value, not for OUT): register, try again, and
// sleep only if the retry still cannot proceed. It returns the retry's
// result.
func (t *Task) retryOrSleep(f *fs.File, attempt func() (int, error)) (int, error) {
	t.armWait(f)
	n, err := attempt()
	if err == unix.EAGAIN && !t.SignalPending() {
		t.Sleep(timeZero)
	}
	f.EventUnregister(&t.ioEntry)
	return n, err
}

// readOnce performs one read call on f into dst (at most len(dst) bytes),
// blocking unless f is O_NONBLOCK.
func (t *Task) readOnce(f *fs.File, dst []byte) (int, errno) {
	if !f.Readable() {
		return 0, unix.EBADF
	}
	bio, isBIO := f.Impl().(fs.BlockingIO)
	blocking := !f.Nonblocking() && f.Pollable() != nil
	resumed := false
	for {
		var n int
		var err error
		if isBIO {
			n, err = bio.ReadRound(f, dst, fs.IORound{Resumed: resumed, WillSleep: blocking && !t.SignalPending()})
		} else {
			n, err = f.Read(dst)
		}
		if err != unix.EAGAIN || !blocking {
			return n, errnoOf(err)
		}
		if t.SignalPending() {
			return 0, unix.EINTR
		}
		if !isBIO {
			if n, err = t.retryOrSleep(f, func() (int, error) { return f.Read(dst) }); err != unix.EAGAIN {
				return n, errnoOf(err)
			}
			continue
		}
		t.sleepOn(f, readWaitMask)
		resumed = true
	}
}

// writeOnce writes all of src to f (blocking unless O_NONBLOCK), returning
// the bytes written; resumed carries over between chunks of one call.
func (t *Task) writeOnce(f *fs.File, src []byte, resumed *bool) (int, errno) {
	if !f.Writable() {
		return 0, unix.EBADF
	}
	bio, isBIO := f.Impl().(fs.BlockingIO)
	blocking := !f.Nonblocking() && f.Pollable() != nil
	total := 0
	for {
		var n int
		var err error
		willSleep := blocking && !t.SignalPending()
		if isBIO {
			n, err = bio.WriteRound(f, src, fs.IORound{Resumed: *resumed, WillSleep: willSleep})
		} else {
			n, err = f.Write(src)
		}
		total += n
		src = src[n:]
		switch {
		case err == nil && (len(src) == 0 || !isBIO):
			return total, 0
		case err == nil && n == 0:
			return total, 0 // no progress: never spin
		case err == nil:
			continue
		case err != unix.EAGAIN || !blocking:
			if total > 0 {
				return total, 0
			}
			return 0, errnoOf(err)
		}
		if !willSleep || t.SignalPending() {
			if willSleep && isBIO {
				// Linux re-checks the pipe once more before giving up.
				n, _ = bio.WriteRound(f, src, fs.IORound{Resumed: *resumed})
				total += n
			}
			if total > 0 {
				return total, 0
			}
			return 0, unix.EINTR
		}
		if !isBIO {
			if n, err = t.retryOrSleep(f, func() (int, error) { return f.Write(src) }); err != unix.EAGAIN {
				if err != nil {
					return total, errnoOf(err)
				}
				return total + n, 0
			}
			continue
		}
		t.sleepOn(f, writeWaitMask)
		*resumed = true
	}
}

func hRead(t *Task, a *[6]uintptr) (uintptr, errno) {
	f, e := t.getFile(int32(a[0]))
	if e != 0 {
		return 0, e
	}
	defer f.DecRef()
	if !f.Readable() {
		return 0, unix.EBADF
	}
	buf, count := uint64(a[1]), uint64(a[2])
	if !t.rangeOK(buf, count) {
		return 0, unix.EFAULT
	}
	count = min(count, maxRWCount, uint64(len(t.ioBuf)))
	n, e := t.readOnce(f, t.ioBuf[:count])
	if e != 0 {
		return 0, e
	}
	if e := t.copyOut(buf, t.ioBuf[:n]); e != 0 {
		return 0, e
	}
	return uintptr(n), 0
}

func hWrite(t *Task, a *[6]uintptr) (uintptr, errno) {
	f, e := t.getFile(int32(a[0]))
	if e != 0 {
		return 0, e
	}
	defer f.DecRef()
	if !f.Writable() {
		return 0, unix.EBADF
	}
	buf, count := uint64(a[1]), uint64(a[2])
	if !t.rangeOK(buf, count) {
		return 0, unix.EFAULT
	}
	count = min(count, maxRWCount)
	total := uint64(0)
	resumed := false
	for {
		chunk := min(count-total, uint64(len(t.ioBuf)))
		if e := t.copyIn(buf+total, t.ioBuf[:chunk]); e != 0 {
			if total > 0 {
				return uintptr(total), 0
			}
			return 0, e
		}
		n, e := t.writeOnce(f, t.ioBuf[:chunk], &resumed)
		total += uint64(n)
		if e != 0 {
			if total > 0 {
				return uintptr(total), 0
			}
			return 0, e
		}
		if uint64(n) < chunk || total == count {
			return uintptr(total), 0
		}
	}
}

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

func hReadv(t *Task, a *[6]uintptr) (uintptr, errno) {
	f, e := t.getFile(int32(a[0]))
	if e != 0 {
		return 0, e
	}
	defer f.DecRef()
	total, e := t.copyIovecs(uint64(a[1]), int32(a[2]))
	if e != 0 {
		return 0, e
	}
	if !f.Readable() {
		return 0, unix.EBADF
	}
	count := min(total, uint64(len(t.ioBuf)))
	n, e := t.readOnce(f, t.ioBuf[:count])
	if e != 0 {
		return 0, e
	}
	data := t.ioBuf[:n]
	for _, v := range t.iovs {
		if len(data) == 0 {
			break
		}
		c := min(v.len, uint64(len(data)))
		if e := t.copyOut(v.base, data[:c]); e != 0 {
			if copied := n - len(data); copied > 0 {
				return uintptr(copied), 0
			}
			return 0, e
		}
		data = data[c:]
	}
	return uintptr(n), 0
}

func hWritev(t *Task, a *[6]uintptr) (uintptr, errno) {
	f, e := t.getFile(int32(a[0]))
	if e != 0 {
		return 0, e
	}
	defer f.DecRef()
	total, e := t.copyIovecs(uint64(a[1]), int32(a[2]))
	if e != 0 {
		return 0, e
	}
	if !f.Writable() {
		return 0, unix.EBADF
	}
	if total == 0 {
		// Linux still calls the file (a zero-length write).
		n, e := t.writeOnce(f, t.ioBuf[:0], new(bool))
		return uintptr(n), e
	}
	var written uint64
	resumed := false
	iv, ivOff := 0, uint64(0)
	for written < total {
		// Gather the next chunk.
		chunk := 0
		for chunk < len(t.ioBuf) && iv < len(t.iovs) {
			v := t.iovs[iv]
			c := min(v.len-ivOff, uint64(len(t.ioBuf)-chunk))
			if e := t.copyIn(v.base+ivOff, t.ioBuf[chunk:chunk+int(c)]); e != 0 {
				if written > 0 || chunk > 0 {
					break
				}
				return 0, e
			}
			chunk += int(c)
			ivOff += c
			if ivOff == v.len {
				iv, ivOff = iv+1, 0
			}
		}
		if chunk == 0 {
			break
		}
		n, e := t.writeOnce(f, t.ioBuf[:chunk], &resumed)
		written += uint64(n)
		if e != 0 {
			if written > 0 {
				return uintptr(written), 0
			}
			return 0, e
		}
		if n < chunk {
			break
		}
	}
	return uintptr(written), 0
}

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
	return t.doPoll(uint64(a[0]), uint64(uint32(a[1])), msDeadline(int32(a[2])))
}

func hPpoll(t *Task, a *[6]uintptr) (uintptr, errno) {
	dl := waitDeadline{}
	if tsp := uint64(a[2]); tsp != 0 {
		var e errno
		if dl, e = t.copyTimeout(tsp); e != 0 {
			return 0, e
		}
	}
	mask, ok, e := t.copySigmask(uint64(a[3]), a[4])
	if e != 0 {
		return 0, e
	}
	if !ok {
		return t.doPoll(uint64(a[0]), uint64(uint32(a[1])), dl)
	}
	old := t.SetSignalMask(mask)
	n, e := t.doPoll(uint64(a[0]), uint64(uint32(a[1])), dl)
	if e == unix.EINTR {
		t.deliverSignals()
	}
	t.SetSignalMask(old)
	return n, e
}

func (t *Task) doPoll(addr, nfds uint64, dl waitDeadline) (uintptr, errno) {
	if soft, _ := t.fds.Limit(); nfds > soft {
		return 0, unix.EINVAL
	}
	if cap(t.pollFds) < int(nfds) {
		t.pollFds = make([]pollFD, nfds)
		t.pollEnts = make([]waiter.Entry, nfds)
	}
	pfds := t.pollFds[:nfds]
	b := t.small[:8]
	for i := range pfds {
		if e := t.copyIn(addr+uint64(i)*8, b); e != 0 {
			return 0, e
		}
		pfds[i] = pollFD{
			fd:     int32(binary.LittleEndian.Uint32(b)),
			events: binary.LittleEndian.Uint16(b[4:]),
		}
	}
	t.prepareSleep()
	register := !dl.nonblocking
	timedOut := dl.nonblocking
	var count int
	var err errno
	for {
		count = 0
		for i := range pfds {
			p := &pfds[i]
			p.revents = 0
			if p.fd < 0 {
				continue
			}
			f, _, gerr := t.fds.Get(p.fd)
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
					f.EventRegister(e)
				}
				m = f.Readiness(want)
			}
			f.DecRef()
			if m &= want; m != 0 {
				p.revents = uint16(m)
				count++
				register = false
			}
		}
		register = false
		if count > 0 || timedOut {
			break
		}
		if t.SignalPending() {
			err = unix.EINTR
			break
		}
		timedOut = t.Sleep(dl.at)
	}
	for i := range pfds {
		if f := pfds[i].file; f != nil {
			f.EventUnregister(&t.pollEnts[i])
			f.DecRef()
			pfds[i].file = nil
		}
	}
	for i := range pfds {
		binary.LittleEndian.PutUint16(b, pfds[i].revents)
		if e := t.copyOut(addr+uint64(i)*8+6, b[:2]); e != 0 {
			return 0, e
		}
	}
	if err != 0 {
		return 0, err
	}
	return uintptr(count), 0
}
