package hostfd

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// Reads and writes through the caller's memory (fs.SequenceIO).
//
// A host fd cannot copy to or from guest memory: the bytes go through a
// staging buffer, and the host system call consumes (or produces) them
// before they are copied to (or from) the guest. So that a fault never
// loses bytes the host consumed, the host call is limited to the part of
// the guest buffer that is accessible: the sequence is first peeked
// (PeekIn, which the sequences of package syscalls implement: a copy that
// does not advance and stops at the first fault), and only that prefix is
// read or written. Consequences, by kind:
//
//   - Pipes and stream sockets: a read returns the bytes that fit before
//     the fault, and EFAULT with nothing consumed when not one byte fits
//     and data is there (with none, the usual EAGAIN, or 0 at end of file).
//     Linux reads whole pipe slots or skbs and stops before the one that
//     faults, which the host does not expose: where it would return fewer
//     bytes (or EFAULT, if the first slot faults), the bridge returns the
//     accessible prefix. No byte is lost either way. A write to a pipe
//     writes the whole pages of the accessible prefix, as Linux does when
//     it starts a fresh slot (it first tops up a partly filled last slot,
//     which the host does its own way); a write to a stream socket writes
//     the accessible prefix, where Linux drops the whole skb (up to about
//     36 KiB) that faults, and fails with EFAULT if it is the first.
//   - Datagram and seqpacket sockets: the message is received whole into
//     the staging buffer and copied out; a fault loses it with EFAULT,
//     exactly as Linux, which dequeues the message before copying it. A
//     write copies the whole message in first: a fault is EFAULT with
//     nothing sent, as in Linux.
//   - Eventfds and timerfds are not sequence files: the syscall layer
//     stages their 8-byte values, which is Linux's behaviour (the value is
//     consumed, then the copy faults).
//
// A guest thread that unmaps the buffer between the peek and the copy-out
// (a race Linux resolves under the file's lock) can still lose the bytes
// read. A sequence without PeekIn (not package syscalls') is treated as
// wholly accessible, and a write from it consumes a whole staging buffer
// before the host call: the part a short host write did not take is lost.
// Callers with their own sequences should implement PeekIn.

// peeker is implemented by the guest sequences of package syscalls.
type peeker interface {
	// PeekIn copies the next bytes of the sequence into dst without
	// consuming them, stopping at the first fault; it returns how many
	// it copied.
	PeekIn(dst []byte) int
}

// stageSize is the staging buffer's size: the most bytes one host call of
// a sequence read or write moves (a larger stream read or write loops).
const stageSize = 64 << 10

// pageSize is the host's page size, the unit of a pipe write's copies.
var pageSize = unix.Getpagesize()

var stagePool = sync.Pool{New: func() any { return new([stageSize]byte) }}

// accessible returns how many of the first n bytes of seq can be copied,
// copying them into buf (which holds at least n bytes).
func accessible(seq fs.IOSequence, buf []byte, n int) int {
	if p, ok := seq.(peeker); ok {
		return p.PeekIn(buf[:n])
	}
	return n
}

// dgram reports whether h moves whole messages.
func (h *hostFile) dgram() bool {
	return h.kind == KindSocket && h.sockType != unix.SOCK_STREAM
}

// readSeq implements fs.SequenceIO.ReadSeq for pipes, sockets and other
// fds.
func readSeq(hi hostImpl, f *fs.File, dst fs.IOSequence) (int, error) {
	h := hi.host()
	if dst.Len() == 0 {
		// A zero-length read is the host's business (a datagram socket
		// drops a message).
		return hi.readv(f, nil, nil)
	}
	stage := stagePool.Get().(*[stageSize]byte)
	defer stagePool.Put(stage)
	if h.dgram() {
		return readMessage(hi, f, dst, stage[:])
	}
	total := 0
	for dst.Len() > 0 {
		n := min(dst.Len(), stageSize)
		k := accessible(dst, stage[:], n)
		if k == 0 {
			if total > 0 {
				break
			}
			return 0, h.faultOrEmpty()
		}
		r, err := hi.readv(f, stage[:k], nil)
		if err != nil {
			if total > 0 {
				break
			}
			return 0, err
		}
		c, _ := dst.CopyOut(stage[:r])
		total += c
		if c < r {
			// The guest unmapped the buffer since the peek.
			if total == 0 {
				return 0, unix.EFAULT
			}
			break
		}
		if r < n {
			break // short (or end of file, or a fault ahead): done
		}
	}
	return total, nil
}

// faultOrEmpty is a read whose first byte faults: EFAULT if there is data
// to read (Linux faults copying the first slot or skb, which stays), else
// what a read of an empty file returns (0 at end of file, EAGAIN).
func (h *hostFile) faultOrEmpty() error {
	if h.kind == KindSocket {
		var b [1]byte
		r, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(h.fd), uintptr(unsafe.Pointer(&b[0])), 1,
			unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
		switch {
		case e == unix.EAGAIN:
			h.afterOp(gIn, e)
			return unix.EAGAIN
		case e != 0:
			return e
		case r > 0:
			return unix.EFAULT
		}
		return nil // end of stream
	}
	m := poll0(h.fd)
	switch {
	case m&gIn != 0:
		return unix.EFAULT
	case m&gHUpErr != 0:
		return nil // end of file: no writer left
	}
	h.afterOp(gIn, unix.EAGAIN)
	return unix.EAGAIN
}

