package fs

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// AF_UNIX sockets (docs/semantics.md#unix-sockets): socketpairs, and
// sockets of type SOCK_STREAM, SOCK_DGRAM and SOCK_SEQPACKET made by
// socket(2), which stream and seqpacket sockets may bind to an abstract
// address, listen on, connect and accept (unixlisten.go). Datagram
// sockets are connected from birth (socketpair) or never.
//
// Each socket has one wait queue (sk_wq), which its readers, writers and
// pollers all share. Data travels in skbs: a stream write is cut into skbs
// of at most 36544 bytes, a datagram or seqpacket message is one skb. Each
// skb is charged to its sender's send buffer with Linux's truesize (the
// data plus the sk_buff and its kmalloc'd head, ≈768 bytes for one byte of
// data) until the receiver consumes it or it is dropped; the sender is
// writable while (1 + charged) * 4 <= SO_SNDBUF (212992) and may allocate
// a new skb while charged < SO_SNDBUF.
//
// Wakeup keys:
//   - an skb queued → the receiver's queue, IN|PRI|RDNORM|RDBAND (one per
//     skb: a large stream write sends several);
//   - an skb freed (consumed by a read, purged by a close, or dropped by a
//     failed send) → its sender's queue, OUT|WRNORM|WRBAND, if the sender
//     is then writable and still open;
//   - shutdown → own queue key 0 (wake all), and for stream/seqpacket the
//     peer's queue key 0 too;
//   - close of a stream/seqpacket socket → the peer's queue key 0; a
//     datagram peer gets no state-change wakeup;
//   - a datagram send that finds its peer closed disconnects (ECONNREFUSED,
//     and its own unread datagrams are dropped) and wakes its own queue with
//     OUT|WRNORM|WRBAND.
//
// Out-of-band data (MSG_OOB, EPOLLPRI) is in oob.go. The max_dgram_qlen
// flow control of datagram sockets connected to a peer that is not
// connected back (which socketpairs never are) is not modelled beyond
// what poll and send check.

const (
	sockClose       = 0  // TCP_CLOSE: unconnected
	sockEstablished = 1  // TCP_ESTABLISHED
	sockListen      = 10 // TCP_LISTEN (unixlisten.go)

	shutRcv  = 1 // RCV_SHUTDOWN
	shutSend = 2 // SEND_SHUTDOWN
	shutBoth = shutRcv | shutSend

	// DefaultSocketSendBuffer is SO_SNDBUF's default (net.core.wmem_default).
	DefaultSocketSendBuffer = 212992
	// maxDgramQlen is net.unix.max_dgram_qlen.
	maxDgramQlen = 10

	// skb geometry on x86-64 with 4 KiB pages.
	skbMaxHead     = 3776  // SKB_MAX_HEAD(0): linear data of an order-0 head
	unixSkbFragsSz = 32768 // UNIX_SKB_FRAGS_SZ
	skbMaxAlloc    = 16064 // SKB_MAX_ALLOC: linear data of an order-2 head
	maxSkbFrags    = 17    // MAX_SKB_FRAGS
	skbSharedInfo  = 320   // SKB_DATA_ALIGN(sizeof(struct skb_shared_info))
	skbStruct      = 256   // SKB_DATA_ALIGN(sizeof(struct sk_buff))
	pageSize       = 4096
)

// skbTruesize is the memory Linux charges for an skb with linear bytes in
// its head and dataLen bytes in page fragments: the head comes from kmalloc
// (rounded up to a power of two, at least 512 bytes), the fragments are
// whole pages.
func skbTruesize(linear, dataLen int) int64 {
	head := (linear+63)&^63 + skbSharedInfo
	alloc := 512
	for alloc < head {
		alloc <<= 1
	}
	return int64(alloc + skbStruct + (dataLen+pageSize-1)&^(pageSize-1))
}

