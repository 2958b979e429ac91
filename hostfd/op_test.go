package hostfd

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// connectorEnv, when set in the environment of this test binary, makes
// TestConnectorProcess the connector process: another process that opens
// TCP connections to the address the variable holds, one per "c" line on
// its stdin, answering "ok" once connect returned, and keeps them open
// until stdin ends.
const connectorEnv = "GUESTPOLL_HOSTFD_TEST_CONNECT_TO"

// TestConnectorProcess is not a test: it is the body of the connector
// process (connectorEnv), and returns at once in a normal run.
func TestConnectorProcess(t *testing.T) {
	addr := os.Getenv(connectorEnv)
	if addr == "" {
		return
	}
	var conns []net.Conn
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fmt.Printf("error %v\n", err)
			os.Exit(1)
		}
		conns = append(conns, c)
		fmt.Println("ok")
	}
	os.Exit(0)
}

// connector is a child process that connects to a listener on demand.
type connector struct {
	t   *testing.T
	cmd *exec.Cmd
	in  *os.File
	out *bufio.Scanner
}

func startConnector(t *testing.T, addr string) *connector {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestConnectorProcess$")
	cmd.Env = append(os.Environ(), connectorEnv+"="+addr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &connector{t: t, cmd: cmd, in: stdin.(*os.File), out: bufio.NewScanner(stdout)}
	t.Cleanup(func() {
		c.in.Close()
		c.cmd.Wait()
	})
	return c
}

// connect makes the child open one connection and waits until its
// connect returned.
func (c *connector) connect() {
	c.t.Helper()
	if _, err := c.in.Write([]byte("c\n")); err != nil {
		c.t.Fatal(err)
	}
	if !c.out.Scan() || c.out.Text() != "ok" {
		c.t.Fatalf("connector: %q %v", c.out.Text(), c.out.Err())
	}
}

// tcpListener returns a non-blocking host TCP listener on 127.0.0.1 and
// its address; the caller owns the fd.
func tcpListener(t *testing.T) (int, string) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 16); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	return fd, fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
}

// acceptAll accepts through Do until EAGAIN, closing what it accepts, and
// returns how many connections it accepted.
func acceptAll(t *testing.T, f *fs.File) int {
	t.Helper()
	n := 0
	for {
		err := Do(f, waiter.ReadableEvents, func(fd int) error {
			nfd, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
			if err == nil {
				unix.Close(nfd)
			}
			return err
		})
		if err == unix.EAGAIN {
			return n
		}
		if err != nil {
			t.Fatalf("accept4: %v", err)
		}
		n++
	}
}

var notifiers = [...]Notifier{NotifyPpoll, NotifyEpoll}

