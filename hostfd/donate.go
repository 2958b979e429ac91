package hostfd

import (
	"encoding/binary"
	"errors"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
)

// Donation of host fds over host unix sockets (SCM_RIGHTS).
//
// A Conn carries framed messages: an 8-byte header (payload length and fd
// count, little-endian uint32s), then the payload, sent with one sendmsg
// whose SCM_RIGHTS control message carries the fds. The kernel attaches
// the fds to the first bytes of that sendmsg, which are the header, so a
// receiver that reads exactly one header first gets exactly that
// message's fds: a recvmsg never crosses a message boundary with fds
// attached. On a SOCK_SEQPACKET socket (SocketPair, Listen and Dial's
// default) each message is one record read by one recvmsg; on SOCK_STREAM
// the header is read alone, then exactly the payload, and fds arriving
// anywhere but with the header are a framing error.
//
// Received fds belong to the receiver. Whenever a receive fails after fds
// arrived (truncated control data, a framing error, a payload larger than
// the buffer), those fds are closed before the error is returned, so none
// leaks and none is ever attached to another message.

// Errors of Conn. Classify sorts them, and the system call errors, into
// what a caller does next.
var (
	// ErrPeerClosed: the peer closed the connection (end of stream).
	ErrPeerClosed = errors.New("hostfd: peer closed the connection")
	// ErrCtrunc: the message carried more fds than the receiver accepts
	// (MSG_CTRUNC); the fds that arrived were closed, the message is
	// lost, the connection is still in step.
	ErrCtrunc = errors.New("hostfd: control data truncated (too many fds)")
	// ErrTruncated: the payload did not fit the buffer; the message (and
	// its fds, closed) is lost, the connection is still in step.
	ErrTruncated = errors.New("hostfd: message larger than the buffer")
	// ErrFraming: the byte stream does not follow the framing (a bad
	// header, fds outside a header, a count that does not match); the
	// connection cannot be trusted any more.
	ErrFraming = errors.New("hostfd: message framing broken")
	// ErrConnClosed: the Conn was closed by its owner.
	ErrConnClosed = errors.New("hostfd: use of a closed Conn")
	// ErrTooManyFDs: a send of more than MaxFDsPerMessage fds.
	ErrTooManyFDs = errors.New("hostfd: too many fds for one message")
)

// ErrorClass is what a caller should do about an error.
type ErrorClass int

const (
	// ClassNone: no error.
	ClassNone ErrorClass = iota
	// ClassRetry: try again (EINTR, EAGAIN: a signal, or a non-blocking
	// socket that is not ready).
	ClassRetry
	// ClassPeerClosed: the peer is gone (end of stream, EPIPE,
	// ECONNRESET); close the Conn.
	ClassPeerClosed
	// ClassBroken: the socket or its framing is unusable (EBADF, ENOTSOCK,
	// ENOTCONN, a framing error, a closed Conn); close it.
	ClassBroken
	// ClassOther: anything else (a lost message such as ErrCtrunc or
	// ErrTruncated, EMFILE, ENOBUFS...); the connection may go on.
	ClassOther
)

func (c ErrorClass) String() string {
	return [...]string{"none", "retry", "peer-closed", "broken", "other"}[c]
}

// Classify returns err's class.
func Classify(err error) ErrorClass {
	var e unix.Errno
	switch {
	case err == nil:
		return ClassNone
	case errors.Is(err, ErrPeerClosed):
		return ClassPeerClosed
	case errors.Is(err, ErrFraming), errors.Is(err, ErrConnClosed):
		return ClassBroken
	case errors.As(err, &e):
		switch e {
		case unix.EINTR, unix.EAGAIN:
			return ClassRetry
		case unix.EPIPE, unix.ECONNRESET:
			return ClassPeerClosed
		case unix.EBADF, unix.ENOTSOCK, unix.ENOTCONN, unix.EDESTADDRREQ, unix.EINVAL:
			return ClassBroken
		}
	}
	return ClassOther
}