// streamSkbSize returns the bytes the next skb of a stream write carries
// and its truesize.
func streamSkbSize(remaining int, sndbuf int64) (int, int64) {
	size := remaining
	if m := int(sndbuf>>1) - 64; size > m {
		size = m
	}
	if m := skbMaxHead + unixSkbFragsSz; size > m {
		size = m
	}
	dataLen := 0
	if size > skbMaxHead {
		dataLen = (size - skbMaxHead + pageSize - 1) &^ (pageSize - 1)
		if dataLen > size {
			dataLen = size
		}
	}
	return size, skbTruesize(size-dataLen, dataLen)
}

// dgramTruesize is the truesize of a datagram of n bytes.
func dgramTruesize(n int) int64 {
	dataLen := 0
	if n > skbMaxAlloc {
		dataLen = n - skbMaxAlloc
		if dataLen > maxSkbFrags*pageSize {
			dataLen = maxSkbFrags * pageSize
		}
		dataLen = (dataLen + pageSize - 1) &^ (pageSize - 1)
	}
	return skbTruesize(n-dataLen, dataLen)
}

// skb is one queued message (or stream chunk).
type skb struct {
	data     []byte
	consumed int // bytes already read (stream)
	truesize int64
	sender   *unixSocket
}

// skbQueue is a FIFO of skbs.
type skbQueue struct {
	q    []*skb
	head int
}

func (q *skbQueue) len() int { return len(q.q) - q.head }

func (q *skbQueue) push(b *skb) {
	if q.head > 0 && q.head == len(q.q) {
		q.q, q.head = q.q[:0], 0
	}
	q.q = append(q.q, b)
}

func (q *skbQueue) peek() *skb {
	if q.len() == 0 {
		return nil
	}
	return q.q[q.head]
}

func (q *skbQueue) pop() *skb {
	b := q.q[q.head]
	q.q[q.head] = nil
	q.head++
	if q.head == len(q.q) {
		q.q, q.head = q.q[:0], 0
	} else if q.head >= 64 && q.head*2 >= len(q.q) {
		n := copy(q.q, q.q[q.head:])
		clear(q.q[n:])
		q.q, q.head = q.q[:n], 0
	}
	return b
}

// unixSocket is one socket. The two sockets of a pair share one mutex,
// which guards the state of both (the model's stand-in for Linux's
// per-socket state locks, taken in pairs): the alias below tells the tool
// so.
//
// +checklocksalias:peer.mu=mu
type unixSocket struct {
	typ   int // unix.SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET
	mu    *sync.Mutex
	queue waiter.Queue // +checklocksignore: not guarded (it has its own lock; the tool guesses from uses under mu)

	// +checklocks:mu
	state int
	// +checklocks:mu
	shutdown int
	// +checklocks:mu
	err unix.Errno // pending socket error (sk_err), 0 if none
	// +checklocks:mu
	peer *unixSocket
	// +checklocks:mu
	dead bool // released (SOCK_DEAD)
	// +checklocks:mu
	recv skbQueue
	// +checklocks:mu
	wmem int64 // sk_wmem_alloc: 1 + truesize of this socket's skbs in flight
	// +checklocks:mu
	sndbuf int64
	// oob is the skb holding the pending out-of-band byte (oob_skb), nil
	// if none; it is also in recv (oob.go).
	// +checklocks:mu
	oob *skb

	// Addressing and listening (unixlisten.go).
	// +checklocks:mu
	name []byte // bound address (sun_path bytes), nil if unbound
	// +checklocks:mu
	ns *UnixNamespace // where name is bound
	// +checklocks:mu
	backlog int // sk_max_ack_backlog
	// +checklocks:mu
	pending []*unixSocket // a listener's embryos, oldest first
	// peerWait is where connects to this full listener wait (peer_wait).
	peerWait waiter.Queue
}

// Shutdowner is implemented by sockets (shutdown(2)). how is SHUT_RD,
// SHUT_WR or SHUT_RDWR; anything else is EINVAL. As on Linux, shutting down
// an unconnected AF_UNIX socket succeeds (no ENOTCONN).
type Shutdowner interface {
	Shutdown(f *File, how int) error
}