// readMessage receives one message of a datagram or seqpacket socket (or
// makes a stream socket's one peek, message.go) into
// the staging buffer (or a larger one, for a message bigger than it and a
// guest buffer that can take it) and copies it out: a fault is EFAULT and
// the message is gone, as in Linux.
func readMessage(hi hostImpl, f *fs.File, dst fs.IOSequence, stage []byte) (int, error) {
	h := hi.host()
	h.rdMu.Lock()
	defer h.rdMu.Unlock()
	buf := stage[:min(dst.Len(), stageSize)]
	if dst.Len() > stageSize {
		// The next message's real length (MSG_TRUNC), so that it is not
		// truncated to the staging buffer. rdMu keeps other readers of
		// the model from taking it meanwhile.
		r, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(h.fd), 0, 0,
			unix.MSG_PEEK|unix.MSG_TRUNC|unix.MSG_DONTWAIT, 0, 0)
		switch {
		case e == unix.EAGAIN:
			// Nothing queued: what a read would say (socketImpl.readv).
			h.afterOp(gIn, e)
			if !f.Nonblocking() && poll0(h.fd)&waiter.EventRdHUp != 0 {
				return 0, nil
			}
			return 0, unix.EAGAIN
		case e == 0 && int(r) > stageSize:
			buf = make([]byte, min(int(r), dst.Len()))
		}
	}
	r, err := hi.readv(f, buf, nil)
	if err != nil {
		return 0, err
	}
	if c, _ := dst.CopyOut(buf[:r]); c < r {
		return 0, unix.EFAULT
	}
	return r, nil
}

// writeSeq implements fs.SequenceIO.WriteSeq for pipes, sockets and other
// fds.
func writeSeq(hi hostImpl, f *fs.File, src fs.IOSequence) (int, error) {
	h := hi.host()
	if src.Len() == 0 {
		return hi.writev(f, nil, nil)
	}
	stage := stagePool.Get().(*[stageSize]byte)
	defer stagePool.Put(stage)
	if h.dgram() {
		return writeMessage(hi, f, src, stage[:])
	}
	total := 0
	for src.Len() > 0 {
		n := min(src.Len(), stageSize)
		k := n
		p, peekable := src.(peeker)
		if peekable {
			k = p.PeekIn(stage[:n])
		} else {
			// Consumed now: a short host write loses the rest (callers
			// of this package pass peekable sequences).
			k, _ = src.CopyIn(stage[:n])
		}
		if k < n && h.kind == KindPipe {
			// Linux copies a pipe write a page at a time and drops the
			// page that faults.
			k &^= pageSize - 1
		}
		if k == 0 {
			if total > 0 {
				break
			}
			return 0, h.writeFault()
		}
		w, err := hi.writev(f, stage[:k], nil)
		if err != nil {
			if total > 0 {
				break
			}
			return 0, err
		}
		if peekable {
			// Consume what the host took (the same bytes, copied again).
			src.CopyIn(stage[:w])
		}
		total += w
		if w < n {
			break
		}
	}
	return total, nil
}

// writeFault is a write to a pipe or stream socket whose first byte (for a
// pipe, first page) faults. Linux checks some errors before it copies:
// EPIPE and ENOTCONN (a zero-length send asks the host for a socket's; a
// pipe without readers is EPIPE), and waits for room (EAGAIN); only then
// the copy faults (EFAULT).
func (h *hostFile) writeFault() error {
	if h.kind == KindSocket {
		_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(h.fd), 0, 0,
			unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, 0, 0)
		if e != 0 {
			return e
		}
	}
	m := poll0(h.fd)
	switch {
	case h.kind == KindPipe && m&waiter.EventErr != 0:
		return unix.EPIPE
	case m&waiter.EventOut == 0:
		h.afterOp(gOut, unix.EAGAIN)
		return unix.EAGAIN
	}
	return unix.EFAULT
}

// writeMessage sends the whole sequence as one message of a datagram or
// seqpacket socket. Linux checks the connection and the size before it
// copies the message in, and fails a copy that faults with EFAULT, sending
// nothing.
func writeMessage(hi hostImpl, f *fs.File, src fs.IOSequence, stage []byte) (int, error) {
	h := hi.host()
	n := src.Len()
	buf := stage[:min(n, stageSize)]
	if n > stageSize {
		if e := h.messageCheck(n); e != 0 {
			return 0, e
		}
		buf = make([]byte, n)
	}
	if c, _ := src.CopyIn(buf); c < len(buf) {
		if e := h.messageCheck(n); e != 0 {
			return 0, e
		}
		return 0, unix.EFAULT
	}
	return hi.writev(f, buf, nil)
}

// messageCheck returns the error unix_dgram_sendmsg gives a message of n
// bytes before copying it: ENOTCONN without a peer, EMSGSIZE above the
// send buffer.
func (h *hostFile) messageCheck(n int) unix.Errno {
	if _, err := unix.Getpeername(int(h.fd)); err != nil {
		if e, ok := err.(unix.Errno); ok && e == unix.ENOTCONN {
			return e
		}
	}
	sndbuf, err := unix.GetsockoptInt(int(h.fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
	if err == nil && n > sndbuf-32 {
		return unix.EMSGSIZE
	}
	return 0
}
