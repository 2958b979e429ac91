// Command benchtable turns `go test -bench` output into the tables of
// docs/performance.md. It reads the benchmark output on stdin (any number
// of packages, any -count or repeated runs), takes the median of each
// metric over the runs (package internal/benchresults) and prints, after
// a line about the machine:
//
//   - when the peers module's output is there (bench/peers, issue 17): one
//     row per operation with the host, gVisor, model and syscall-layer
//     columns, their ratios and the status of each of issue 17's targets,
//     then the hostfd bridge against native host epoll;
//   - when the model packages' output is there (issue 7): one row per
//     operation, model against host (or a bare channel for the wakeup
//     round trips), the model's allocations, issue 7's target and whether
//     it is met.
//
// Where the run measured a synchronisation floor (impl=floor of the
// wakeup round trip: the model's locks and atomics alone around the same
// parking), both tables print its ratio to the channel ping-pong beside
// the round trip's, and a missed target whose floor is above the limit
// says it is out of reach.
//
// `make bench` produces both:
//
//	make bench                      # runs everything, then this
//	go run ./cmd/benchtable < /tmp/guestpoll-bench.txt
//
// Benchmark names follow benchstat's key=value convention:
// BenchmarkHarvest/impl=model/n=1000. Benchmarks without an impl= element
// are ignored.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/internal/benchresults"
)

func format(v float64, ok bool, unit string) string {
	if !ok {
		return "-"
	}
	switch unit {
	case "ns/op":
		if v >= 10000 {
			return fmt.Sprintf("%.1f µs", v/1000)
		}
		return fmt.Sprintf("%.1f ns", v)
	case "B/reg":
		return fmt.Sprintf("%.0f B", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func machineNote(p *results) string {
	var u unix.Utsname
	release := "?"
	if unix.Uname(&u) == nil {
		release = unix.ByteSliceToString(u.Release[:])
	}
	load := "?"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			load = strings.Join(f[:3], " ")
		}
	}
	return fmt.Sprintf("Machine: %s, GOMAXPROCS %d (%d CPUs), Linux %s, %s %s/%s; medians of %d runs; load average %s when the table was made.",
		p.CPU, p.Procs, runtime.NumCPU(), release, runtime.Version(), runtime.GOOS, runtime.GOARCH, p.Runs, load)
}

// write prints the machine line and the tables the output has data for.
func write(w io.Writer, out *benchresults.Output) {
	first := out.Peers
	if first.Empty() {
		first = out.Model
	}
	fmt.Fprintln(w, machineNote(first))
	if !out.Peers.Empty() {
		fmt.Fprintln(w)
		writePeersTable(w, out.Peers)
		if hasHostfd(out.Peers) {
			fmt.Fprintln(w)
			writeHostfdTable(w, out.Peers)
		}
	}
	if !out.Model.Empty() {
		fmt.Fprintln(w)
		if !out.Peers.Empty() {
			fmt.Fprintf(w, "Model against host, every benchmark of the model's packages (issue 7; medians of %d runs):\n\n", out.Model.Runs)
		}
		writeModelTable(w, out.Model)
	}
}

func main() {
	out, err := benchresults.Parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	if out.Peers.Empty() && out.Model.Empty() {
		fmt.Fprintln(os.Stderr, "benchtable: no impl= benchmarks in the input")
		os.Exit(1)
	}
	write(os.Stdout, out)
}