// Socket is implemented by sockets.
type Socket interface {
	Shutdowner
	// Type returns SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET.
	Type() int
	// Outq and Inq are the SIOCOUTQ and SIOCINQ ioctls: the send-buffer
	// charge and the bytes readable (the first datagram's size for
	// SOCK_DGRAM).
	Outq() int
	Inq() int
}

// checkSocketArgs validates socket(2)/socketpair(2) arguments for AF_UNIX,
// returning the effective type (SOCK_RAW is SOCK_DGRAM).
func checkSocketArgs(typ int, flags uint32) (int, error) {
	if flags&^uint32(unix.O_NONBLOCK|unix.O_CLOEXEC) != 0 {
		return 0, unix.EINVAL
	}
	if typ < 0 || typ > unix.SOCK_PACKET { // SOCK_MAX
		return 0, unix.EINVAL
	}
	switch typ {
	case unix.SOCK_STREAM, unix.SOCK_DGRAM, unix.SOCK_SEQPACKET:
		return typ, nil
	case unix.SOCK_RAW:
		return unix.SOCK_DGRAM, nil
	}
	return 0, unix.ESOCKTNOSUPPORT
}

func newUnixSocket(typ int, mu *sync.Mutex, state int) *unixSocket {
	return &unixSocket{typ: typ, mu: mu, state: state, wmem: 1, sndbuf: DefaultSocketSendBuffer}
}

// NewSocketPair returns a connected pair of AF_UNIX sockets
// (socketpair(AF_UNIX, typ|flags, 0)). typ is the socket type with the
// SOCK_NONBLOCK/SOCK_CLOEXEC bits removed: SOCK_STREAM, SOCK_DGRAM,
// SOCK_SEQPACKET, or SOCK_RAW (which Linux turns into SOCK_DGRAM); other
// types below SOCK_MAX are ESOCKTNOSUPPORT, the rest EINVAL. flags may hold
// O_NONBLOCK (and O_CLOEXEC, the fd table's); other bits are EINVAL.
func NewSocketPair(typ int, flags uint32) (a, b *File, err error) {
	typ, err = checkSocketArgs(typ, flags)
	if err != nil {
		return nil, nil, err
	}
	mu := new(sync.Mutex)
	sa := newUnixSocket(typ, mu, sockEstablished)
	sb := newUnixSocket(typ, mu, sockEstablished)
	sa.peer, sb.peer = sb, sa // +checklocksignore: not shared yet.
	fl := unix.O_RDWR | flags&unix.O_NONBLOCK
	return New(sa, fl), New(sb, fl), nil
}

// NewSocket returns an unbound, unconnected AF_UNIX socket
// (socket(AF_UNIX, typ|flags, 0)), with NewSocketPair's argument rules.
func NewSocket(typ int, flags uint32) (*File, error) {
	typ, err := checkSocketArgs(typ, flags)
	if err != nil {
		return nil, err
	}
	s := newUnixSocket(typ, new(sync.Mutex), sockClose)
	return New(s, unix.O_RDWR|flags&unix.O_NONBLOCK), nil
}

// Type implements Socket.
func (s *unixSocket) Type() int { return s.typ }

// writableLocked is unix_writable: not listening and at most a quarter of
// the send buffer in use.
//
// +checklocks:s.mu
func (s *unixSocket) writableLocked() bool {
	return s.state != sockListen && s.wmem<<2 <= s.sndbuf
}

// takeErrorLocked is sock_error: return and clear the pending error.
//
// +checklocks:s.mu
func (s *unixSocket) takeErrorLocked() error {
	if s.err == 0 {
		return nil
	}
	err := s.err
	s.err = 0
	return err
}

