package fs

import (
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

func listener(t *testing.T, ns *UnixNamespace, typ int, name string, backlog int) *File {
	t.Helper()
	l, err := NewSocket(typ, unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	lst := l.impl.(Listener)
	if err := lst.Bind(l, Names{Unix: ns, Paths: NewPathNamespace()}, []byte("\x00"+name)); err != nil {
		t.Fatal(err)
	}
	if err := lst.Listen(l, backlog); err != nil {
		t.Fatal(err)
	}
	return l
}

func dial(t *testing.T, ns *UnixNamespace, typ int, name string) (*File, error) {
	t.Helper()
	c, err := NewSocket(typ, unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.impl.(Listener).Connect(c, Names{Unix: ns, Paths: NewPathNamespace()}, []byte("\x00"+name)); err != nil {
		c.DecRef()
		return nil, err
	}
	t.Cleanup(c.DecRef)
	return c, nil
}

// TestListenerWakeups: each connection wakes the listener's queue once,
// wake-one, with sock_def_readable's key; an accept wakes one waiting
// connect; closing the listener resets its embryos' clients (key 0,
// wake-all) and wakes every waiting connect.
func TestListenerWakeups(t *testing.T) {
	ns := NewUnixNamespace()
	l := listener(t, ns, unix.SOCK_STREAM, "w", 0)
	rec := watch(t, l)
	c1, err := dial(t, ns, unix.SOCK_STREAM, "w")
	if err != nil {
		t.Fatal(err)
	}
	rec.expect(t, "connect", one(dataReadyKey))
	expectMask(t, "listener with one embryo", l, waiter.EventIn|waiter.EventRdNorm)
	expectMask(t, "client before accept", c1, waiter.EventOut|waiter.EventWrNorm|waiter.EventWrBand)
	if _, err := dial(t, ns, unix.SOCK_STREAM, "w"); err != unix.EAGAIN {
		t.Fatalf("connect to a full listener: %v", err)
	}
	rec.expect(t, "refused connect")

	var waiting recorder
	waiting.first.Init(recFirst{&waiting}, true, false)
	ls := l.impl.(*unixSocket)
	ls.peerWait.Register(&waiting.first)
	a, err := ls.Accept(l, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.DecRef()
	waiting.expect(t, "accept wakes a connect", one(0))
	expectMask(t, "listener drained", l, 0)
	if _, err := ls.Accept(l, 0, false); err != unix.EAGAIN {
		t.Fatalf("empty accept: %v", err)
	}

	c2, err := dial(t, ns, unix.SOCK_STREAM, "w")
	if err != nil {
		t.Fatal(err)
	}
	crec := watch(t, c2)
	l.DecRef() // the listener's last reference
	waiting.expect(t, "the listener's close wakes every connect", one(0))
	ls.peerWait.Unregister(&waiting.first)
	crec.expect(t, "client of an embryo at the listener's close", all(0))
	expectMask(t, "reset client", c2, waiter.EventIn|waiter.EventRdNorm|waiter.EventRdHUp|waiter.EventHUp|
		waiter.EventErr|waiter.EventOut|waiter.EventWrNorm|waiter.EventWrBand)
	if _, err := dial(t, ns, unix.SOCK_STREAM, "w"); err != unix.ECONNREFUSED {
		t.Fatalf("connect after close: %v", err)
	}
	checkInv(t, c1, c2, a)
}

// TestListenerConcurrent races connects (which find the listener by name,
// without a reference), accepts, client closes and the listener's close
// (run with -race): nothing deadlocks, every embryo ends
// accepted or reset, and the invariants hold throughout.
func TestListenerConcurrent(t *testing.T) {
	for round := 0; round < 20; round++ {
		ns := NewUnixNamespace()
		l := listener(t, ns, unix.SOCK_STREAM, "c", 8)
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(2)
			go func() {
				defer wg.Done()
				for i := 0; i < 20; i++ {
					c, err := NewSocket(unix.SOCK_STREAM, unix.O_NONBLOCK)
					if err != nil {
						panic(err)
					}
					c.impl.(Listener).Connect(c, Names{Unix: ns, Paths: NewPathNamespace()}, []byte("\x00c"))
					c.Write([]byte("x"))
					c.DecRef()
				}
			}()
			l.IncRef() // the accepting goroutine's reference
			go func() {
				defer wg.Done()
				defer l.DecRef()
				for i := 0; i < 20; i++ {
					if a, err := l.impl.(Listener).Accept(l, 0, false); err == nil {
						a.Read(make([]byte, 1))
						if err := CheckInvariants(a); err != nil {
							panic(err)
						}
						a.DecRef()
					}
					if err := CheckInvariants(l); err != nil {
						panic(err)
					}
				}
			}()
		}
		if round%2 == 1 {
			l.DecRef() // drop ours while the others run: the last accept closes it
			wg.Wait()
			continue
		}
		wg.Wait()
		l.DecRef()
	}
}