const (
	headerSize = 8
	// MaxFDsPerMessage is SCM_MAX_FD: the most fds one sendmsg may carry.
	MaxFDsPerMessage = 253
	// DefaultMaxFDs is how many fds a Conn accepts per message unless
	// told otherwise.
	DefaultMaxFDs = 16
)

// Conn is a host unix socket carrying framed messages with fds. Send and
// Recv may be called concurrently with each other; concurrent Sends (or
// Recvs) are serialised.
type Conn struct {
	// MaxFDs is the most fds a received message may carry (the control
	// buffer's room); a message with more is ErrCtrunc. Set before use;
	// 0 means DefaultMaxFDs.
	MaxFDs int

	typ int // +checklocksignore: not guarded (immutable; the tool guesses so, as reads hold recvMu)

	sendMu sync.Mutex
	recvMu sync.Mutex

	mu sync.Mutex
	// +checklocks:mu
	fd int // -1 once closed
	// +checklocks:mu
	active int // calls using fd
	// idle's lock is mu.
	// +checklocks:mu
	idle sync.Cond
}

// NewConn makes a Conn of a connected AF_UNIX socket of type
// SOCK_SEQPACKET or SOCK_STREAM and takes ownership of fd (closed on
// error too). The socket's blocking mode is left as it is: on a
// non-blocking socket Send and Recv return EAGAIN (ClassRetry).
func NewConn(fd int) (*Conn, error) {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err == nil && typ != unix.SOCK_SEQPACKET && typ != unix.SOCK_STREAM {
		err = unix.ESOCKTNOSUPPORT
	}
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	c := &Conn{fd: fd, typ: typ}
	c.idle.L = &c.mu
	return c, nil
}

// SocketPair returns two connected Conns (socketpair(AF_UNIX, typ)); typ
// is unix.SOCK_SEQPACKET or unix.SOCK_STREAM.
func SocketPair(typ int) (*Conn, *Conn, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	a, err := NewConn(fds[0])
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	b, err := NewConn(fds[1])
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

// Listener is a listening host unix socket bound to a path.
type Listener struct {
	conn *Conn // only its fd and lifetime are used
	path string
}

// Listen binds a SOCK_SEQPACKET unix socket to path and listens on it.
func Listen(path string) (*Listener, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.Listen(fd, 16); err != nil {
		unix.Close(fd)
		return nil, err
	}
	c := &Conn{fd: fd, typ: unix.SOCK_SEQPACKET}
	c.idle.L = &c.mu
	return &Listener{conn: c, path: path}, nil
}

// Accept waits for a connection.
func (l *Listener) Accept() (*Conn, error) {
	fd, err := l.conn.acquire()
	if err != nil {
		return nil, err
	}
	nfd, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
	l.conn.release()
	if err != nil {
		return nil, err
	}
	return NewConn(nfd)
}

// Close closes the listening socket and removes its path. An Accept in
// progress returns (shutdown wakes it) with an error.
func (l *Listener) Close() error {
	err := l.conn.Close()
	unix.Unlink(l.path)
	return err
}

// Dial connects a SOCK_SEQPACKET unix socket to path.
func Dial(path string) (*Conn, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return NewConn(fd)
}

// acquire returns the fd for one call, which must call release.
func (c *Conn) acquire() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return -1, ErrConnClosed
	}
	c.active++
	return c.fd, nil
}

func (c *Conn) release() {
	c.mu.Lock()
	c.active--
	if c.active == 0 {
		c.idle.Broadcast()
	}
	c.mu.Unlock()
}

// Close shuts the socket down (waking calls blocked in it), waits for
// them to return and closes it, once.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.fd < 0 {
		c.mu.Unlock()
		return ErrConnClosed
	}
	fd := c.fd
	unix.Shutdown(fd, unix.SHUT_RDWR)
	for c.active > 0 {
		c.idle.Wait()
	}
	c.fd = -1
	c.mu.Unlock()
	return unix.Close(fd)
}