// freeSkbLocked drops b's charge on its sender and records the sender's
// write-space wakeup (sock_wfree → unix_write_space). Linux checks
// writability with one unit of the charge still held. b was on s's queue;
// its sender shares s.mu (the sockets an skb travels between share one
// mutex), which the tool cannot see through b.
//
// +checklocks:s.mu
func (s *unixSocket) freeSkbLocked(b *skb, w *wakeups) {
	sender := b.sender
	sender.wmem -= b.truesize - 1                // +checklocksignore: sender shares s.mu.
	if !sender.dead && sender.writableLocked() { // +checklocksignore: sender shares s.mu.
		w.add(&sender.queue, waiter.EventOut|waiter.EventWrNorm|waiter.EventWrBand, false)
	}
	sender.wmem-- // +checklocksignore: sender shares s.mu.
}

// dropUnchargedLocked is freeing an skb that was allocated for a send
// that then failed: the sender's write-space callback runs as for any
// freed skb.
//
// +checklocks:s.mu
func (s *unixSocket) dropUnchargedLocked(w *wakeups) {
	// The check sees the charge as it is without the skb plus the one
	// unit sock_wfree keeps across the callback.
	if (s.wmem+1)<<2 <= s.sndbuf {
		w.add(&s.queue, waiter.EventOut|waiter.EventWrNorm|waiter.EventWrBand, false)
	}
}

const dataReadyKey = waiter.EventIn | waiter.EventPri | waiter.EventRdNorm | waiter.EventRdBand

// Read implements Impl.Read (read(2), i.e. recvmsg without flags).
func (s *unixSocket) Read(f *File, dst []byte) (int, error) {
	return s.ReadSeq(f, NewByteSequence(dst))
}

// ReadSeq implements SequenceIO. A stream read copies skb by skb and stops
// at the first one whose copy faults, which stays queued whole (EFAULT if
// nothing came before it). A datagram is dequeued before it is copied: a
// fault loses it (EFAULT), and whatever does not fit is discarded.
func (s *unixSocket) ReadSeq(f *File, dst IOSequence) (int, error) {
	if dst.Len() == 0 {
		return 0, nil // sock_read_iter: a null read returns at once
	}
	n, _, err := s.RecvSeq(f, dst, 0)
	return n, err
}

// RecvSeq implements MessageIO.
func (s *unixSocket) RecvSeq(f *File, dst IOSequence, flags int) (int, []byte, error) {
	if s.typ == unix.SOCK_STREAM {
		return s.streamRead(dst, flags)
	}
	return s.dgramRead(f, dst, flags)
}

// streamRead is unix_stream_read_generic: MSG_OOB reads the out-of-band
// byte (oob.go); otherwise bytes are copied skb by skb, stopping at the
// out-of-band mark once something was read (manageOOBLocked). MSG_PEEK
// copies without consuming. It returns the address of the first skb's
// sender.
func (s *unixSocket) streamRead(dst IOSequence, flags int) (int, []byte, error) {
	var w wakeups
	s.mu.Lock()
	if s.state != sockEstablished {
		s.mu.Unlock()
		return 0, nil, unix.EINVAL
	}
	if flags&unix.MSG_OOB != 0 {
		n, from, err := s.recvOOBLocked(dst, flags&unix.MSG_PEEK != 0, &w)
		s.mu.Unlock()
		w.run()
		return n, from, err
	}
	peek := flags&unix.MSG_PEEK != 0
	copied := 0
	var from []byte
	var err error
	// At least one pass: an empty buffer still finds EAGAIN, EOF or an
	// error when nothing is queued, and returns 0 otherwise.
	for i, first := 0, true; first || dst.Len() > 0; first = false {
		b := s.manageOOBLocked(&i, peek, copied, &w)
		if b == nil {
			if copied > 0 {
				break
			}
			// POSIX order: pending error, then EOF, then EAGAIN.
			if err = s.takeErrorLocked(); err != nil {
				break
			}
			if s.shutdown&shutRcv != 0 {
				break
			}
			err = unix.EAGAIN
			break
		}
		n := min(len(b.data)-b.consumed, dst.Len())
		if c, _ := dst.CopyOut(b.data[b.consumed : b.consumed+n]); c < n {
			if copied == 0 {
				err = unix.EFAULT
			}
			break
		}
		if copied == 0 {
			from = b.sender.name // +checklocksignore: the sender shares s.mu.
		}
		copied += n
		if peek {
			i++
			continue
		}
		b.consumed += n
		if b.consumed < len(b.data) {
			break
		}
		s.recv.pop()
		s.freeSkbLocked(b, &w)
	}
	s.mu.Unlock()
	w.run()
	if copied > 0 {
		return copied, from, nil
	}
	return 0, nil, err
}

