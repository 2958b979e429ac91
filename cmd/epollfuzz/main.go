// Command epollfuzz runs guestpoll's fuzz targets and turns their findings
// into conformance scripts (see docs/fuzzing.md).
//
//	epollfuzz run [-fuzztime 30s] [-minimizetime 3s] [-parallel N] [PACKAGE...]
//	epollfuzz script FILE...
//	epollfuzz diff FILE...
//	epollfuzz boxdiff [-n 10] [-storm 3] [-blocking] [-handoff N] FILE...
//	epollfuzz seeds [-boxed] -o DIR [PATH...]
//
// run runs every Fuzz* target of the packages (default ./...) for
// -fuzztime each, one after another, streams go test's output, and ends
// with a table of executions, executions per second, new corpus entries
// and findings per target. Its exit status is 1 if any target found
// something (or failed), so `make fuzz` fails then.
//
// script prints the conformance script that a fuzz input of the
// conformance/fuzzgen targets decodes to (a file that go test -fuzz wrote
// under testdata/fuzz/FuzzXxx/); save it under
// conformance/testdata/regressions/ and record it with epollconf -record.
//
// boxdiff re-runs inputs of conformance/boxfuzz's FuzzBoxedSequence
// natively and under the box, -n times each (the box's divergences under
// a signal storm are often intermittent), and prints how many diverged
// with the first report.
//
// seeds writes the conformance scripts under PATH (default
// conformance/testdata), encoded as the generator targets' seeds, one raw
// input per file into DIR: a seed corpus for engines that do not run the
// f.Add seeds (libFuzzer on OSS-Fuzz or ClusterFuzzLite); with -boxed,
// for conformance/boxfuzz's FuzzBoxedSequence (boxfuzz.Encode with
// boxfuzz.SeedConfig).
//
// diff runs scripts (script files, or fuzz inputs, decoded) on the model
// and on the host kernel in this process, as FuzzEpollSequence does, and
// prints the divergences. Its exit status is 1 if any script diverges.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: epollfuzz run [-fuzztime D] [PACKAGE...] | script FILE... | diff FILE... | boxdiff [-n N] FILE... | seeds -o DIR [PATH...]")
		return 2
	}
	switch args[0] {
	case "run":
		return runTargets(args[1:], stdout, stderr)
	case "script":
		return printScripts(args[1:], stdout, stderr)
	case "diff":
		return diffScripts(args[1:], stdout, stderr)
	case "boxdiff":
		return boxDiff(args[1:], stdout, stderr)
	case "seeds":
		return writeSeeds(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "epollfuzz: unknown command %q\n", args[0])
	return 2
}
