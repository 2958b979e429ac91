package fuzzgen

import (
	"testing"

	"github.com/guestpoll/guestpoll/conformance"
)

// TestCheckpointMode runs generated versions of corpus scripts in
// checkpoint mode: the runs must end cleanly, checkpoints must really be
// taken, and the trace must equal the plain model's (which
// FuzzEpollSequence compares with Linux).
func TestCheckpointMode(t *testing.T) {
	taken := 0
	for i, sc := range corpusScripts(t) {
		if i%8 != 0 {
			continue
		}
		g := parseGenerated(t, EncodeFor(sc, modelCRServes), modelCRServes)
		cr, n := RunModelCheckpointed(g, scriptSeed(g))
		if cr.Failed() {
			t.Fatalf("%s: checkpoint mode failed: %s\n%s", sc.Path, cr.Abort, conformance.FormatScript(g))
		}
		mod, err := RunModel(g, nil)
		if err != nil {
			t.Fatal(err)
		}
		if v := conformance.Compare(g, cr, mod); v.Status != conformance.StatusPass {
			t.Fatalf("%s: checkpoint mode differs from the model: %v\n%s", sc.Path, v.Divergences, conformance.FormatScript(g))
		}
		taken += n
	}
	if taken == 0 {
		t.Fatal("no checkpoint taken")
	}
}
