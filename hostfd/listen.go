package hostfd

import (
	"bytes"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// Binding, listening, connecting and accepting host sockets (fs.Listener).
//
// Each call is the host's: bind, listen and connect on the host fd, with
// the guest's address bytes unchanged (an abstract name lives in the
// host's abstract namespace, a path in the host's filesystem; the fs.Names
// of the model are not consulted), and accept4 through Do, so that its
// EAGAIN re-arms IN as a read's does. The accepted host fd is imported as
// a socket of the same bridge. Errors are the host's, in Linux's order,
// since Linux makes them.
//
// Blocking. Host fds are non-blocking, so a connect to a full listener and
// an accept with no connection return EAGAIN, and the syscall layer
// sleeps: an accept on the listener's queue (IN, exclusive, woken by the
// poller), a connect on the listener's peer_wait, which the host does not
// expose to poll. The bridge keeps its own peer_wait for each listener
// that listens through it (listenTable): each accept through the bridge
// wakes one connect, a listen that raises the backlog and the listener's
// close wake every one, as unix_accept, unix_listen and unix_release_sock
// wake Linux's. A blocking connect to a full listener the bridge does not
// own (a host peer's, another process's) has no queue to wait on and
// returns EAGAIN, where Linux would wait; so does a connect that an accept
// outside the bridge (Do, another process) would have let in: it waits
// until the next accept through the bridge or the listener's close.
//
// Peers. An accepted socket and its client are two host fds the bridge
// does not link as local peers (it cannot tell which accepted fd is which
// client's): what one writes reaches the other's queue through the poller,
// as a host peer's write does, with the approximations doc.go describes
// (asynchronous; with NotifyPpoll, no second edge while still readable).

// listenState is the bridge's view of a socket listening through it.
type listenState struct {
	file     *hostFile
	name     string // the bound address's sun_path bytes
	backlog  int
	peerWait waiter.Queue // connects waiting for room (peer_wait)
}

// listenTable holds the bridge's listeners, by file and by address. Its
// lock is a leaf; the queues are woken after unlocking.
type listenTable struct {
	mu sync.Mutex
	// +checklocks:mu
	byFile map[*hostFile]*listenState
	// +checklocks:mu
	byName map[string]*listenState
}

// listened records h listening at name with backlog; it returns h's state
// and whether the backlog grew (unix_listen then wakes peer_wait).
func (t *listenTable) listened(h *hostFile, name string, backlog int) (*listenState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byFile == nil {
		t.byFile = map[*hostFile]*listenState{}
		t.byName = map[string]*listenState{}
	}
	ls := t.byFile[h]
	if ls == nil {
		ls = &listenState{file: h, name: name, backlog: backlog}
		t.byFile[h] = ls
		t.byName[name] = ls
		return ls, false
	}
	grew := backlog > ls.backlog
	ls.backlog = backlog
	return ls, grew
}

// of returns h's state, nil if h does not listen through the bridge.
func (t *listenTable) of(h *hostFile) *listenState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byFile[h]
}

// named returns the state of the listener bound at name, nil if none.
func (t *listenTable) named(name []byte) *listenState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byName[tableKey(name)]
}

// forget drops h (its close) and wakes every connect waiting on it.
func (t *listenTable) forget(h *hostFile) {
	t.mu.Lock()
	ls := t.byFile[h]
	if ls != nil {
		delete(t.byFile, h)
		if t.byName[ls.name] == ls {
			delete(t.byName, ls.name)
		}
	}
	t.mu.Unlock()
	if ls != nil {
		ls.peerWait.NotifyAll(0)
	}
}

// sockaddrUn builds the struct sockaddr_un of sun_path bytes path (at most
// 108, which the syscall layer checks) and its length.
func sockaddrUn(path []byte) (*unix.RawSockaddrUnix, uintptr) {
	sa := &unix.RawSockaddrUnix{Family: unix.AF_UNIX}
	for i, c := range path {
		sa.Path[i] = int8(c)
	}
	return sa, uintptr(2 + len(path))
}

// Bind implements fs.Listener: bind(2) on the host fd (an empty address
// autobinds). names is not consulted: the namespace is the host's.
func (s socketImpl) Bind(_ *fs.File, _ fs.Names, addr []byte) error {
	sa, n := sockaddrUn(addr)
	_, _, e := unix.RawSyscall(unix.SYS_BIND, uintptr(s.h.fd), uintptr(unsafe.Pointer(sa)), n)
	return errOf(e)
}

