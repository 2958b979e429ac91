package fuzzgen

import (
	"fmt"

	"github.com/guestpoll/guestpoll/conformance"
	"github.com/guestpoll/guestpoll/conformance/internal/fuzzcodec"
)

// Encode turns a conformance script into generator input whose decoding
// is the closest script the generator can make: the seed corpus of the
// fuzz targets is the conformance corpus encoded this way. Every call step
// (on any thread) becomes one operation in script order; joins, sleeps and
// interrupts are dropped, waits get timeout 0, blocking files become
// non-blocking, timers that the script lets expire become already-expired
// timers, raw fd numbers become the generator's raw numbers, and steps
// the generator has no operation for (setrlimit_nofile) are dropped. Only
// the first MaxOps operations are kept.
//
// Each operation's encoding is its entry's in conformance's operations
// table (conformance.FuzzEncodeCall); the encoder drives a decoder as it
// goes, so it always agrees with the decoder on which names exist.
func Encode(sc *conformance.Script) []byte { return EncodeFor(sc, nil) }

// EncodeFor is Encode for a generator that makes the version 3
// operations serves accepts (GenerateFor). A step 'P & CALL' of a
// forked process P becomes a step of the same fork.
func EncodeFor(sc *conformance.Script, serves func(op string) bool) []byte {
	e := fuzzcodec.NewEncoder()
	e.SetServes(serves)
	for _, st := range sc.Steps {
		if st.Call == nil || e.Ops() >= MaxOps {
			continue
		}
		encoded := false
		if st.Kind == conformance.StepSpawn && e.Proc(st.Thread) != nil {
			encoded = conformance.FuzzEncodeOnProc(e, st.Thread, st.Call)
		} else {
			encoded = conformance.FuzzEncodeCall(e, st.Call)
		}
		if !encoded {
			continue
		}
		if err := e.Finish(st.Call.Names, conformance.FuzzDecodeOp); err != nil {
			panic(fmt.Sprintf("fuzzgen: encoder and decoder disagree on %s: %v", st.Call, err))
		}
	}
	return e.Bytes()
}
