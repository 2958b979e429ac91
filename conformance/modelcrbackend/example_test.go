package modelcrbackend_test

import (
	"fmt"

	"github.com/guestpoll/guestpoll/conformance"
	"github.com/guestpoll/guestpoll/conformance/modelcrbackend"
)

// Run a script on a model-cr machine: before every step but the first, the
// executor asks the machine to checkpoint, and the machine saves its kernel
// and goes on in a restored copy. The eventfd's counter and the epoll
// registration survive each swap, so the trace is the model's (and Linux's).
func Example() {
	sc, err := conformance.Parse("example.script", `
e = eventfd2 1 NONBLOCK
ep = epoll_create1 0
epoll_ctl ep ADD e IN 5
epoll_wait ep 8 0
`)
	if err != nil {
		fmt.Println(err)
		return
	}
	m := modelcrbackend.New()
	tr := conformance.Execute(m, sc, conformance.Options{}, nil)
	fmt.Print(conformance.FormatTrace(sc, tr, conformance.TraceFormat{}))
	fmt.Println("checkpoints:", m.Checkpoints)
	// Output:
	// e = eventfd2 1 NONBLOCK => fd
	// ep = epoll_create1 0    => fd
	// epoll_ctl ep ADD e IN 5 => 0
	// epoll_wait ep 8 0       => 1 [IN 0x5]
	// checkpoints: 3
}