// dgramRead is unix_dgram_recvmsg (and unix_seqpacket_recvmsg). MSG_OOB
// is EOPNOTSUPP; MSG_PEEK copies the first datagram and leaves it queued;
// MSG_DONTWAIT counts as O_NONBLOCK.
func (s *unixSocket) dgramRead(f *File, dst IOSequence, flags int) (int, []byte, error) {
	var w wakeups
	s.mu.Lock()
	if s.typ == unix.SOCK_SEQPACKET && s.state != sockEstablished {
		s.mu.Unlock()
		return 0, nil, unix.ENOTCONN
	}
	if flags&unix.MSG_OOB != 0 {
		s.mu.Unlock()
		return 0, nil, unix.EOPNOTSUPP
	}
	if err := s.takeErrorLocked(); err != nil {
		s.mu.Unlock()
		return 0, nil, err
	}
	b := s.recv.peek()
	if b == nil {
		// Receive side shut: seqpacket reads EOF; a datagram read that
		// would block also returns 0, a non-blocking one EAGAIN.
		nonblock := f.Nonblocking() || flags&unix.MSG_DONTWAIT != 0
		eof := s.shutdown&shutRcv != 0 && (s.typ == unix.SOCK_SEQPACKET || !nonblock)
		s.mu.Unlock()
		if eof {
			return 0, nil, nil
		}
		return 0, nil, unix.EAGAIN
	}
	peek := flags&unix.MSG_PEEK != 0
	if !peek {
		s.recv.pop()
	}
	n := min(len(b.data), dst.Len()) // the rest of the message is discarded
	c, _ := dst.CopyOut(b.data[:n])
	from := b.sender.name // +checklocksignore: the sender shares s.mu.
	if !peek {
		s.freeSkbLocked(b, &w)
	}
	s.mu.Unlock()
	w.run()
	if c < n {
		return 0, nil, unix.EFAULT
	}
	return n, from, nil
}

// Write implements Impl.Write (write(2), i.e. sendmsg without flags).
func (s *unixSocket) Write(f *File, src []byte) (int, error) {
	return s.WriteSeq(f, NewByteSequence(src))
}

// WriteSeq implements SequenceIO. Each skb (a whole datagram, or one piece
// of a stream write) is copied in after its buffer space is allocated; a
// fault drops it (which runs the write-space wakeup, as freeing an
// uncharged skb does) and ends the call with EFAULT, or with the count of
// the stream pieces already queued.
func (s *unixSocket) WriteSeq(f *File, src IOSequence) (int, error) {
	return s.SendSeq(f, src, 0, nil)
}

// SendSeq implements MessageIO.
func (s *unixSocket) SendSeq(f *File, src IOSequence, flags int, addr []byte) (int, error) {
	if s.typ == unix.SOCK_STREAM {
		return s.streamWrite(src, flags, len(addr) > 0)
	}
	return s.dgramWrite(src, flags, addr)
}

