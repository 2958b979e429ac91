//go:build linux && amd64

package seccompbox_test

import (
	"fmt"
	"os"
	"os/exec"

	"github.com/guestpoll/guestpoll/seccompbox"
)

// A program runs under a box: its epoll system calls (none, for this one)
// would be served by guestpoll's model. The binary that calls Start must
// call seccompbox.RunShimIfRequested first thing in main (this package's
// TestMain does).
func Example() {
	cmd := exec.Command("/bin/sh", "-c", "echo hello from the guest; exit 3")
	cmd.Stdout = os.Stdout
	box, err := seccompbox.Start(cmd, seccompbox.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	st, _ := box.Wait()
	fmt.Println("exit status", st.ExitCode())
	// Output:
	// hello from the guest
	// exit status 3
}
