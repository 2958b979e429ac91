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

// answerer copies harvested events out and then has to deliver an answer
// that may fail, as a seccomp supervisor does: it is an EventCommitter, so
// an answer that fails puts the harvest back.
type answerer struct {
	out     []epoll.Event
	deliver func(n int) bool
}

func (a *answerer) WriteEvents(evs []epoll.Event) (int, error) {
	a.out = append(a.out, evs...)
	return len(evs), nil
}

func (a *answerer) CommitEvents(n int) error {
	if !a.deliver(n) {
		return unix.EINTR // nothing consumed: the events stay queued
	}
	return nil
}

// An EventCommitter gets the last word on a harvest: here the first answer
// cannot be delivered, so the ONESHOT registration stays armed and the
// next harvest reports it again; once delivered, it is disarmed.
func ExampleEventCommitter() {
	d := epoll.NewDomain()
	epFile := epoll.NewFile(d)
	defer epFile.DecRef()
	ep, _ := epoll.FromFile(epFile)
	r, w := fs.NewPipe(unix.O_NONBLOCK)
	defer r.DecRef()
	defer w.DecRef()
	ep.Add(epoll.FileIdentifier{File: r, Fd: 3}, waiter.EventIn|waiter.EventOneshot, 7)
	w.Write([]byte("x"))

	buf := make([]epoll.Event, 8)
	attempts := 0
	a := &answerer{deliver: func(n int) bool { attempts++; return attempts > 1 }}
	for i := 0; i < 3; i++ {
		a.out = a.out[:0]
		n, err := ep.ReadEvents(buf, len(buf), a)
		fmt.Println(n, err, a.out)
	}
	// Output:
	// 0 interrupted system call [{IN 7}]
	// 1 <nil> [{IN 7}]
	// 0 <nil> []
}
