package minikernel

import (
	"sync"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// Listener is a foreign file type: a listening socket with an accept queue,
// shaped like a listening AF_UNIX stream socket. Connect queues a new
// connection (one end of a model socketpair) and hands the caller the
// other end; accept4 takes connections from the head of the queue.
//
// Readiness follows unix_poll for a socket in TCP_LISTEN: IN|RDNORM while
// a connection is queued, nothing else (a listener is never writable and
// never hung up). A connection wakes the queue as sock_def_readable does,
// with IN|PRI|RDNORM|RDBAND, waking at most one exclusive waiter: a task
// blocked in accept4 sleeps exclusively (skb_recv_datagram's
// prepare_to_wait_exclusive), and so does an EPOLLEXCLUSIVE registration,
// so one connection wakes one of them.
type Listener struct {
	mu sync.Mutex
	// +checklocks:mu
	backlog int
	// +checklocks:mu
	pending []*fs.File // server ends, oldest first
	// +checklocks:mu
	closed bool
	// +checklocks:mu
	tries int // Accept calls, connection or not (tests count wakeups by it)
	// +checklocks:mu
	entries int // entries on q (tests wait for blocked tasks by it)

	q waiter.Queue
}

// connectKey is the key of a connection's wakeup (sock_def_readable).
const connectKey = waiter.EventIn | waiter.EventPri | waiter.EventRdNorm | waiter.EventRdBand

// NewListener returns a listening file (one reference, owned by the
// caller). As for listen(2) on AF_UNIX, the accept queue is full once it
// holds more than backlog connections (unix_recvq_full), so backlog 0
// still takes one.
func NewListener(backlog int, flags uint32) (*fs.File, *Listener) {
	if backlog < 0 {
		backlog = 0
	}
	l := &Listener{backlog: backlog}
	return fs.New(l, unix.O_RDWR|flags&unix.O_NONBLOCK), l
}

// Connect queues a connection and returns the client's end (one reference,
// owned by the caller). A full accept queue refuses with EAGAIN, as a
// non-blocking connect to a full AF_UNIX listener does; a closed listener
// with ECONNREFUSED.
func (l *Listener) Connect() (*fs.File, error) {
	client, server, err := fs.NewSocketPair(unix.SOCK_STREAM, 0)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	switch {
	case l.closed:
		err = unix.ECONNREFUSED
	case len(l.pending) > l.backlog:
		err = unix.EAGAIN
	default:
		l.pending = append(l.pending, server)
	}
	l.mu.Unlock()
	if err != nil {
		client.DecRef()
		server.DecRef()
		return nil, err
	}
	l.q.Notify(connectKey)
	return client, nil
}

// Accept takes the oldest queued connection, or fails with EAGAIN when
// there is none. The returned file's reference is the caller's.
func (l *Listener) Accept() (*fs.File, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tries++
	if len(l.pending) == 0 {
		return nil, unix.EAGAIN
	}
	f := l.pending[0]
	l.pending[0] = nil
	l.pending = l.pending[1:]
	return f, nil
}

// Pending returns the number of queued connections.
func (l *Listener) Pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending)
}

// Read and Write on a listener fail as they do on a listening AF_UNIX
// stream socket: a read is EINVAL (unix_stream_read_generic wants an
// established socket), a write ENOTCONN (no peer).
func (l *Listener) Read(*fs.File, []byte) (int, error)  { return 0, unix.EINVAL }
func (l *Listener) Write(*fs.File, []byte) (int, error) { return 0, unix.ENOTCONN }

// Release drops every connection still queued (their clients then see the
// peer closed) and wakes anyone left on the queue.
func (l *Listener) Release(*fs.File) {
	l.mu.Lock()
	pending := l.pending
	l.pending, l.closed = nil, true
	l.mu.Unlock()
	for _, f := range pending {
		f.DecRef()
	}
	l.q.NotifyAll(0)
}

// Readiness implements fs.Pollable.
func (l *Listener) Readiness(*fs.File, waiter.EventMask) waiter.EventMask {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pending) > 0 {
		return waiter.EventIn | waiter.EventRdNorm
	}
	return 0
}

// EventRegister and EventUnregister implement fs.Pollable: the listener has
// one queue, which epoll registrations and blocked accepts share.
func (l *Listener) EventRegister(_ *fs.File, e *waiter.Entry) {
	l.q.Register(e)
	l.count(1)
}

func (l *Listener) EventUnregister(_ *fs.File, e *waiter.Entry) {
	l.q.Unregister(e)
	l.count(-1)
}

func (l *Listener) count(d int) {
	l.mu.Lock()
	l.entries += d
	l.mu.Unlock()
}