// streamWrite is unix_stream_sendmsg. With MSG_OOB the last byte goes as
// the out-of-band byte (queueOOBLocked) once the others are queued; an
// empty MSG_OOB send is EOPNOTSUPP. An addressed send is EISCONN when
// connected, EOPNOTSUPP otherwise.
func (s *unixSocket) streamWrite(src IOSequence, flags int, addressed bool) (int, error) {
	oob := flags&unix.MSG_OOB != 0
	if oob && src.Len() == 0 {
		return 0, unix.EOPNOTSUPP
	}
	var w wakeups
	s.mu.Lock()
	if addressed {
		err := unix.EOPNOTSUPP
		if s.state == sockEstablished {
			err = unix.EISCONN
		}
		s.mu.Unlock()
		return 0, err
	}
	other := s.peer
	if other == nil {
		s.mu.Unlock()
		return 0, unix.ENOTCONN
	}
	if s.shutdown&shutSend != 0 {
		s.mu.Unlock()
		return 0, unix.EPIPE
	}
	sent := 0
	var err error
	oobBytes := 0 // the out-of-band byte, kept for queueOOBLocked
	if oob {
		oobBytes = 1
	}
	for src.Len() > oobBytes {
		size, truesize := streamSkbSize(src.Len()-oobBytes, s.sndbuf)
		// sock_alloc_send_pskb.
		if err = s.takeErrorLocked(); err != nil {
			break
		}
		if s.shutdown&shutSend != 0 {
			err = unix.EPIPE
			break
		}
		if s.wmem-1 >= s.sndbuf {
			err = unix.EAGAIN
			break
		}
		if other.dead || other.shutdown&shutRcv != 0 {
			// The skb would be allocated and dropped; unreachable in the
			// model (these states also shut this socket's sending side).
			s.dropUnchargedLocked(&w)
			err = unix.EPIPE
			break
		}
		data := make([]byte, size)
		if n, _ := src.CopyIn(data); n < size {
			s.dropUnchargedLocked(&w)
			err = unix.EFAULT
			break
		}
		other.recv.push(&skb{data: data, truesize: truesize, sender: s})
		s.wmem += truesize
		w.add(&other.queue, dataReadyKey, false)
		sent += size
	}
	if oob && err == nil {
		if err = s.queueOOBLocked(other, src, &w); err == nil {
			sent++
		}
	}
	s.mu.Unlock()
	w.run()
	if sent > 0 {
		return sent, nil
	}
	return 0, err
}

func (s *unixSocket) dgramWrite(src IOSequence, flags int, addr []byte) (int, error) {
	var w wakeups
	s.mu.Lock()
	n, err := s.dgramWriteLocked(src, flags, addr, &w)
	s.mu.Unlock()
	w.run()
	return n, err
}

// dgramWriteLocked is unix_dgram_sendmsg (and unix_seqpacket_sendmsg) in
// the order of checks Linux 6.18 shows: the message size, the send-buffer
// allocation (pending error, own SEND_SHUTDOWN, buffer space), the peer.
//
// +checklocks:s.mu
func (s *unixSocket) dgramWriteLocked(src IOSequence, flags int, addr []byte, w *wakeups) (int, error) {
	if s.typ == unix.SOCK_SEQPACKET {
		if err := s.takeErrorLocked(); err != nil {
			return 0, err
		}
		if s.state != sockEstablished {
			return 0, unix.ENOTCONN
		}
		addr = nil // unix_seqpacket_sendmsg ignores the address
	}
	if flags&unix.MSG_OOB != 0 {
		return 0, unix.EOPNOTSUPP
	}
	if len(addr) > 0 {
		if len(addr) <= 2 || len(addr) > 2+maxUnixAddr || addr[0] != unix.AF_UNIX || addr[1] != 0 {
			return 0, unix.EINVAL // unix_validate_addr
		}
		return 0, unix.EOPNOTSUPP // datagrams to an address: not modelled
	}
	size := src.Len()
	if int64(size) > s.sndbuf-32 {
		return 0, unix.EMSGSIZE
	}
	if err := s.takeErrorLocked(); err != nil {
		return 0, err
	}
	if s.shutdown&shutSend != 0 {
		return 0, unix.EPIPE
	}
	if s.wmem-1 >= s.sndbuf {
		return 0, unix.EAGAIN
	}
	// From here on an skb exists: failing drops it, which runs this
	// socket's write-space callback. The message is copied in first.
	data := make([]byte, size)
	if n, _ := src.CopyIn(data); n < size {
		s.dropUnchargedLocked(w)
		return 0, unix.EFAULT
	}
	other := s.peer
	if other == nil {
		s.dropUnchargedLocked(w)
		return 0, unix.ENOTCONN
	}
	if other.dead {
		if s.typ == unix.SOCK_SEQPACKET {
			s.dropUnchargedLocked(w)
			return 0, unix.EPIPE
		}
		// Disconnect from the dead peer: wake our writers, forget the
		// peer, drop the datagrams it left us.
		s.peer = nil
		w.add(&s.queue, waiter.EventOut|waiter.EventWrNorm|waiter.EventWrBand, false)
		s.state = sockClose
		for s.recv.len() > 0 {
			s.freeSkbLocked(s.recv.pop(), w)
		}
		s.dropUnchargedLocked(w)
		return 0, unix.ECONNREFUSED
	}
	if other.shutdown&shutRcv != 0 {
		s.dropUnchargedLocked(w)
		return 0, unix.EPIPE
	}
	if other.peer != s && other.recv.len() > maxDgramQlen {
		s.dropUnchargedLocked(w)
		return 0, unix.EAGAIN
	}
	truesize := dgramTruesize(size)
	other.recv.push(&skb{data: data, truesize: truesize, sender: s})
	s.wmem += truesize
	w.add(&other.queue, dataReadyKey, false)
	return size, nil
}

