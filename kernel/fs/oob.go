package fs

import (
	"golang.org/x/sys/unix"
)

// Out-of-band data on AF_UNIX stream sockets (CONFIG_AF_UNIX_OOB, Linux
// 5.15 and later, as 6.x behaves).
//
// send(MSG_OOB) queues all but the last byte as ordinary data and the last
// byte as a one-byte skb that becomes the receiver's oob skb, replacing any
// earlier one (which stays in the stream as an ordinary byte). While an
// oob skb is pending the receiver polls PRI. recv(MSG_OOB) takes that byte
// (EINVAL if there is none; it never blocks), leaving a zero-length skb in
// the queue, which keeps the socket IN until an ordinary read discards it.
// An ordinary read stops before the oob byte once it has read something
// (the mark); starting at it, the read drops the byte unread, clears PRI
// and goes on with what follows; a peek skips over it.

// at returns the i-th queued skb (0 is the oldest), nil past the end.
func (q *skbQueue) at(i int) *skb {
	if i >= q.len() {
		return nil
	}
	return q.q[q.head+i]
}

// removeAt unlinks the i-th queued skb.
func (q *skbQueue) removeAt(i int) {
	if i == 0 {
		q.pop()
		return
	}
	j := q.head + i
	copy(q.q[j:], q.q[j+1:])
	q.q[len(q.q)-1] = nil
	q.q = q.q[:len(q.q)-1]
}

func (q *skbQueue) indexOf(b *skb) int {
	for i := 0; i < q.len(); i++ {
		if q.q[q.head+i] == b {
			return i
		}
	}
	return -1
}

func (b *skb) unread() int { return len(b.data) - b.consumed }

// manageOOBLocked is manage_oob: given the read position *i (always 0
// unless peeking) it returns the skb to read from, or nil to stop. It
// drops a zero-length skb at the position (skips it when peeking) and
// handles the oob skb as the file comment says.
//
// +checklocks:s.mu
func (s *unixSocket) manageOOBLocked(i *int, peek bool, copied int, w *wakeups) *skb {
	b := s.recv.at(*i)
	if b == nil || b.unread() > 0 && b != s.oob {
		return b
	}
	if b.unread() == 0 {
		switch {
		case copied > 0 && (s.oob == nil || b == s.oob):
			return nil
		case peek:
			*i++
		default:
			s.recv.removeAt(*i)
			s.freeSkbLocked(b, w)
		}
		if b = s.recv.at(*i); b == nil {
			return nil
		}
	}
	if b != s.oob {
		return b
	}
	switch {
	case copied > 0:
		return nil
	case !peek:
		s.oob = nil
		s.recv.removeAt(*i)
		s.freeSkbLocked(b, w)
		return s.recv.at(*i)
	}
	*i++
	return s.recv.at(*i)
}

// recvOOBLocked is unix_stream_recv_urg.
//
// +checklocks:s.mu
func (s *unixSocket) recvOOBLocked(dst IOSequence, peek bool, w *wakeups) (int, []byte, error) {
	b := s.oob
	if b == nil {
		return 0, nil, unix.EINVAL
	}
	var prev *skb
	if !peek {
		s.oob = nil
		// A zero-length skb just before it (an earlier oob byte already
		// read) goes too.
		if i := s.recv.indexOf(b); i > 0 && s.recv.at(i-1).unread() == 0 {
			prev = s.recv.at(i - 1)
			s.recv.removeAt(i - 1)
		}
	}
	// A full buffer is no fault: the byte is taken, nothing copied.
	want := min(1, dst.Len())
	c, _ := dst.CopyOut(b.data[b.consumed : b.consumed+want])
	if !peek {
		b.consumed++
	}
	if prev != nil {
		s.freeSkbLocked(prev, w)
	}
	if c < want {
		return 0, nil, unix.EFAULT
	}
	return 1, b.sender.name, nil // +checklocksignore: the sender shares s.mu.
}

// queueOOBLocked is queue_oob: allocate a one-byte skb on s's send buffer
// (pending error, EPIPE after SEND_SHUTDOWN, EAGAIN when the buffer is
// full), copy the byte in, and queue it on other as its oob skb (EPIPE if
// other is gone or its receive side is shut), waking other's readers.
//
// +checklocks:s.mu
// +checklocks:other.mu
func (s *unixSocket) queueOOBLocked(other *unixSocket, src IOSequence, w *wakeups) error {
	if err := s.takeErrorLocked(); err != nil {
		return err
	}
	if s.shutdown&shutSend != 0 {
		return unix.EPIPE
	}
	if s.wmem-1 >= s.sndbuf {
		return unix.EAGAIN
	}
	data := make([]byte, 1)
	if n, _ := src.CopyIn(data); n < 1 {
		s.dropUnchargedLocked(w)
		return unix.EFAULT
	}
	if other.dead || other.shutdown&shutRcv != 0 {
		s.dropUnchargedLocked(w)
		return unix.EPIPE
	}
	b := &skb{data: data, truesize: skbTruesize(1, 0), sender: s}
	other.recv.push(b)
	other.oob = b
	s.wmem += b.truesize
	w.add(&other.queue, dataReadyKey, false)
	return nil
}

// MessageIO is implemented by sockets: send and receive with MSG_ flags
// (sendto/recvfrom). The syscall layer handles MSG_DONTWAIT (a
// non-blocking attempt) and MSG_NOSIGNAL (the model raises no SIGPIPE);
// the socket acts on MSG_OOB and MSG_PEEK and ignores other flags.
type MessageIO interface {
	// SendSeq sends src; addr is the destination sockaddr, nil if none.
	// A stream socket refuses any (EISCONN when connected, EOPNOTSUPP
	// otherwise), a seqpacket socket ignores it, a datagram socket checks
	// it (EINVAL: unix_validate_addr) but sending to an address is not
	// modelled (EOPNOTSUPP).
	SendSeq(f *File, src IOSequence, flags int, addr []byte) (int, error)
	// RecvSeq receives into dst and returns the sun_path bytes of the
	// sender's address (nil when it is unbound).
	RecvSeq(f *File, dst IOSequence, flags int) (n int, from []byte, err error)
}
