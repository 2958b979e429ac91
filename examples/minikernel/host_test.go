package minikernel

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/hostfd"
	"github.com/guestpoll/guestpoll/syscalls"
)

// TestMain runs the peer process when the environment asks for it: a
// program outside the test's process that connects to a host listener.
func TestMain(m *testing.M) {
	if addr := os.Getenv("MINIKERNEL_DIAL"); addr != "" {
		os.Exit(dialer(addr))
	}
	os.Exit(m.Run())
}

// dialer connects to addr once per line read from stdin, sends the line's
// first byte on the connection and answers "ok"; it keeps every
// connection open until stdin ends.
func dialer(addr string) int {
	in := bufio.NewScanner(os.Stdin)
	var conns []net.Conn
	for in.Scan() {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_, err = c.Write([]byte(in.Text()[:1]))
		}
		if err != nil {
			fmt.Println(err)
			return 1
		}
		conns = append(conns, c)
		fmt.Println("ok")
	}
	for _, c := range conns {
		c.Close()
	}
	return 0
}

// peer is a dialer process.
type peer struct {
	tb  testing.TB
	in  io.WriteCloser
	out *bufio.Scanner
}

func startPeer(tb testing.TB, addr string) *peer {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "MINIKERNEL_DIAL="+addr)
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		in.Close()
		cmd.Wait()
	})
	return &peer{tb, in, bufio.NewScanner(out)}
}

// dial has the peer make one connection and send b on it.
func (p *peer) dial(b byte) {
	p.tb.Helper()
	fmt.Fprintf(p.in, "%c\n", b)
	if !p.out.Scan() || p.out.Text() != "ok" {
		p.tb.Fatalf("peer: %q %v", p.out.Text(), p.out.Err())
	}
}

// hostListener makes a listening TCP socket on 127.0.0.1, donates it to k
// as "tcp" and installs it in g's table; it returns the fd and the address.
func hostListener(tb testing.TB, k *Kernel, g *guest) (uintptr, string) {
	tb.Helper()
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	if err := unix.Bind(s, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatal(err)
	}
	if err := unix.Listen(s, 16); err != nil {
		tb.Fatal(err)
	}
	sa, _ := unix.Getsockname(s)
	f, err := k.ImportListener("tcp", s)
	if err != nil {
		tb.Fatal(err)
	}
	fd, err := g.t.FDTable().Install(f, 0, false)
	if err != nil {
		tb.Fatal(err)
	}
	return uintptr(fd), fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
}

var notifiers = []hostfd.Notifier{hostfd.NotifyPpoll, hostfd.NotifyEpoll}

// TestHostListenerEdgeTriggered: an imported host TCP listener watched
// edge-triggered; another process connects, one connection at a time. The
// guest, as the ET contract asks, accepts until EAGAIN after each edge
// (the kernel accepts on the host fd through hostfd.Do, which re-arms the
// bridge on EAGAIN): every connection is a new edge, with both bridge
// modes. Each accepted host fd is a file of the model: the guest reads
// the byte the peer sent with a blocking read.
func TestHostListenerEdgeTriggered(t *testing.T) {
	for _, n := range notifiers {
		t.Run(n.String(), func(t *testing.T) {
			k := newTestKernel(t, Options{Notifier: n})
			g := newGuest(t, k.Sys, nil)
			lfd, addr := hostListener(t, k, g)
			g.must(syscalls.AMD64Fcntl, lfd, unix.F_SETFL, unix.O_NONBLOCK)
			ep := g.epollCreate()
			g.mustCtl(ep, unix.EPOLL_CTL_ADD, lfd, epollIn|epollET, 7)
			p := startPeer(t, addr)
			for i := range 5 {
				p.dial(byte('a' + i))
				g.mustWait(ep, 10000, event{evIn, 7})
				g.putU32(lenArg, 64)
				cfd, e := g.sys(SysAccept4, lfd, addrArg, lenArg, 0)
				if e != 0 {
					t.Fatalf("connection %d: accept4: %v", i, e)
				}
				if sa := g.get(addrArg, 8); g.u32(lenArg) != unix.SizeofSockaddrInet4 ||
					binary.LittleEndian.Uint16(sa) != unix.AF_INET || [4]byte(sa[4:8]) != [4]byte{127, 0, 0, 1} {
					t.Errorf("peer address %x, addrlen %d", sa, g.u32(lenArg))
				}
				if _, e := g.accept(lfd, 0); e != unix.EAGAIN {
					t.Fatalf("connection %d: second accept4: %v, want EAGAIN", i, e)
				}
				if r, e := g.sys(syscalls.AMD64Read, cfd, readBuf, 16); r != 1 || e != 0 || g.get(readBuf, 1)[0] != byte('a'+i) {
					t.Errorf("connection %d: read = %d %v %q", i, r, e, g.get(readBuf, 1))
				}
				g.must(syscalls.AMD64Close, cfd)
				g.mustWait(ep, 0)
			}
		})
	}
}

