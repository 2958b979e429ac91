package conformance_test

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestpoll/guestpoll/conformance"
)

var corpusJobs = flag.Int("corpus.j", 4, "TestCorpus: script runs at once")

// TestCorpus runs every script under testdata/ (but testdata/selftest/,
// which TestSelftest covers) on every registered backend, with linux as the
// oracle, and fails on any unknown divergence, any backend failure and any
// invalid script. Known divergences (known-divergences.txt) are logged.
func TestCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("corpus skipped in -short mode")
	}
	known, err := conformance.LoadKnown(conformance.KnownFileName)
	if err != nil {
		t.Fatal(err)
	}
	res, err := conformance.RunSuite(conformance.SuiteOptions{
		Paths:   []string{"testdata"},
		Skip:    func(p string) bool { return strings.HasPrefix(filepath.ToSlash(p), "testdata/selftest/") },
		Jobs:    *corpusJobs,
		Retries: 1,
		Known:   known,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Scripts) == 0 {
		t.Skip("no corpus scripts under testdata/ yet")
	}
	checkSuite(t, res)
}

// checkSuite turns a suite result into subtest failures and logs.
func checkSuite(t *testing.T, res *conformance.SuiteResult) {
	t.Helper()
	for _, w := range res.Warnings {
		t.Logf("warning: %s", w)
	}
	for _, sr := range res.Scripts {
		if sr.ParseError != "" {
			t.Errorf("invalid script:\n%s", sr.ParseError)
			continue
		}
		for _, v := range sr.Verdicts {
			switch v.Status {
			case conformance.StatusDiverged, conformance.StatusError:
				var b strings.Builder
				for _, d := range v.Divergences {
					b.WriteString("\n    " + d.String())
				}
				if v.Error != "" {
					b.WriteString("\n    backend failed: " + v.Error)
				}
				b.WriteString("\n" + sr.Traces[v.Backend])
				t.Errorf("%s on %s: %s%s", sr.Path, v.Backend, v.Status, b.String())
			case conformance.StatusKnown:
				t.Logf("%s on %s: known divergence (%s)", sr.Path, v.Backend, v.Known)
			case conformance.StatusFixed:
				t.Logf("%s on %s: listed as a known divergence (%s) but passes: remove it from %s", sr.Path, v.Backend, v.Known, conformance.KnownFileName)
			}
		}
	}
	for _, s := range res.Summary() {
		t.Logf("%s: %d scripts, %d steps, %d passed, %d diverged, %d known, %d errors",
			s.Backend, s.Scripts, s.Steps, s.Passed, s.Diverged, s.Known, s.Errors)
	}
}