// Send sends one message: data and the fds (which stay the caller's: the
// receiver gets duplicates). At most MaxFDsPerMessage fds.
func (c *Conn) Send(data []byte, fds []int) error {
	if len(fds) > MaxFDsPerMessage {
		return ErrTooManyFDs
	}
	if uint64(len(data)) > 1<<31 {
		return unix.EMSGSIZE
	}
	var hdr [headerSize]byte
	binary.LittleEndian.PutUint32(hdr[:], uint32(len(data)))
	binary.LittleEndian.PutUint32(hdr[4:], uint32(len(fds)))
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	fd, err := c.acquire()
	if err != nil {
		return err
	}
	defer c.release()
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	bufs := [][]byte{hdr[:], data}
	total := headerSize + len(data)
	sent := 0
	for sent < total {
		n, err := unix.SendmsgBuffers(fd, bufs, oob, nil, unix.MSG_NOSIGNAL)
		if err != nil {
			if err == unix.EINTR && sent > 0 {
				continue // a stream write part-way: finish the message
			}
			return err
		}
		if sent == 0 && n == 0 {
			return unix.EPIPE
		}
		sent += n
		oob = nil // the fds went with the first bytes
		bufs = advance(bufs, n)
	}
	return nil
}

// advance drops n bytes from the front of bufs.
func advance(bufs [][]byte, n int) [][]byte {
	for n > 0 && len(bufs) > 0 {
		if n >= len(bufs[0]) {
			n -= len(bufs[0])
			bufs = bufs[1:]
			continue
		}
		bufs[0] = bufs[0][n:]
		n = 0
	}
	return bufs
}

// SendFiles sends data with the host fds of imported files (which stay
// the sender's). Every file must be an imported host fd.
func (c *Conn) SendFiles(data []byte, files []*fs.File) error {
	fds := make([]int, len(files))
	for i, f := range files {
		_, h := hostOf(f)
		if h == nil {
			return unix.EINVAL
		}
		fds[i] = int(h.fd)
	}
	return c.Send(data, fds)
}

// Recv receives one message into buf and returns the payload length and
// the fds that came with it, which the caller now owns.
func (c *Conn) Recv(buf []byte) (int, []int, error) {
	fd, err := c.acquire()
	if err != nil {
		return 0, nil, err
	}
	defer c.release()
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	maxFDs := c.MaxFDs
	if maxFDs <= 0 {
		maxFDs = DefaultMaxFDs
	}
	oob := make([]byte, unix.CmsgSpace(4*maxFDs))
	var hdr [headerSize]byte
	if c.typ == unix.SOCK_SEQPACKET {
		return recvRecord(fd, hdr[:], buf, oob)
	}
	return recvStream(fd, hdr[:], buf, oob)
}

// recvRecord receives one seqpacket record.
func recvRecord(fd int, hdr, buf, oob []byte) (int, []int, error) {
	n, oobn, flags, _, err := unix.RecvmsgBuffers(fd, [][]byte{hdr, buf}, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return 0, nil, err
	}
	fds, perr := parseRights(oob[:oobn])
	switch {
	case flags&unix.MSG_CTRUNC != 0:
		return 0, nil, closeAll(fds, ErrCtrunc)
	case perr != nil:
		return 0, nil, closeAll(fds, ErrFraming)
	case n == 0 && len(fds) == 0:
		return 0, nil, ErrPeerClosed
	case flags&unix.MSG_TRUNC != 0:
		return 0, nil, closeAll(fds, ErrTruncated)
	case n < headerSize:
		return 0, nil, closeAll(fds, ErrFraming)
	}
	size := int(binary.LittleEndian.Uint32(hdr))
	nfds := int(binary.LittleEndian.Uint32(hdr[4:]))
	if size != n-headerSize || nfds != len(fds) {
		return 0, nil, closeAll(fds, ErrFraming)
	}
	return size, fds, nil
}