// Listen implements fs.Listener: listen(2) on the host fd. The listener
// then serves its connects' waits (listenTable). A listening socket's
// readiness changes without a wakeup, as in Linux: the groups found low
// are re-armed.
func (s socketImpl) Listen(_ *fs.File, backlog int) error {
	h := s.h
	if _, _, e := unix.RawSyscall(unix.SYS_LISTEN, uintptr(h.fd), uintptr(backlog), 0); e != 0 {
		return e
	}
	if _, grew := h.b.listeners.listened(h, tableKey(s.LocalName()), backlog); grew {
		h.b.listeners.of(h).peerWait.NotifyAll(0)
	}
	h.readiness()
	return nil
}

// Connect implements fs.Listener: connect(2) on the host fd. EAGAIN (a
// full listener) comes with the listener's ConnectWait when it listens
// through this bridge, nil otherwise (see the file comment).
func (s socketImpl) Connect(_ *fs.File, _ fs.Names, addr []byte) (*fs.ConnectWait, error) {
	h := s.h
	ls := h.b.listeners.named(addr)
	var l *hostFile
	if ls != nil {
		l = ls.file
	}
	// A connection queued on a listener of the bridge is reported by the
	// connect itself, as unix_stream_connect's sk_data_ready wakes the
	// listener (wake-one, IN|PRI|RDNORM|RDBAND); the host's own wakeup is
	// then an echo.
	l.begin(gIn | gPri)
	sa, n := sockaddrUn(addr)
	_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(h.fd), uintptr(unsafe.Pointer(sa)), n)
	mode := endNone
	if e == 0 {
		mode = endNotify
	}
	l.end(gIn|gPri, keySockIn, mode, false)
	switch {
	case e == 0:
		// Connected: HUP (an unconnected stream socket's) is low now and
		// OUT high; Linux wakes no one on the client's side.
		h.readiness()
		return nil, nil
	case e == unix.EAGAIN && ls != nil:
		return fs.NewConnectWait(&ls.peerWait), e
	}
	return nil, e
}

// Accept implements fs.Listener: accept4(2) through Do (EAGAIN re-arms
// IN); the new host fd is imported as a socket of the bridge with status
// flags O_RDWR and flags' O_NONBLOCK. A blocking accept on a listener shut
// for reading is EINVAL, as skb_recv_datagram's, where the non-blocking
// host fd says EAGAIN.
func (s socketImpl) Accept(f *fs.File, flags uint32, blocking bool) (*fs.File, error) {
	h := s.h
	var nfd int32
	err := Do(f, waiter.ReadableEvents, func(fd int) error {
		r, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), 0, 0,
			unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		nfd = int32(r)
		return errOf(e)
	})
	if err == unix.EAGAIN && blocking && poll0(h.fd)&waiter.EventRdHUp != 0 {
		return nil, unix.EINVAL
	}
	if err != nil {
		return nil, err
	}
	if ls := h.b.listeners.of(h); ls != nil {
		ls.peerWait.Notify(0)
	}
	return h.b.adopt(nfd, KindSocket, h.sockType, unix.O_RDWR|flags&unix.O_NONBLOCK, nil)
}

// LocalName implements fs.Listener: the host's getsockname, nil when
// unbound.
func (s socketImpl) LocalName() []byte { return sockName(s.h.fd, unix.SYS_GETSOCKNAME) }

// PeerName implements fs.Listener: the host's getpeername, nil when the
// peer is unbound or there is none.
func (s socketImpl) PeerName() []byte { return sockName(s.h.fd, unix.SYS_GETPEERNAME) }

// sockName returns the sun_path bytes of getsockname or getpeername (nr)
// on fd, nil for a bare family, an error, or a socket of another family
// (an imported inet socket: the interface speaks AF_UNIX only).
func sockName(fd int32, nr uintptr) []byte {
	var sa unix.RawSockaddrUnix
	n := uint32(unsafe.Sizeof(sa))
	_, _, e := unix.RawSyscall(nr, uintptr(fd), uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&n)))
	if e != 0 {
		return nil
	}
	return sunPath(&sa, n)
}

// sunPath returns the sun_path bytes of the AF_UNIX address sa of length
// n, nil for a bare family or another family.
func sunPath(sa *unix.RawSockaddrUnix, n uint32) []byte {
	if n <= 2 || sa.Family != unix.AF_UNIX {
		return nil
	}
	n = min(n, uint32(unsafe.Sizeof(*sa)))
	name := make([]byte, n-2)
	for i := range name {
		name[i] = byte(sa.Path[i])
	}
	return name
}

// tableKey is the listenTable key of an address: a filesystem path ends
// at its first NUL (unix_mkname_bsd), whether or not the caller counted
// it; an abstract name is all its bytes.
func tableKey(name []byte) string {
	if len(name) > 0 && name[0] != 0 {
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
	}
	return string(name)
}
