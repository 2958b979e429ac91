// Command benchchart draws the chart of docs/performance.md from
// `go test -bench` output: an SVG with two panels, drawn from the peers
// module's results (bench/peers) with the medians and targets of package
// internal/benchresults, the same that cmd/benchtable prints.
//
//   - Targets: for each of issue 17's targets, the measured ratio as a bar
//     (green when met, red when missed) with the target marked.
//   - Peers: for the main operations, the time of gVisor, the model and the
//     syscall layer relative to the host kernel's (host = 1).
//
// Usage (`make benchchart` after `make bench`):
//
//	go run ./cmd/benchchart -o docs/performance.svg < /tmp/guestpoll-bench.txt
//
// The output depends only on the input, so regenerating it from the same
// run changes nothing.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/guestpoll/guestpoll/internal/benchresults"
)

func main() {
	outPath := flag.String("o", "", "write the SVG to this file (default: stdout)")
	flag.Parse()
	out, err := benchresults.Parse(os.Stdin)
	if err != nil {
		fail(err)
	}
	if out.Peers.Empty() {
		fail(fmt.Errorf("no results of the peers module (bench/peers) in the input"))
	}
	var w io.Writer = os.Stdout
	if *outPath != "" {
		f, err := os.Create(*outPath)
		if err != nil {
			fail(err)
		}
		defer func() {
			if err := f.Close(); err != nil {
				fail(err)
			}
		}()
		w = f
	}
	if err := draw(w, out.Peers); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchchart:", err)
	os.Exit(1)
}