// TestHostListenerSecondArrival: with the edge-mode bridge (NotifyEpoll),
// a second connection while the first is still queued is a new edge, as
// on Linux (each arrival wakes the listener's queue); the guest then
// accepts both. (NotifyPpoll gives that edge only once the guest has seen
// EAGAIN: hostfd's doc.go, "What an edge-triggered guest gets".)
func TestHostListenerSecondArrival(t *testing.T) {
	k := newTestKernel(t, Options{Notifier: hostfd.NotifyEpoll})
	g := newGuest(t, k.Sys, nil)
	lfd, addr := hostListener(t, k, g)
	ep := g.epollCreate()
	g.mustCtl(ep, unix.EPOLL_CTL_ADD, lfd, epollIn|epollET, 7)
	p := startPeer(t, addr)
	p.dial('a')
	g.mustWait(ep, 10000, event{evIn, 7})
	p.dial('b')
	g.mustWait(ep, 10000, event{evIn, 7})
	for i := range 2 {
		if _, e := g.accept(lfd, unix.SOCK_NONBLOCK); e != 0 {
			t.Fatalf("accept4 %d: %v", i, e)
		}
	}
}

// TestHostAcceptBlocking: accept4 on a blocking host listener sleeps on
// its queue (an exclusive waiter) until another process connects; a
// signal ends it with EINTR.
func TestHostAcceptBlocking(t *testing.T) {
	for _, n := range notifiers {
		t.Run(n.String(), func(t *testing.T) {
			k := newTestKernel(t, Options{Notifier: n})
			g := newGuest(t, k.Sys, nil)
			lfd, addr := hostListener(t, k, g)
			done := g.start(SysAccept4, lfd, 0, 0, unix.SOCK_NONBLOCK)
			settle()
			p := startPeer(t, addr)
			p.dial('x')
			r := <-done
			if r.e != 0 {
				t.Fatalf("accept4: %v", r.e)
			}
			if fl := g.must(syscalls.AMD64Fcntl, r.r, unix.F_GETFL); fl&unix.O_NONBLOCK == 0 {
				t.Errorf("accepted fd's flags %#o: no O_NONBLOCK", fl)
			}
			done = g.start(SysAccept4, lfd, 0, 0, 0)
			settle()
			g.t.Interrupt(int(unix.SIGUSR1))
			if r := <-done; r.e != unix.EINTR {
				t.Errorf("interrupted accept4: %d %v", r.r, r.e)
			}
		})
	}
}

// TestImportListenerNames: a name is given once; a second listener under
// it is refused, and its fd closed (the bridge holds no more fds than
// before).
func TestImportListenerNames(t *testing.T) {
	k := newTestKernel(t, Options{})
	g := newGuest(t, k.Sys, nil)
	hostListener(t, k, g)
	live := k.Bridge().Live()
	for _, name := range []string{"tcp", ""} {
		s, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.ImportListener(name, s); err == nil {
			t.Errorf("ImportListener(%q) succeeded", name)
		}
		if _, err := unix.FcntlInt(uintptr(s), unix.F_GETFD, 0); err != unix.EBADF {
			t.Errorf("ImportListener(%q) left fd %d open (%v)", name, s, err)
		}
	}
	if k.Bridge().Live() != live {
		t.Errorf("%d live host fds, want %d", k.Bridge().Live(), live)
	}
}
