package fuzzgen

import (
	"strings"

	"github.com/guestpoll/guestpoll/conformance"
	"github.com/guestpoll/guestpoll/conformance/internal/fuzzcodec"
)

// MaxOps bounds the operations decoded from one input; the bytes after
// them are ignored. It keeps one execution short (about a millisecond).
const MaxOps = 64

// Step is one step of a generated program. Thread is the script thread
// that runs it ("" for the main script thread); the generator emits only
// main-thread steps today, and a thread-aware generator will set it and
// add the spawn/join steps around it (see doc.go).
type Step struct {
	Thread string
	Call   string // the call in script syntax
}

// Generate decodes fuzzer bytes into a script. Every input decodes to a
// valid script (conformance/scripts format) that is single-threaded,
// never blocks (every pollable file is O_NONBLOCK, waits have timeout 0),
// never depends on fd numbers and never names a raw fd the harness could
// own.
func Generate(in []byte) string { return Text(Steps(in)) }

// Steps decodes in and returns the steps: one operation after another
// (conformance.FuzzDecodeOp), at most MaxOps.
func Steps(in []byte) []Step {
	d := fuzzcodec.NewDecoder(in)
	for d.More() && d.Ops() < MaxOps {
		conformance.FuzzDecodeOp(d)
	}
	var steps []Step
	for _, c := range d.Calls() {
		steps = append(steps, Step{Call: c})
	}
	return steps
}

// Text prints steps as a script.
func Text(steps []Step) string {
	var b strings.Builder
	for _, s := range steps {
		if s.Thread != "" {
			b.WriteString(s.Thread + " & ")
		}
		b.WriteString(s.Call)
		b.WriteByte('\n')
	}
	return b.String()
}
