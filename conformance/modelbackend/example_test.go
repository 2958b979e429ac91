package modelbackend_test

import (
	"fmt"

	"github.com/guestpoll/guestpoll/conformance"
	"github.com/guestpoll/guestpoll/conformance/modelbackend"
)

// Run a script on a model machine with the shared executor: every step is
// a system call of the syscall layer on a fresh model kernel. An eventfd
// created with a non-zero counter is readable at once.
func Example() {
	sc, err := conformance.Parse("example.script", `
e = eventfd2 1 NONBLOCK
poll e IN 0
`)
	if err != nil {
		fmt.Println(err)
		return
	}
	tr := conformance.Execute(modelbackend.New(), sc, conformance.Options{}, nil)
	fmt.Print(conformance.FormatTrace(sc, tr, conformance.TraceFormat{}))
	// Output:
	// e = eventfd2 1 NONBLOCK => fd
	// poll e IN 0             => 1 IN
}