// Shutdown implements Shutdowner.
func (s *unixSocket) Shutdown(f *File, how int) error {
	if how < unix.SHUT_RD || how > unix.SHUT_RDWR {
		return unix.EINVAL
	}
	mode := how + 1 // SHUT_RD→RCV, SHUT_WR→SEND, SHUT_RDWR→both
	var w wakeups
	s.mu.Lock()
	s.shutdown |= mode
	w.add(&s.queue, 0, true)
	if other := s.peer; other != nil && s.typ != unix.SOCK_DGRAM {
		peerMode := 0
		if mode&shutRcv != 0 {
			peerMode |= shutSend
		}
		if mode&shutSend != 0 {
			peerMode |= shutRcv
		}
		other.shutdown |= peerMode
		w.add(&other.queue, 0, true)
	}
	s.mu.Unlock()
	w.run()
	return nil
}

// Release implements Impl.Release (unix_release_sock).
func (s *unixSocket) Release(f *File) { s.release(false) }

// release is unix_release_sock. An embryo (a connection a listener had
// not accepted when it closed) resets its client even with nothing
// unread. A bound socket frees its name first; a listener wakes every
// connect waiting for room, then releases its embryos.
func (s *unixSocket) release(embryo bool) {
	s.unbind()
	var w wakeups
	s.mu.Lock()
	s.dead = true
	s.shutdown = shutBoth
	s.state = sockClose
	other := s.peer
	s.peer = nil
	s.oob = nil
	pending := s.pending
	s.pending = nil
	if other != nil && s.typ != unix.SOCK_DGRAM {
		other.shutdown = shutBoth
		// Unread data resets the peer. Like unix_release_sock, look past
		// a first message with nothing left to read (a zero-length one).
		if b := s.recv.peek(); embryo || b != nil && (len(b.data) > b.consumed || s.recv.len() > 1) {
			other.err = unix.ECONNRESET
		}
		w.add(&other.queue, 0, true)
	}
	w.add(&s.peerWait, 0, true)
	for s.recv.len() > 0 {
		s.freeSkbLocked(s.recv.pop(), &w)
	}
	s.mu.Unlock()
	w.run()
	for _, e := range pending {
		e.release(true)
	}
}

