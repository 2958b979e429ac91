package hostfd

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
	"github.com/guestpoll/guestpoll/syscalls"
)

// abstractName returns a fresh abstract address (sun_path bytes) private
// to this test process.
func abstractName(t *testing.T) []byte {
	return []byte(fmt.Sprintf("\x00guestpoll-hostfd-test.%d.%s.%d", os.Getpid(), t.Name(), time.Now().UnixNano()))
}

// hostListener makes a bridge socket of typ listening at a fresh abstract
// address with backlog; it returns the file (the caller drops its
// reference) and the address.
func hostListener(t *testing.T, b *Bridge, typ, backlog int) (*fs.File, []byte) {
	t.Helper()
	l, err := b.Socket(typ, unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	name := abstractName(t)
	ll := l.Impl().(fs.Listener)
	if err := ll.Bind(l, fs.Names{}, name); err != nil {
		t.Fatalf("bind: %v", err)
	}
	if err := ll.Listen(l, backlog); err != nil {
		t.Fatalf("listen: %v", err)
	}
	if got := ll.LocalName(); !bytes.Equal(got, name) {
		t.Fatalf("LocalName = %q, want %q", got, name)
	}
	return l, name
}

func hostConnect(t *testing.T, b *Bridge, typ int, name []byte) (*fs.File, *fs.ConnectWait, error) {
	t.Helper()
	c, err := b.Socket(typ, unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.DecRef)
	cw, err := c.Impl().(fs.Listener).Connect(c, fs.Names{}, name)
	return c, cw, err
}

// TestHostListenConnectAccept: bind, listen, connect and accept act on
// the host; the accepted file is a host socket of the bridge, connected
// to the client, whose peer name is the client's (unbound: nil).
func TestHostListenConnectAccept(t *testing.T) {
	b := newBridge(t, 1)
	l, name := hostListener(t, b, unix.SOCK_STREAM, 4)
	defer l.DecRef()
	ll := l.Impl().(fs.Listener)
	if _, err := ll.Accept(l, 0, false); err != unix.EAGAIN {
		t.Fatalf("accept with nothing queued: %v, want EAGAIN", err)
	}
	c, _, err := hostConnect(t, b, unix.SOCK_STREAM, name)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	a, err := ll.Accept(l, unix.O_NONBLOCK, false)
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	defer a.DecRef()
	if hostOfFile(t, a).b != b {
		t.Fatal("the accepted file is not a host fd of the bridge")
	}
	if !a.Nonblocking() || a.StatusFlags()&unix.O_ACCMODE != unix.O_RDWR {
		t.Fatalf("accepted flags %#x, want O_RDWR|O_NONBLOCK", a.StatusFlags())
	}
	if p := a.Impl().(fs.Listener).PeerName(); p != nil {
		t.Fatalf("PeerName of an unbound client = %q, want nil", p)
	}
	if p := c.Impl().(fs.Listener).PeerName(); !bytes.Equal(p, name) {
		t.Fatalf("client's PeerName = %q, want the listener's %q", p, name)
	}
	if _, err := c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if n, err := readWithin(a, buf, long); err != nil || string(buf[:n]) != "hi" {
		t.Fatalf("accepted read: %q, %v", buf[:n], err)
	}
	if _, _, err := hostConnect(t, b, unix.SOCK_SEQPACKET, name); err != unix.ECONNREFUSED {
		t.Fatalf("connect of another type: %v, want ECONNREFUSED (the host's)", err)
	}
}

// readWithin reads f, retrying EAGAIN until d has passed.
func readWithin(f *fs.File, buf []byte, d time.Duration) (int, error) {
	deadline := time.Now().Add(d)
	for {
		n, err := f.Impl().(fs.SequenceIO).ReadSeq(f, fs.NewByteSequence(buf))
		if err != unix.EAGAIN || time.Now().After(deadline) {
			return n, err
		}
		time.Sleep(time.Millisecond)
	}
}

// TestHostConnectWait: a connect to a full listener of the bridge is
// EAGAIN with the listener's peer_wait; an accept wakes it (wake-one),
// after which the connect succeeds; the listener's close wakes every
// waiter and the connect is refused.
func TestHostConnectWait(t *testing.T) {
	b := newBridge(t, 1)
	l, name := hostListener(t, b, unix.SOCK_STREAM, 0)
	if _, _, err := hostConnect(t, b, unix.SOCK_STREAM, name); err != nil {
		t.Fatalf("first connect: %v", err)
	}
	c, cw, err := hostConnect(t, b, unix.SOCK_STREAM, name)
	if err != unix.EAGAIN || cw == nil {
		t.Fatalf("connect to a full listener: %v, %v; want EAGAIN with a ConnectWait", cw, err)
	}
	w := &waitEntry{s: waiter.NewSleeper()}
	w.e.Init(w.s, true, false)
	cw.EventRegister(&w.e)
	defer cw.EventUnregister(&w.e)
	a, err := l.Impl().(fs.Listener).Accept(l, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	a.DecRef()
	if !w.woken(long) {
		t.Fatal("the accept did not wake the waiting connect")
	}
	if _, err := c.Impl().(fs.Listener).Connect(c, fs.Names{}, name); err != nil {
		t.Fatalf("connect after the accept: %v", err)
	}
	c2, cw2, err := hostConnect(t, b, unix.SOCK_STREAM, name)
	if err != unix.EAGAIN || cw2 == nil {
		t.Fatalf("third connect: %v; want EAGAIN", err)
	}
	w2 := &waitEntry{s: waiter.NewSleeper()}
	w2.e.Init(w2.s, true, false)
	cw2.EventRegister(&w2.e)
	defer cw2.EventUnregister(&w2.e)
	l.DecRef() // the listener's close
	if !w2.woken(long) {
		t.Fatal("the listener's close did not wake the waiting connect")
	}
	if _, err := c2.Impl().(fs.Listener).Connect(c2, fs.Names{}, name); err != unix.ECONNREFUSED {
		t.Fatalf("connect after the listener's close: %v, want ECONNREFUSED", err)
	}
}

func hostOfFile(t *testing.T, f *fs.File) *hostFile {
	_, h := hostOf(f)
	if h == nil {
		t.Fatal("not a host file")
	}
	return h
}

// TestHostListenerEdgePerConnection: each connection made through the
// bridge to its listener is a new edge, even while an earlier one waits
// to be accepted (unix_stream_connect wakes the listener each time), in
// both notifier modes.
func TestHostListenerEdgePerConnection(t *testing.T) {
	b := newBridge(t, 1)
	l, name := hostListener(t, b, unix.SOCK_STREAM, 4)
	defer l.DecRef()
	ep := epollOn(t, l, waiter.EventIn|waiter.EventET)
	for i := range 3 {
		if _, _, err := hostConnect(t, b, unix.SOCK_STREAM, name); err != nil {
			t.Fatal(err)
		}
		b.Sync()
		if n := events(ep, long); n != 1 {
			t.Fatalf("connection %d: %d events, want 1", i, n)
		}
		b.Sync()
		if n := events(ep, 0); n != 0 {
			t.Fatalf("connection %d: %d events after the edge was harvested, want 0", i, n)
		}
	}
}

// TestHostMessageIO: sendto/recvfrom with flags on bridge sockets: MSG_OOB
// raises PRI on the peer and is received out of band, MSG_PEEK leaves the
// data queued, and a datagram's sender address is returned.
func TestHostMessageIO(t *testing.T) {
	b := newBridge(t, 1)
	x, y, err := b.SocketPair(unix.SOCK_STREAM, unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer x.DecRef()
	defer y.DecRef()
	xm, ym := x.Impl().(fs.MessageIO), y.Impl().(fs.MessageIO)
	if n, err := xm.SendSeq(x, fs.NewByteSequence([]byte("ab")), 0, nil); n != 2 || err != nil {
		t.Fatalf("send: %d, %v", n, err)
	}
	if n, err := xm.SendSeq(x, fs.NewByteSequence([]byte("!")), unix.MSG_OOB, nil); n != 1 || err != nil {
		t.Fatalf("send OOB: %d, %v", n, err)
	}
	if m := y.Impl().(fs.Pollable).Readiness(y, waiter.EventPri); m&waiter.EventPri == 0 {
		t.Fatalf("peer readiness %v after an OOB send, want PRI", m)
	}
	buf := make([]byte, 8)
	if n, _, err := ym.RecvSeq(y, fs.NewByteSequence(buf), unix.MSG_PEEK); err != nil || string(buf[:n]) != "ab" {
		t.Fatalf("peek: %q, %v", buf[:n], err)
	}
	if n, _, err := ym.RecvSeq(y, fs.NewByteSequence(buf), unix.MSG_OOB); err != nil || string(buf[:n]) != "!" {
		t.Fatalf("recv OOB: %q, %v", buf[:n], err)
	}
	if _, _, err := ym.RecvSeq(y, fs.NewByteSequence(buf), unix.MSG_OOB); err != unix.EINVAL {
		t.Fatalf("recv OOB with none: %v, want EINVAL", err)
	}
	if n, _, err := ym.RecvSeq(y, fs.NewByteSequence(buf), 0); err != nil || string(buf[:n]) != "ab" {
		t.Fatalf("recv after the peek: %q, %v", buf[:n], err)
	}
	if _, _, err := ym.RecvSeq(y, fs.NewByteSequence(buf), 0); err != unix.EAGAIN {
		t.Fatalf("recv of an empty socket: %v, want EAGAIN", err)
	}

	// A datagram from a bound sender names it.
	r, err := b.Socket(unix.SOCK_DGRAM, unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer r.DecRef()
	s, err := b.Socket(unix.SOCK_DGRAM, unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer s.DecRef()
	rname, sname := abstractName(t), append(abstractName(t), 's')
	if err := r.Impl().(fs.Listener).Bind(r, fs.Names{}, rname); err != nil {
		t.Fatal(err)
	}
	if err := s.Impl().(fs.Listener).Bind(s, fs.Names{}, sname); err != nil {
		t.Fatal(err)
	}
	to := append([]byte{unix.AF_UNIX, 0}, rname...)
	if n, err := s.Impl().(fs.MessageIO).SendSeq(s, fs.NewByteSequence([]byte("dg")), 0, to); n != 2 || err != nil {
		t.Fatalf("sendto: %d, %v", n, err)
	}
	n, from, err := r.Impl().(fs.MessageIO).RecvSeq(r, fs.NewByteSequence(buf), 0)
	if err != nil || string(buf[:n]) != "dg" || !bytes.Equal(from, sname) {
		t.Fatalf("recvfrom: %q from %q, %v; want \"dg\" from %q", buf[:n], from, err, sname)
	}
}

// TestHostConnectWaitPath: a listener bound at a filesystem path is found
// for a connect's wait whether or not the address counts the path's NUL
// (the host stores it with one).
func TestHostConnectWaitPath(t *testing.T) {
	b := newBridge(t, 1)
	l, err := b.Socket(unix.SOCK_STREAM, unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer l.DecRef()
	path := []byte(t.TempDir() + "/sock")
	ll := l.Impl().(fs.Listener)
	if err := ll.Bind(l, fs.Names{}, path); err != nil {
		t.Fatal(err)
	}
	if err := ll.Listen(l, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := hostConnect(t, b, unix.SOCK_STREAM, path); err != nil {
		t.Fatalf("first connect: %v", err)
	}
	for _, addr := range [][]byte{path, append(path, 0)} {
		if _, cw, err := hostConnect(t, b, unix.SOCK_STREAM, addr); err != unix.EAGAIN || cw == nil {
			t.Fatalf("connect to %q, full: %v, %v; want EAGAIN with a ConnectWait", addr, cw, err)
		}
	}
}

// callResult is what a system call returned.
type callResult struct {
	r uintptr
	e unix.Errno
}

// startCall runs a system call of task in a goroutine.
func startCall(task *syscalls.Task, nr uintptr, args [6]uintptr) chan callResult {
	ch := make(chan callResult, 1)
	go func() {
		r, e := task.Syscall(nr, args)
		ch <- callResult{r, e}
	}()
	return ch
}

// still reports whether no result has come within quiet.
func still(ch chan callResult) bool {
	select {
	case <-ch:
		return false
	case <-time.After(quiet):
		return true
	}
}

func result(t *testing.T, what string, ch chan callResult) callResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(long):
		t.Fatalf("%s did not return", what)
	}
	return callResult{}
}

// TestHostBlockingAcceptConnect: through the syscall layer on a kernel
// whose sockets are the bridge's, a blocking accept4 and a blocking
// connect on host sockets wait, are interruptible (EINTR), and complete
// one per event: one connection completes one of two blocked accepts, one
// accept lets one of two blocked connects in, and the listener's close
// refuses the connect still waiting. (The waits are the syscall layer's
// exclusive ones, as for the model's sockets; which waiter a wake-one
// wakeup reaches is not observable here, since a woken waiter that finds
// nothing sleeps again.)
func TestHostBlockingAcceptConnect(t *testing.T) {
	b := newBridge(t, 1)
	k := syscalls.NewKernel()
	k.SetFileCreator(b)
	table := fd.NewTable()
	defer table.CloseAll()
	mem := syscalls.NewGuestMemory()
	const addr = 0x10000
	mem.Map(addr, 4096)
	task := func() *syscalls.Task { return syscalls.NewTask(k, table, mem, syscalls.AMD64) }
	main := task()
	name := abstractName(t)
	sa := append([]byte{unix.AF_UNIX, 0}, name...)
	mem.CopyOut(addr, sa)
	call := func(nr uintptr, args ...uintptr) uintptr {
		t.Helper()
		var a [6]uintptr
		copy(a[:], args)
		r, e := main.Syscall(nr, a)
		if e != 0 {
			t.Fatalf("syscall %d%v: %v", nr, args, e)
		}
		return r
	}
	l := call(syscalls.AMD64Socket, unix.AF_UNIX, unix.SOCK_STREAM, 0)
	call(syscalls.AMD64Bind, l, addr, uintptr(len(sa)))
	call(syscalls.AMD64Listen, l, 0)

	// A blocked accept4 is interrupted.
	t1, t2 := task(), task()
	ch1 := startCall(t1, syscalls.AMD64Accept4, [6]uintptr{l})
	if !still(ch1) {
		t.Fatal("accept4 returned with nothing queued")
	}
	t1.Interrupt(int(unix.SIGUSR1))
	if r := result(t, "the interrupted accept4", ch1); r.e != unix.EINTR {
		t.Fatalf("interrupted accept4: %v, want EINTR", r)
	}
	t1 = task() // a fresh task: the signal stays pending on the old one

	// Two blocked accepts, one connection: one of them returns.
	ch1 = startCall(t1, syscalls.AMD64Accept4, [6]uintptr{l})
	ch2 := startCall(t2, syscalls.AMD64Accept4, [6]uintptr{l})
	time.Sleep(quiet)
	c1 := call(syscalls.AMD64Socket, unix.AF_UNIX, unix.SOCK_STREAM, 0)
	call(syscalls.AMD64Connect, c1, addr, uintptr(len(sa)))
	second := exactlyOne(t, "a connection", "accept4", ch1, ch2, still)
	c2 := call(syscalls.AMD64Socket, unix.AF_UNIX, unix.SOCK_STREAM, 0)
	call(syscalls.AMD64Connect, c2, addr, uintptr(len(sa)))
	if r := result(t, "the second accept4", second); r.e != 0 {
		t.Fatalf("second accept4: %v", r)
	}

	// The listener (backlog 0) is full after one more connection: a
	// blocking connect waits, is interrupted, and waits again; of two
	// waiting connects, one accept lets one in.
	c3 := call(syscalls.AMD64Socket, unix.AF_UNIX, unix.SOCK_STREAM, 0)
	call(syscalls.AMD64Connect, c3, addr, uintptr(len(sa)))
	c4 := call(syscalls.AMD64Socket, unix.AF_UNIX, unix.SOCK_STREAM, 0)
	c5 := call(syscalls.AMD64Socket, unix.AF_UNIX, unix.SOCK_STREAM, 0)
	ch1 = startCall(t1, syscalls.AMD64Connect, [6]uintptr{c4, addr, uintptr(len(sa))})
	if !still(ch1) {
		t.Fatal("a connect to a full listener returned")
	}
	t1.Interrupt(int(unix.SIGUSR1))
	if r := result(t, "the interrupted connect", ch1); r.e != unix.EINTR {
		t.Fatalf("interrupted connect: %v, want EINTR", r)
	}
	t1 = task() // a fresh task: the signal stays pending on the old one
	ch1 = startCall(t1, syscalls.AMD64Connect, [6]uintptr{c4, addr, uintptr(len(sa))})
	ch2 = startCall(t2, syscalls.AMD64Connect, [6]uintptr{c5, addr, uintptr(len(sa))})
	time.Sleep(quiet)
	call(syscalls.AMD64Accept4, l, 0, 0, unix.SOCK_NONBLOCK)
	second = exactlyOne(t, "an accept", "connect", ch1, ch2, still)
	call(syscalls.AMD64Close, l) // the listener's close refuses the other
	if r := result(t, "the connect waiting on a closed listener", second); r.e != unix.ECONNREFUSED {
		t.Fatalf("connect after the listener's close: %v, want ECONNREFUSED", r)
	}
}

// exactlyOne waits for one of two blocked calls to succeed after cause
// and checks that the other still waits (an exclusive wakeup); it returns
// the one still waiting.
func exactlyOne(t *testing.T, cause, what string, ch1, ch2 chan callResult, still func(chan callResult) bool) chan callResult {
	t.Helper()
	var other chan callResult
	select {
	case r := <-ch1:
		other = ch2
		if r.e != 0 {
			t.Fatalf("%s: %v", what, r)
		}
	case r := <-ch2:
		other = ch1
		if r.e != 0 {
			t.Fatalf("%s: %v", what, r)
		}
	case <-time.After(long):
		t.Fatalf("%s completed no blocked %s", cause, what)
	}
	if !still(other) {
		t.Fatalf("%s completed both blocked %ss (not exclusive)", cause, what)
	}
	return other
}