// newBridgeMode is newBridge with a chosen notifier.
func newBridgeMode(t testing.TB, mode Notifier) *Bridge {
	t.Helper()
	b, err := NewBridge(Options{Notifier: mode, Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestETListenerAcceptsThroughDo: an edge-triggered imported TCP listener
// whose connections another process makes, and which the embedder accepts
// itself through Do until EAGAIN, reports every connection, in both
// modes. Then a second connection arriving while the first still waits
// in the accept queue (the listener still readable) is a new edge with
// NotifyEpoll, as on Linux; NotifyPpoll cannot see it (doc.go).
func TestETListenerAcceptsThroughDo(t *testing.T) {
	for _, mode := range notifiers {
		t.Run("mode="+mode.String(), func(t *testing.T) {
			b := newBridgeMode(t, mode)
			lfd, addr := tcpListener(t)
			f, err := b.Import(lfd, ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer f.DecRef()
			ep := epollOn(t, f, waiter.EventIn|waiter.EventET)
			peer := startConnector(t, addr)
			for i := 0; i < 4; i++ {
				peer.connect()
				if n := events(ep, long); n != 1 {
					t.Fatalf("connection %d: %d events", i, n)
				}
				if n := acceptAll(t, f); n != 1 {
					t.Fatalf("connection %d: accepted %d", i, n)
				}
			}

			// A second arrival while the listener is still readable.
			peer.connect()
			if n := events(ep, long); n != 1 {
				t.Fatalf("first of two: %d events", n)
			}
			peer.connect()
			wait := long
			if mode == NotifyPpoll {
				wait = quiet // the edge is not expected
			}
			n := events(ep, wait)
			switch {
			case mode == NotifyEpoll && n != 1:
				t.Fatalf("second arrival while readable: %d events, Linux gives a new edge", n)
			case mode == NotifyPpoll && n != 0:
				t.Fatalf("second arrival while readable: %d events; the ppoll mode cannot see it (update doc.go)", n)
			}
			if n := acceptAll(t, f); n != 2 {
				t.Fatalf("accepted %d of 2", n)
			}
			peer.connect()
			if n := events(ep, long); n != 1 {
				t.Fatalf("after the drain: %d events", n)
			}
		})
	}
}

// TestDoRearmsOnEAGAIN: a read the embedder makes itself through Do that
// drains a pipe re-arms IN, so that the next host write is an edge; a
// read behind the bridge's back does not, and the edge never comes in the
// ppoll mode (the bug Do fixes). With NotifyEpoll every host write is an
// edge anyway.
func TestDoRearmsOnEAGAIN(t *testing.T) {
	b := newBridge(t, 1)
	f, w := importedPipe(t, b)
	defer f.DecRef()
	ep := epollOn(t, f, waiter.EventIn|waiter.EventET)
	readAll := func(fd int) error {
		buf := make([]byte, 64)
		for {
			if _, err := unix.Read(fd, buf); err != nil {
				return err
			}
		}
	}
	for i := 0; i < 3; i++ {
		unix.Write(w, []byte("x"))
		if n := events(ep, long); n != 1 {
			t.Fatalf("write %d: %d events", i, n)
		}
		op := readAll
		if i == 1 { // an error that wraps EAGAIN re-arms too
			op = func(fd int) error { return fmt.Errorf("reading: %w", readAll(fd)) }
		}
		if err := Do(f, waiter.ReadableEvents, op); !errors.Is(err, unix.EAGAIN) {
			t.Fatalf("Do: %v", err)
		}
	}
	// Without Do, the EAGAIN goes unseen: no re-arm, no edge.
	unix.Write(w, []byte("x"))
	if n := events(ep, long); n != 1 {
		t.Fatalf("last write: %d events", n)
	}
	_, h := hostOf(f)
	readAll(int(h.fd))
	unix.Write(w, []byte("x"))
	if b.edge != nil {
		if n := events(ep, long); n != 1 {
			t.Fatalf("NotifyEpoll: %d events after a read behind the bridge's back", n)
		}
	} else if n := events(ep, quiet); n != 0 {
		t.Fatalf("%d events after a read behind the bridge's back", n)
	}
}

// TestDoHoldsFDOpen: the last reference dropped while Do's operation runs
// closes the fd only when the operation returns, exactly once.
func TestDoHoldsFDOpen(t *testing.T) {
	for _, mode := range notifiers {
		t.Run("mode="+mode.String(), func(t *testing.T) {
			b := newBridgeMode(t, mode)
			f, _ := importedPipe(t, b)
			ent := register(f)
			f.EventUnregister(&ent.e)
			inOp := make(chan int)
			proceed := make(chan struct{})
			done := make(chan error)
			go func() {
				done <- Do(f, waiter.ReadableEvents, func(fd int) error {
					inOp <- fd
					<-proceed
					if !fdOpen(fd) {
						return fmt.Errorf("fd %d closed during the operation", fd)
					}
					_, err := unix.Read(fd, make([]byte, 1))
					return err
				})
			}()
			fd := <-inOp
			f.DecRef() // the last reference
			if !fdOpen(fd) || b.Live() != 1 {
				t.Fatalf("fd closed (Live %d) while Do's operation runs", b.Live())
			}
			close(proceed)
			if err := <-done; err != unix.EAGAIN {
				t.Fatalf("operation: %v", err)
			}
			if fdOpen(fd) || b.Live() != 0 {
				t.Fatalf("fd open (Live %d) after the operation ended", b.Live())
			}
		})
	}
}

// TestDoMisuse: Do on a file that is not a host fd, on a released one, or
// with no operation panics with a message naming the misuse.
func TestDoMisuse(t *testing.T) {
	b := newBridge(t, 1)
	hostFile, _ := importedPipe(t, b)
	released, _ := importedPipe(t, b)
	released.DecRef()
	model := fs.NewRegular(0)
	defer model.DecRef()
	defer hostFile.DecRef()
	nop := func(int) error { return nil }
	for _, c := range []struct {
		name string
		f    *fs.File
		op   func(int) error
		want string
	}{
		{"model file", model, nop, "not an imported host fd"},
		{"released", released, nop, "already released"},
		{"nil op", hostFile, nil, "nil operation"},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.Contains(s, c.want) {
					t.Fatalf("panic %v, want one naming %q", r, c.want)
				}
			}()
			Do(c.f, waiter.ReadableEvents, c.op)
		})
	}
}

// TestDoWakesLocalPeer: a write the embedder makes through Do on one end
// of a socketpair this package created reaches the other end's queue at
// once (synchronously), as the model's own write does.
func TestDoWakesLocalPeer(t *testing.T) {
	b := newBridge(t, 1)
	x, y, err := b.SocketPair(unix.SOCK_STREAM, unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer x.DecRef()
	defer y.DecRef()
	ent := register(y)
	defer y.EventUnregister(&ent.e)
	y.Readiness(waiter.EventIn)
	err = Do(x, waiter.WritableEvents, func(fd int) error {
		_, err := unix.SendmsgN(fd, []byte("hi"), nil, nil, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-ent.s.C():
	default:
		t.Fatal("the peer's queue was not woken inside Do")
	}
	if y.Readiness(waiter.EventIn)&waiter.EventIn == 0 {
		t.Fatal("peer not readable")
	}
}

// TestEdgeModeKeys: with NotifyEpoll a host wakeup is an edge for an
// edge-triggered entry exactly when Linux's key for it is: an outside peer
// reading what the guest wrote (a write-space wakeup) is an OUT edge and
// not an IN edge, even while unread data waits; an arrival is an IN edge
// and not an OUT one, a second arrival included. Linux, asked on a native
// epoll with the same steps, is the reference. NotifyPpoll gives the edges
// of changes seen low before only (doc.go).
func TestEdgeModeKeys(t *testing.T) {
	// The steps: the peer writes, the guest writes, the peer reads, the
	// peer writes again; the edges harvested after each.
	type edges [4]int
	steps := func(write func([]byte), harvest func(time.Duration) int, peer int, expect edges) edges {
		var got edges
		wait := func(i int) time.Duration {
			if expect[i] == 0 {
				return quiet
			}
			return long
		}
		harvest(quiet) // what ADD found ready
		unix.Write(peer, []byte("x"))
		got[0] = harvest(wait(0))
		write([]byte("y"))
		got[1] = harvest(wait(1))
		unix.Read(peer, make([]byte, 8))
		got[2] = harvest(wait(2))
		unix.Write(peer, []byte("z"))
		got[3] = harvest(wait(3))
		return got
	}
	hostPair := func() (int, int) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		return fds[0], fds[1]
	}
	for _, c := range []struct {
		name     string
		interest waiter.EventMask
		linux    edges // what Linux gives, checked first
		ppoll    edges // what NotifyPpoll gives
	}{
		{"in", waiter.EventIn, edges{1, 0, 0, 1}, edges{1, 0, 0, 0}},
		{"out", waiter.EventOut, edges{0, 0, 1, 0}, edges{0, 0, 0, 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, peer := hostPair()
			ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
			if err != nil {
				t.Fatal(err)
			}
			unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, a, &unix.EpollEvent{Events: uint32(c.interest) | unix.EPOLLET})
			evs := make([]unix.EpollEvent, 4)
			linux := steps(func(b []byte) { unix.Write(a, b) }, func(d time.Duration) int {
				n, _ := unix.EpollWait(ep, evs, int(d/time.Millisecond))
				return n
			}, peer, c.linux)
			unix.Close(ep)
			unix.Close(a)
			unix.Close(peer)
			if linux != c.linux {
				t.Fatalf("Linux gives %v, the test expects %v", linux, c.linux)
			}
			for _, mode := range notifiers {
				t.Run("mode="+mode.String(), func(t *testing.T) {
					b := newBridgeMode(t, mode)
					a, peer := hostPair()
					t.Cleanup(func() { unix.Close(peer) })
					f, err := b.Import(a, ImportOptions{})
					if err != nil {
						t.Fatal(err)
					}
					defer f.DecRef()
					mep := epollOn(t, f, c.interest|waiter.EventET)
					want := linux
					if mode == NotifyPpoll {
						want = c.ppoll
					}
					got := steps(func(p []byte) { f.Write(p) }, func(d time.Duration) int { return events(mep, d) }, peer, want)
					if got != want {
						t.Fatalf("edges %v, want %v (Linux %v)", got, want, linux)
					}
				})
			}
		})
	}
}

// TestNewBridgeUnknownNotifier: a Notifier that is neither mode is a
// misuse, and the panic names it.
func TestNewBridgeUnknownNotifier(t *testing.T) {
	defer func() {
		if s, _ := recover().(string); !strings.Contains(s, "unknown Options.Notifier Notifier(7)") {
			t.Fatalf("panic %q", s)
		}
	}()
	NewBridge(Options{Notifier: 7})
}

// TestDoEAGAINThenRegister: reads through Do that drain the fd while
// nobody waits (the EAGAIN proves the level low) leave the bridge armed
// for a waiter that registers after them (try, then wait), and a waiter
// that registers without checking the level is woken by the next host
// change, in both modes.
func TestDoEAGAINThenRegister(t *testing.T) {
	for _, mode := range notifiers {
		t.Run("mode="+mode.String(), func(t *testing.T) {
			b := newBridgeMode(t, mode)
			f, w := importedPipe(t, b)
			defer f.DecRef()
			buf := make([]byte, 8)
			recv := func(fd int) error { _, err := unix.Read(fd, buf); return err }
			for i := 0; i < 3; i++ {
				// A host write reported to a waiter disarms IN ...
				ent := register(f)
				unix.Write(w, []byte("x"))
				if !ent.woken(long) {
					t.Fatalf("round %d: no wakeup for the first write", i)
				}
				f.EventUnregister(&ent.e)
				// ... which the reads prove low again, with nobody waiting.
				if err := Do(f, waiter.ReadableEvents, recv); err != nil {
					t.Fatal(err)
				}
				if err := Do(f, waiter.ReadableEvents, recv); err != unix.EAGAIN {
					t.Fatalf("second read: %v", err)
				}
				ent = register(f)
				unix.Write(w, []byte("y"))
				if !ent.woken(long) {
					t.Fatalf("round %d: the waiter that registered after the EAGAIN was not woken", i)
				}
				f.EventUnregister(&ent.e)
				Do(f, waiter.ReadableEvents, recv)
			}
		})
	}
}
