//go:build linux && amd64

package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/guestpoll/guestpoll/conformance/boxfuzz"
)

// boxDiff re-runs FuzzBoxedSequence inputs (files go test -fuzz wrote,
// or script files run with the configuration the flags give) natively
// and under the box, -n times each, and prints how many runs
// diverged and the first divergence. Its exit status is 1 if any run
// diverged.
func boxDiff(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("epollfuzz boxdiff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 10, "runs per input")
	storm := fs.Int("storm", 3, "for a script file: the storm level (boxfuzz.StormIntervals)")
	blocking := fs.Bool("blocking", false, "for a script file: make waits that find events blocking")
	handoff := fs.Int("handoff", -1, "for a script file: the wait to hand off to a helper thread (-1: none)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	status := 0
	for _, p := range fs.Args() {
		c, sc, err := loadBoxInput(p, boxfuzz.Config{Storm: *storm, Blocking: *blocking || *handoff >= 0, Handoff: *handoff})
		if err != nil {
			fmt.Fprintf(stderr, "epollfuzz: %s: %v\n", p, err)
			status = 1
			continue
		}
		diverged, first := 0, ""
		for i := 0; i < *n; i++ {
			r, err := boxfuzz.Run(c, sc)
			if err != nil {
				fmt.Fprintf(stdout, "ERROR %s: %v\n", p, err)
				status = 1
				break
			}
			if r.Diverged() {
				diverged++
				if first == "" {
					first = r.Report()
				}
			}
		}
		if diverged > 0 {
			status = 1
			fmt.Fprintf(stdout, "DIVERGED %s: %d of %d runs\n%s\n", p, diverged, *n, first)
		} else {
			fmt.Fprintf(stdout, "ok %s: %d runs\n", p, *n)
		}
	}
	return status
}
