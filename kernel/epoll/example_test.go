package epoll_test

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// The README's embedding example: an edge-triggered pipe registration.
func ExampleEventPoll_pipe() {
	d := epoll.NewDomain()     // kernel-wide epoll state
	epFile := epoll.NewFile(d) // an epoll instance, as an open file
	defer epFile.DecRef()
	ep, _ := epoll.FromFile(epFile)

	r, w := fs.NewPipe(unix.O_NONBLOCK) // a model pipe
	defer r.DecRef()
	defer w.DecRef()
	ep.Add(epoll.FileIdentifier{File: r, Fd: 3}, waiter.EventIn|waiter.EventET, 42)
	w.Write([]byte("hi"))

	events := make([]epoll.Event, 8)
	n, _ := ep.ReadEvents(events, len(events), nil)
	fmt.Println(n, events[0].Events, events[0].Data)

	// Edge-triggered: nothing more until the next write.
	n, _ = ep.ReadEvents(events, len(events), nil)
	fmt.Println(n)
	// Output:
	// 1 IN 42
	// 0
}
