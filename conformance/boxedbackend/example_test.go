//go:build linux && amd64

package boxedbackend_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/guestpoll/guestpoll/conformance"
	_ "github.com/guestpoll/guestpoll/conformance/boxedbackend" // registers "boxed"
)

// TestMain lets the test binary serve as the boxed backend's child process
// (the package's init already makes it the supervisor when asked), as every
// binary that runs an isolated backend must.
func TestMain(m *testing.M) {
	conformance.RunChildIfRequested()
	os.Exit(m.Run())
}

// Look the backend up by name and run a script on it: the script runs in a
// fresh child process under seccompbox, its pipe is the host's and its epoll
// calls are served by the model, and the trace is Linux's.
func Example() {
	sc, err := conformance.Parse("example.script", `
r, w = pipe2 NONBLOCK
ep = epoll_create1 0
epoll_ctl ep ADD r IN 3
write w 1
epoll_wait ep 8 0
`)
	if err != nil {
		fmt.Println(err)
		return
	}
	boxed, err := conformance.LookupBackend("boxed")
	if err != nil {
		fmt.Println(err)
		return
	}
	tr := boxed.Run(sc, conformance.Options{})
	fmt.Println("backend:", tr.Backend)
	fmt.Print(conformance.FormatTrace(sc, tr, conformance.TraceFormat{}))
	// Output:
	// backend: boxed
	// r, w = pipe2 NONBLOCK   => fd fd
	// ep = epoll_create1 0    => fd
	// epoll_ctl ep ADD r IN 3 => 0
	// write w 1               => 1
	// epoll_wait ep 8 0       => 1 [IN 0x3]
}
