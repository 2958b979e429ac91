package boxfuzz_test

import (
	"fmt"

	"github.com/guestpoll/guestpoll/conformance"
	"github.com/guestpoll/guestpoll/conformance/boxfuzz"
)

// Prepare drops the fdinfo step, gives the wait that finds an event a
// 3 s timeout, and hands it off to a helper thread that blocks in it
// before the write. Run(c, sc) would then run the result natively and
// under the box, with c's storm, and compare.
func ExamplePrepare() {
	sc, err := conformance.Parse("example.script", `ep = epoll_create1 0
r, w = pipe2 NONBLOCK
epoll_ctl ep ADD r IN|ET 0x1
fdinfo ep
write w 1
epoll_wait ep 8 0
`)
	if err != nil {
		panic(err)
	}
	c := boxfuzz.Config{Storm: 3, Blocking: true, Handoff: 0}
	prepared, err := boxfuzz.Prepare(c, sc)
	if err != nil {
		panic(err)
	}
	fmt.Print(conformance.FormatScript(prepared))
	// Output:
	// ep = epoll_create1 0
	// r, w = pipe2 NONBLOCK
	// epoll_ctl ep ADD r IN|ET 0x1
	// STORM_WAITER & epoll_wait ep 8 3000
	// sleep 20
	// write w 1
	// join STORM_WAITER
}
