package hostfd_test

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/hostfd"
	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// A host TCP listener imported into the model, watched edge-triggered by
// a guest's epoll instance, and accepted by the embedder itself through
// Do: accepting until EAGAIN re-arms the bridge, so every connection is
// a new edge.
func Example() {
	b, err := hostfd.NewBridge(hostfd.Options{}) // or Notifier: hostfd.NotifyEpoll
	if err != nil {
		panic(err)
	}
	defer b.Close()

	// The listener, a real host socket; Import takes ownership of it.
	lfd, _ := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	unix.Listen(lfd, 8)
	sa, _ := unix.Getsockname(lfd)
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
	listener, err := b.Import(lfd, hostfd.ImportOptions{})
	if err != nil {
		panic(err)
	}
	defer listener.DecRef()

	// A guest's epoll instance watches it, edge-triggered, as fd 3.
	epf := epoll.NewFile(epoll.NewDomain())
	defer epf.DecRef()
	ep, _ := epoll.FromFile(epf)
	if err := ep.Add(epoll.FileIdentifier{File: listener, Fd: 3}, waiter.EventIn|waiter.EventET, 3); err != nil {
		panic(err)
	}
	defer ep.Delete(epoll.FileIdentifier{File: listener, Fd: 3})

	// Waiting as a blocked epoll_wait does: a waiter on the instance's
	// queue, woken when an event is ready.
	sleeper := waiter.NewSleeper()
	var entry waiter.Entry
	entry.Init(sleeper, false, false)
	epf.EventRegister(&entry)
	defer epf.EventUnregister(&entry)
	wait := func() epoll.Event {
		buf := make([]epoll.Event, 1)
		for {
			if n, _ := ep.ReadEvents(buf, 1, nil); n == 1 {
				return buf[0]
			}
			<-sleeper.C()
		}
	}

	// accept4 is not a model operation: the embedder runs it on the host
	// fd through Do, which re-arms the bridge when it says EAGAIN.
	acceptAll := func() (n int) {
		for {
			err := hostfd.Do(listener, waiter.ReadableEvents, func(fd int) error {
				conn, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
				if err == nil {
					unix.Close(conn) // a real kernel would import it
				}
				return err
			})
			if err != nil { // EAGAIN: drained
				return n
			}
			n++
		}
	}

	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr) // a client outside the model
		if err != nil {
			panic(err)
		}
		ev := wait()
		fmt.Printf("epoll_wait: %v on fd %d; accepted %d\n", ev.Events, ev.Data, acceptAll())
		c.Close()
	}
	// Output:
	// epoll_wait: IN on fd 3; accepted 1
	// epoll_wait: IN on fd 3; accepted 1
}