// Readiness implements Pollable (unix_poll for streams, unix_dgram_poll for
// datagram and seqpacket sockets, which computes OUT only when the poller
// asked for one of OUT, WRNORM, WRBAND).
func (s *unixSocket) Readiness(f *File, mask waiter.EventMask) waiter.EventMask {
	s.mu.Lock()
	defer s.mu.Unlock()
	var m waiter.EventMask
	if s.err != 0 {
		m |= waiter.EventErr
	}
	if s.shutdown == shutBoth {
		m |= waiter.EventHUp
	}
	if s.shutdown&shutRcv != 0 {
		m |= waiter.EventRdHUp | waiter.EventIn | waiter.EventRdNorm
	}
	if s.recv.len() > 0 || len(s.pending) > 0 {
		m |= waiter.EventIn | waiter.EventRdNorm
	}
	if s.oob != nil {
		m |= waiter.EventPri
	}
	if s.typ != unix.SOCK_DGRAM && s.state == sockClose {
		m |= waiter.EventHUp
	}
	const outBits = waiter.EventOut | waiter.EventWrNorm | waiter.EventWrBand
	if s.typ != unix.SOCK_STREAM && mask&outBits == 0 {
		return m
	}
	writable := s.writableLocked()
	if writable && s.typ != unix.SOCK_STREAM {
		// A datagram socket whose peer is not connected back must wait
		// for room in the peer's queue (never the case for pairs).
		if o := s.peer; o != nil && o.peer != s && o.recv.len() > maxDgramQlen && !o.dead {
			writable = false
		}
	}
	if writable {
		m |= outBits
	}
	return m
}

// EventRegister implements Pollable.
func (s *unixSocket) EventRegister(f *File, w *waiter.Entry) { s.queue.Register(w) }

// EventUnregister implements Pollable.
func (s *unixSocket) EventUnregister(f *File, w *waiter.Entry) { s.queue.Unregister(w) }

// HookQueue implements HookQueuer: a socket hooks its one queue.
func (s *unixSocket) HookQueue(*File) *waiter.Queue { return &s.queue }

// Outq implements Socket.
func (s *unixSocket) Outq() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(s.wmem - 1)
}

// Inq implements Socket.
func (s *unixSocket) Inq() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.typ == unix.SOCK_DGRAM {
		if b := s.recv.peek(); b != nil {
			return len(b.data)
		}
		return 0
	}
	n := 0
	for _, b := range s.recv.q[s.recv.head:] {
		n += len(b.data) - b.consumed
	}
	return n
}

// CheckInvariants implements InvariantChecker: every byte charged to a
// socket is an skb in its peer's queue, peers point at each other, a dead
// socket holds nothing.
//
// +checklocksignore: checks s and s.peer in one loop, both under s.mu.
func (s *unixSocket) CheckInvariants() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == sockListen {
		return s.checkListenerLocked()
	}
	if s.oob != nil && s.recv.indexOf(s.oob) < 0 {
		return fmt.Errorf("socket: the OOB skb is not queued")
	}
	socks := []*unixSocket{s}
	if s.peer != nil {
		socks = append(socks, s.peer)
	}
	for _, x := range socks {
		if x.shutdown&^shutBoth != 0 {
			return fmt.Errorf("socket: shutdown bits %#x", x.shutdown)
		}
		if x.dead && (x.recv.len() > 0 || x.peer != nil) {
			return fmt.Errorf("socket: released socket still has %d skbs / a peer", x.recv.len())
		}
		if x.peer != nil && !x.peer.dead && x.peer.peer != x {
			return fmt.Errorf("socket: peer is not connected back")
		}
		if x.peer != nil && x.state != sockEstablished {
			return fmt.Errorf("socket: has a peer but state %d", x.state)
		}
		// The charge of x is what sits in its live peer's queue.
		charged := int64(1)
		if p := x.peer; p != nil {
			for _, b := range p.recv.q[p.recv.head:] {
				if b.sender == x {
					charged += b.truesize
				}
				if b.consumed < 0 || b.consumed > len(b.data) {
					return fmt.Errorf("socket: skb consumed %d of %d", b.consumed, len(b.data))
				}
			}
		}
		if x.peer != nil && x.wmem != charged {
			return fmt.Errorf("socket: wmem %d, skbs in flight charge %d", x.wmem, charged)
		}
		if x.peer == nil && x.wmem < 1 {
			return fmt.Errorf("socket: wmem %d", x.wmem)
		}
	}
	return nil
}
