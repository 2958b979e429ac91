package fs

import (
	"bytes"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// Binding, listening, connecting and accepting AF_UNIX sockets.
//
// Addresses are abstract (sun_path starting with a NUL byte) and live in a
// UnixNamespace, one per kernel. Filesystem addresses are looked up in the
// kernel's PathNamespace, which holds no socket inodes: connecting to one
// is ENOENT or ENOTDIR for a missing path, ECONNREFUSED for an existing
// one; binding to one is EADDRINUSE when the path exists and otherwise
// not modelled (EOPNOTSUPP). As in Linux, the abstract table is keyed
// by the socket type as well as the name: a stream and a datagram socket
// may bind the same name, and a connect finds only a socket of its own
// type (ECONNREFUSED otherwise). Filesystem (path) addresses are not
// modelled beyond the lookups above.
//
// A listener keeps its not-yet-accepted connections ("embryos") in order.
// connect (unix_stream_connect) makes the embryo, which is connected to
// the client at once: the client is established and writable before the
// accept, and what it writes waits in the embryo. The listener's queue is
// full when it holds more than the backlog (unix_recvq_full), so
// listen(fd, 0) admits one connection; a non-blocking connect to a full
// listener is EAGAIN, a blocking one waits, as an exclusive waiter, on
// the listener's peer_wait queue, which each accept wakes (wake-one, key
// 0) and the listener's close wakes entirely. Each queued connection
// wakes the listener's queue with IN|PRI|RDNORM|RDBAND, wake-one
// (sock_def_readable); a listener is IN|RDNORM while a connection waits,
// never writable. A blocked accept waits on that queue as an exclusive
// waiter, so EPOLLEXCLUSIVE entries and accepts share one wakeup per
// connection.
//
// Closing a listener releases its embryos: each client is reset
// (ECONNRESET, both directions shut, woken with key 0) and its unread
// bytes are freed.
//
// Lock order: UnixNamespace.mu is a leaf; a listener's lock comes before
// the lock of a connection pair (the client's, which its embryo shares).

const (
	// SoMaxConn is net.core.somaxconn: listen's backlog is capped at it.
	SoMaxConn = 4096
	// maxUnixAddr is sizeof(sun_path).
	maxUnixAddr = 108
)

// UnixNamespace is the abstract AF_UNIX address table of a kernel.
type UnixNamespace struct {
	mu sync.Mutex
	// +checklocks:mu
	names map[unixName]*unixSocket
	// +checklocks:mu
	autobind uint32 // the next autobind name
}

type unixName struct {
	typ  int
	name string
}

// NewUnixNamespace returns an empty namespace.
func NewUnixNamespace() *UnixNamespace {
	return &UnixNamespace{names: map[unixName]*unixSocket{}}
}

func (ns *UnixNamespace) lookup(typ int, name []byte) *unixSocket {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.names[unixName{typ, string(name)}]
}

// Listener is implemented by AF_UNIX sockets: bind, listen, connect and
// accept (unix_bind, unix_listen, unix_stream_connect, unix_accept). An
// address is the sun_path bytes of a sockaddr_un (the syscall layer checks
// sun_family and the length: at least one byte, at most 108); an empty
// one asks for autobind.
type Listener interface {
	// Bind binds f to an abstract address in names.Unix: EINVAL if f is
	// bound, EADDRINUSE if the name is taken for f's type. A path
	// address: see the file comment.
	Bind(f *File, names Names, addr []byte) error
	// Listen is listen(2) with the backlog already capped at SoMaxConn:
	// EOPNOTSUPP for datagram sockets, EINVAL if unbound or connected.
	// Listening again changes the backlog.
	Listen(f *File, backlog int) error
	// Connect connects f to the listener bound at addr: ECONNREFUSED
	// when nothing of f's type listens there, EISCONN if f is connected,
	// EINVAL if it listens. EAGAIN means the listener is full: wait (if f
	// blocks) on the returned ConnectWait, then call Connect again. A
	// datagram socket gets ECONNREFUSED when no datagram socket is bound
	// there; connecting it to one is not modelled (EOPNOTSUPP).
	Connect(f *File, names Names, addr []byte) (*ConnectWait, error)
	// Accept takes the oldest connection: EOPNOTSUPP for datagram
	// sockets, EINVAL if f does not listen, EAGAIN if none waits (block on
	// f for IN as an exclusive waiter, then call again). flags may hold
	// O_NONBLOCK. A listener whose receive side is shut returns EINVAL
	// instead of waiting; blocking says whether the caller would wait.
	Accept(f *File, flags uint32, blocking bool) (*File, error)
	// LocalName and PeerName return the bound addresses (nil: unbound).
	LocalName() []byte
	PeerName() []byte
}

// ConnectWait is where a connect to a full listener waits (peer_wait): a
// Waitable for the syscall layer's Task.Block, whose Ready should retry
// the connect. It reports no readiness of its own.
type ConnectWait struct{ q *waiter.Queue }

// NewConnectWait returns the ConnectWait of a listener whose peer_wait
// queue is q, for a Listener of another package: q must be woken (key 0)
// wake-one on each accept and entirely when the listener closes or its
// backlog grows, as a model listener's is.
func NewConnectWait(q *waiter.Queue) *ConnectWait {
	if q == nil {
		panic("fs.NewConnectWait: nil queue")
	}
	return &ConnectWait{q: q}
}

// Readiness implements Waitable.
func (c *ConnectWait) Readiness(mask waiter.EventMask) waiter.EventMask { return 0 }

// EventRegister implements Waitable.
func (c *ConnectWait) EventRegister(e *waiter.Entry) { c.q.Register(e) }

// EventUnregister implements Waitable.
func (c *ConnectWait) EventUnregister(e *waiter.Entry) { c.q.Unregister(e) }

// Bind implements Listener.
func (s *unixSocket) Bind(f *File, names Names, addr []byte) error {
	if len(addr) > 0 && addr[0] != 0 {
		s.mu.Lock()
		bound := s.name != nil
		s.mu.Unlock()
		if bound {
			return unix.EINVAL
		}
		return names.Paths.bindSocket(socketPath(addr))
	}
	ns := names.Unix
	ns.mu.Lock()
	defer ns.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.name != nil {
		return unix.EINVAL
	}
	if len(addr) == 0 {
		// unix_autobind: five hex digits after the NUL.
		for {
			addr = fmt.Appendf([]byte{0}, "%05x", ns.autobind&0xfffff)
			ns.autobind++
			if ns.names[unixName{s.typ, string(addr)}] == nil {
				break
			}
		}
	}
	key := unixName{s.typ, string(addr)}
	if ns.names[key] != nil {
		return unix.EADDRINUSE
	}
	ns.names[key] = s
	s.name, s.ns = append([]byte(nil), addr...), ns
	return nil
}

// unbind frees s's name (unix_remove_socket).
func (s *unixSocket) unbind() {
	s.mu.Lock()
	ns, name := s.ns, s.name
	s.ns = nil
	s.mu.Unlock()
	if ns == nil {
		return
	}
	ns.mu.Lock()
	key := unixName{s.typ, string(name)}
	if ns.names[key] == s {
		delete(ns.names, key)
	}
	ns.mu.Unlock()
}

// Listen implements Listener.
func (s *unixSocket) Listen(f *File, backlog int) error {
	if s.typ == unix.SOCK_DGRAM {
		return unix.EOPNOTSUPP
	}
	s.mu.Lock()
	if s.name == nil || s.state != sockClose && s.state != sockListen {
		s.mu.Unlock()
		return unix.EINVAL
	}
	grew := backlog > s.backlog
	s.backlog = backlog
	s.state = sockListen
	s.mu.Unlock()
	if grew {
		s.peerWait.NotifyAll(0)
	}
	return nil
}

// Connect implements Listener, in unix_stream_connect's order.
func (s *unixSocket) Connect(f *File, names Names, addr []byte) (*ConnectWait, error) {
	if len(addr) > 0 && addr[0] != 0 {
		return nil, names.Paths.connectSocket(socketPath(addr))
	}
	l := names.Unix.lookup(s.typ, addr)
	if l == nil {
		return nil, unix.ECONNREFUSED
	}
	if s.typ == unix.SOCK_DGRAM {
		return nil, unix.EOPNOTSUPP // connecting to a bound datagram socket
	}
	var w wakeups
	l.mu.Lock()
	if l.dead || l.state != sockListen || l.shutdown&shutRcv != 0 {
		l.mu.Unlock()
		return nil, unix.ECONNREFUSED
	}
	if len(l.pending) > l.backlog {
		l.mu.Unlock()
		return &ConnectWait{q: &l.peerWait}, unix.EAGAIN
	}
	if l == s {
		l.mu.Unlock()
		return nil, unix.EINVAL
	}
	s.mu.Lock()
	switch s.state {
	case sockClose:
	case sockEstablished:
		s.mu.Unlock()
		l.mu.Unlock()
		return nil, unix.EISCONN
	default:
		s.mu.Unlock()
		l.mu.Unlock()
		return nil, unix.EINVAL
	}
	e := newUnixSocket(s.typ, s.mu, sockEstablished)
	e.peer, e.name = s, l.name // +checklocksignore: e is not shared yet (and l.mu is held).
	s.peer, s.state = e, sockEstablished
	s.mu.Unlock()
	l.pending = append(l.pending, e)
	w.add(&l.queue, dataReadyKey, false)
	l.mu.Unlock()
	w.run()
	return nil, nil
}

// Accept implements Listener.
func (s *unixSocket) Accept(f *File, flags uint32, blocking bool) (*File, error) {
	if s.typ == unix.SOCK_DGRAM {
		return nil, unix.EOPNOTSUPP
	}
	s.mu.Lock()
	if s.state != sockListen {
		s.mu.Unlock()
		return nil, unix.EINVAL
	}
	if err := s.takeErrorLocked(); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if len(s.pending) == 0 {
		shut := s.shutdown&shutRcv != 0
		s.mu.Unlock()
		if shut && blocking {
			return nil, unix.EINVAL // skb_recv_datagram: receive shutdown
		}
		return nil, unix.EAGAIN
	}
	e := s.pending[0]
	s.pending[0] = nil
	s.pending = s.pending[1:]
	s.mu.Unlock()
	s.peerWait.Notify(0)
	return New(e, unix.O_RDWR|flags&unix.O_NONBLOCK), nil
}

// LocalName implements Listener.
func (s *unixSocket) LocalName() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.name
}

