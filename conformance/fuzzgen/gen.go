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
// main-thread steps and steps of forked processes ('P & CALL', each
// followed by a 'join P' step).
type Step struct {
	Thread string
	Call   string // the call in script syntax
}

// Generate decodes fuzzer bytes into a script. Every input decodes to a
// valid script (docs/conformance-format.md) that is single-threaded,
// never blocks (every pollable file is O_NONBLOCK, waits have timeout 0),
// never depends on fd numbers and never names a raw fd the harness could
// own.
func Generate(in []byte) string { return Text(Steps(in)) }

// GenerateFor is Generate for a generator that also makes the version 3
// operations serves accepts (conformance.FuzzServes of a backend): forks
// and their steps, listeners, signals, FIFOs, socket flags, pipe sizes.
func GenerateFor(in []byte, serves func(op string) bool) string {
	return Text(StepsFor(in, serves))
}

// Steps decodes in and returns the steps: one operation after another
// (conformance.FuzzDecodeOp), at most MaxOps.
func Steps(in []byte) []Step { return StepsFor(in, nil) }

// StepsFor is Steps with the version 3 operations serves accepts.
func StepsFor(in []byte, serves func(op string) bool) []Step {
	d := fuzzcodec.NewDecoder(in)
	d.SetServes(serves)
	for d.More() && d.Ops() < MaxOps {
		conformance.FuzzDecodeOp(d)
	}
	var steps []Step
	for _, c := range d.Calls() {
		st := Step{Call: c}
		if p, call, ok := strings.Cut(c, " & "); ok {
			st = Step{Thread: p, Call: call}
		}
		steps = append(steps, st)
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
