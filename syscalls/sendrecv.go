package syscalls

import (
	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
)

// sendto and recvfrom on AF_UNIX sockets (fs.MessageIO): MSG_OOB and
// MSG_PEEK reach the socket; MSG_DONTWAIT makes the call non-blocking;
// MSG_NOSIGNAL changes nothing, since the model raises no SIGPIPE (EPIPE
// is returned either way). Other flags are ignored.

func init() {
	register(sysSendto, hSendto)
	register(sysRecvfrom, hRecvfrom)
}

// messageFile returns fd's file and its fs.MessageIO: EBADF, ENOTSOCK, or
// EOPNOTSUPP for another backend's socket.
func (t *Task) messageFile(n int32) (*fs.File, fs.MessageIO, errno) {
	f, e := t.getFile(n)
	if e != 0 {
		return nil, nil, e
	}
	m, ok := f.Impl().(fs.MessageIO)
	if !ok {
		f.DecRef()
		if _, sock := f.Impl().(fs.Socket); sock {
			return nil, nil, unix.EOPNOTSUPP
		}
		return nil, nil, unix.ENOTSOCK
	}
	return f, m, 0
}

// setBuffer points t.seq at one guest buffer (import_ubuf: the length is
// capped at MAX_RW_COUNT, the range must be user memory: EFAULT).
func (t *Task) setBuffer(buf, count uint64) errno {
	count = min(count, maxRWCount)
	if !t.rangeOK(buf, count) {
		return unix.EFAULT
	}
	t.single[0] = iovec{buf, count}
	t.seq.reset(t.mem, t.single[:], count)
	return 0
}

// hSendto follows __sys_sendto: the buffer (EFAULT), the fd (EBADF,
// ENOTSOCK), the address (EINVAL, EFAULT), then the socket's sendmsg.
func hSendto(t *Task, a *[6]uintptr) (uintptr, errno) {
	if e := t.setBuffer(uint64(a[1]), uint64(a[2])); e != 0 {
		return 0, e
	}
	defer t.seq.reset(nil, nil, 0)
	f, m, e := t.messageFile(int32(a[0]))
	if e != 0 {
		return 0, e
	}
	defer f.DecRef()
	flags := int(int32(a[3]))
	var sa []byte
	if a[4] != 0 {
		if sa, e = t.moveAddrToKernel(uint64(a[4]), int32(a[5])); e != 0 {
			return 0, e
		}
	}
	blocking := !f.Nonblocking() && flags&unix.MSG_DONTWAIT == 0
	total := 0
	for {
		n, err := m.SendSeq(f, &t.seq, flags, sa)
		if err == unix.EAGAIN && blocking && !t.SignalPending() {
			n, err = t.messageRetry(f, func() (int, error) { return m.SendSeq(f, &t.seq, flags, sa) })
		}
		total += n
		switch {
		case err == nil && (t.seq.Len() == 0 || n == 0):
			return uintptr(total), 0
		case err == nil || err == unix.EAGAIN && blocking && !t.SignalPending():
			continue
		case total > 0:
			return uintptr(total), 0
		case err == unix.EAGAIN && blocking:
			return 0, unix.EINTR
		}
		return 0, fileErrno(f, err)
	}
}

// messageRetry registers on f's queue, tries again, and sleeps unless the
// retry got past EAGAIN; it returns the retry's result.
func (t *Task) messageRetry(f *fs.File, try func() (int, error)) (n int, err error) {
	t.blockOn(f, &Wait{Exclusive: fs.BlockingWaitExclusive(f), Ready: func() bool {
		n, err = try()
		return err != unix.EAGAIN
	}})
	return n, err
}

// hRecvfrom follows __sys_recvfrom: the buffer (EFAULT), the fd (EBADF,
// ENOTSOCK), the receive (blocking unless O_NONBLOCK or MSG_DONTWAIT;
// MSG_OOB never blocks), then, when addr is set, the sender's address
// (move_addr_to_user: *addrlen is read, EFAULT, EINVAL if negative).
func hRecvfrom(t *Task, a *[6]uintptr) (uintptr, errno) {
	if e := t.setBuffer(uint64(a[1]), uint64(a[2])); e != 0 {
		return 0, e
	}
	defer t.seq.reset(nil, nil, 0)
	f, m, e := t.messageFile(int32(a[0]))
	if e != 0 {
		return 0, e
	}
	defer f.DecRef()
	flags := int(int32(a[3]))
	blocking := !f.Nonblocking() && flags&unix.MSG_DONTWAIT == 0
	n, from, err := m.RecvSeq(f, &t.seq, flags)
	for err == unix.EAGAIN && blocking {
		if t.SignalPending() {
			return 0, unix.EINTR
		}
		_, err = t.messageRetry(f, func() (int, error) {
			var k int
			var e error
			k, from, e = m.RecvSeq(f, &t.seq, flags)
			n = k
			return k, e
		})
	}
	if err != nil {
		return 0, fileErrno(f, err)
	}
	if a[4] != 0 {
		var sa []byte
		if from != nil {
			sa = make([]byte, sunPathOffset+len(from))
			sa[0] = unix.AF_UNIX
			copy(sa[sunPathOffset:], from)
		}
		if e := t.copyAddrOut(sa, uint64(a[4]), uint64(a[5])); e != 0 {
			return 0, e
		}
	}
	return uintptr(n), 0
}
