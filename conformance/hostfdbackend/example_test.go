package hostfdbackend_test

import (
	"fmt"

	"github.com/guestpoll/guestpoll/conformance"
	"github.com/guestpoll/guestpoll/conformance/hostfdbackend"
)

// Run a script on a hostfd machine in this process (the suite runs each
// script in a child process instead, for the reason the package comment
// gives; a process that forks nothing may run it in place). The pipe is a
// pair of host fds, the epoll instance the model's: closing the write end on
// the host reaches the model's wait queue through the bridge, and the read
// end reports HUP.
func Example() {
	sc, err := conformance.Parse("example.script", `
r, w = pipe2 NONBLOCK
ep = epoll_create1 0
epoll_ctl ep ADD r IN 9
close w
epoll_wait ep 8 0
`)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := hostfdbackend.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	tr := conformance.Execute(m, sc, conformance.Options{}, nil)
	fmt.Print(conformance.FormatTrace(sc, tr, conformance.TraceFormat{}))
	// Output:
	// r, w = pipe2 NONBLOCK   => fd fd
	// ep = epoll_create1 0    => fd
	// epoll_ctl ep ADD r IN 9 => 0
	// close w                 => 0
	// epoll_wait ep 8 0       => 1 [HUP 0x9]
}