// recvStream receives one message from a byte stream: the header alone
// (with the fds), then exactly the payload.
func recvStream(fd int, hdr, buf, oob []byte) (int, []int, error) {
	var fds []int
	got := 0
	for got < headerSize {
		n, oobn, flags, _, err := unix.Recvmsg(fd, hdr[got:], oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR && got > 0 {
			continue
		}
		if err != nil {
			return 0, nil, closeAll(fds, err)
		}
		more, perr := parseRights(oob[:oobn])
		fds = append(fds, more...)
		switch {
		case flags&unix.MSG_CTRUNC != 0:
			// The rest of the message must still be consumed to stay in
			// step; the header tells how much.
			if err := skipRest(fd, hdr, got+n); err != nil {
				return 0, nil, closeAll(fds, err)
			}
			return 0, nil, closeAll(fds, ErrCtrunc)
		case perr != nil || got > 0 && len(more) > 0:
			return 0, nil, closeAll(fds, ErrFraming)
		case n == 0 && got == 0:
			return 0, nil, closeAll(fds, ErrPeerClosed)
		case n == 0:
			return 0, nil, closeAll(fds, ErrFraming)
		}
		got += n
	}
	size := int(binary.LittleEndian.Uint32(hdr))
	nfds := int(binary.LittleEndian.Uint32(hdr[4:]))
	if nfds != len(fds) {
		return 0, nil, closeAll(fds, ErrFraming)
	}
	dst := buf
	if size > len(buf) {
		dst = make([]byte, size) // read it all to stay in step, then drop it
	}
	if err := readFull(fd, dst[:size], oob); err != nil {
		return 0, nil, closeAll(fds, err)
	}
	if size > len(buf) {
		return 0, nil, closeAll(fds, ErrTruncated)
	}
	return size, fds, nil
}

// readFull reads exactly len(dst) payload bytes; fds arriving with them
// break the framing.
func readFull(fd int, dst, oob []byte) error {
	for len(dst) > 0 {
		n, oobn, _, _, err := unix.Recvmsg(fd, dst, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if oobn > 0 {
			stray, _ := parseRights(oob[:oobn])
			closeAll(stray, nil)
			return ErrFraming
		}
		if n == 0 {
			return ErrFraming // the peer closed inside a message
		}
		dst = dst[n:]
	}
	return nil
}

// skipRest consumes the rest of a message whose first got bytes (of the
// header) were read.
func skipRest(fd int, hdr []byte, got int) error {
	oob := make([]byte, unix.CmsgSpace(4*MaxFDsPerMessage))
	if got < headerSize {
		if err := readFull(fd, hdr[got:headerSize], oob); err != nil {
			return err
		}
	}
	size := int(binary.LittleEndian.Uint32(hdr))
	return readFull(fd, make([]byte, size), oob)
}

// parseRights extracts the fds of SCM_RIGHTS messages, ignoring other
// control messages.
func parseRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for i := range msgs {
		if msgs[i].Header.Level != unix.SOL_SOCKET || msgs[i].Header.Type != unix.SCM_RIGHTS {
			continue
		}
		more, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			return fds, err
		}
		fds = append(fds, more...)
	}
	return fds, nil
}

// closeAll closes fds and returns err.
func closeAll(fds []int, err error) error {
	for _, fd := range fds {
		unix.Close(fd)
	}
	return err
}

// RecvFiles receives one message and imports its fds into b. If any
// import fails, every fd of the message is closed (the imported ones by
// releasing their Files) and the error returned.
func (c *Conn) RecvFiles(b *Bridge, buf []byte) (int, []*fs.File, error) {
	n, fds, err := c.Recv(buf)
	if err != nil {
		return 0, nil, err
	}
	files := make([]*fs.File, 0, len(fds))
	for i, fd := range fds {
		f, err := b.Import(fd, ImportOptions{})
		if err != nil {
			for _, g := range files {
				g.DecRef()
			}
			closeAll(fds[i+1:], nil)
			return 0, nil, err
		}
		files = append(files, f)
	}
	return n, files, nil
}
