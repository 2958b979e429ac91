package conformance_test

import (
	"fmt"

	"github.com/guestpoll/guestpoll/conformance"
	_ "github.com/guestpoll/guestpoll/conformance/modelbackend" // registers "model"
)

// Parse a script, print it in canonical form (comments dropped, expectations
// aligned), run it on the model backend (registered by blank-importing
// conformance/modelbackend) and print its trace, in which every step carries
// its result and fd results are shapes ("fd"), never numbers.
func Example() {
	sc, err := conformance.Parse("example.script", `
# A pipe's read end becomes readable once the write end is written.
r, w = pipe2 NONBLOCK
ep = epoll_create1 0
epoll_ctl ep ADD r 0x1 7
epoll_wait ep 8 0   => 0
write w 3           => 3
epoll_wait ep 8 0   => 1 [IN 7]
`)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(conformance.FormatScript(sc))

	model, err := conformance.LookupBackend("model")
	if err != nil {
		fmt.Println(err)
		return
	}
	tr := model.Run(sc, conformance.Options{})
	fmt.Println("---", tr.Backend, "failed:", tr.Failed())
	fmt.Print(conformance.FormatTrace(sc, tr, conformance.TraceFormat{}))
	// Output:
	// r, w = pipe2 NONBLOCK
	// ep = epoll_create1 0
	// epoll_ctl ep ADD r 0x1 7
	// epoll_wait ep 8 0        => 0
	// write w 3                => 3
	// epoll_wait ep 8 0        => 1 [IN 0x7]
	// --- model failed: false
	// r, w = pipe2 NONBLOCK    => fd fd
	// ep = epoll_create1 0     => fd
	// epoll_ctl ep ADD r 0x1 7 => 0
	// epoll_wait ep 8 0        => 0
	// write w 3                => 3
	// epoll_wait ep 8 0        => 1 [IN 0x7]
}