// PeerName implements Listener.
func (s *unixSocket) PeerName() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peer == nil {
		return nil
	}
	return s.peer.name
}

// Backlog returns how many connections wait to be accepted and the
// backlog (for tests and fdinfo-like diagnostics).
func (s *unixSocket) Backlog() (queued, backlog int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending), s.backlog
}

// checkListenerLocked checks a listener's embryos: connected to a client
// that is connected back (or gone), sharing the client's lock, never
// more than the backlog admits. Called with s.mu held.
//
// +checklocks:s.mu
func (s *unixSocket) checkListenerLocked() error {
	if s.peer != nil || s.recv.len() > 0 || s.typ == unix.SOCK_DGRAM {
		return fmt.Errorf("socket: listener with a peer or data")
	}
	if len(s.pending) > s.backlog+1 {
		return fmt.Errorf("socket: %d embryos for a backlog of %d", len(s.pending), s.backlog)
	}
	for _, e := range s.pending {
		e.mu.Lock()
		bad := e.state != sockEstablished || e.dead || e.peer != nil && (e.peer.mu != e.mu || !e.peer.dead && e.peer.peer != e)
		e.mu.Unlock()
		if bad {
			return fmt.Errorf("socket: embryo not connected to its client")
		}
	}
	return nil
}

// socketPath is unix_mkname_bsd: sun_path up to its first NUL, relative
// paths from the root (the model's working directory).
func socketPath(addr []byte) string {
	if i := bytes.IndexByte(addr, 0); i >= 0 {
		addr = addr[:i]
	}
	if addr[0] != '/' {
		return "/" + string(addr)
	}
	return string(addr)
}
