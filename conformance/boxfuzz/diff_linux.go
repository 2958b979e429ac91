//go:build linux && amd64

package boxfuzz

import (
	"fmt"
	"strings"
	"time"

	"github.com/guestpoll/guestpoll/conformance"
)

// runOpts bounds a run: a prepared script sleeps at most a few seconds (a
// blocking wait that lost its events), so a call still running after 10 s
// is a hang.
var runOpts = conformance.Options{JoinTimeout: 10 * time.Second, CleanupTimeout: 3 * time.Second}

// Result is one differential run.
type Result struct {
	Config   Config
	Script   *conformance.Script // as both sides ran it (Prepare)
	Native   *conformance.Trace
	Boxed    *conformance.Trace
	Verdict  conformance.Verdict // the boxed trace against the native one
	Duration time.Duration
}

// Diverged reports whether the boxed run differs from the native one.
func (r *Result) Diverged() bool { return r.Verdict.Status != conformance.StatusPass }

// Report prints the configuration, the divergences, the script and both
// traces.
func (r *Result) Report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config: %v\n", r.Config)
	if r.Verdict.Error != "" {
		fmt.Fprintf(&b, "boxed run failed: %s\n", r.Verdict.Error)
	}
	for _, d := range r.Verdict.Divergences {
		fmt.Fprintf(&b, "boxed: %s\n", d)
	}
	fmt.Fprintf(&b, "script:\n%s", conformance.FormatScript(r.Script))
	for _, t := range []*conformance.Trace{r.Native, r.Boxed} {
		if t != nil {
			fmt.Fprintf(&b, "\n%s trace:\n%s", t.Backend, conformance.FormatTrace(r.Script, t, conformance.TraceFormat{}))
		}
	}
	return b.String()
}

// Run prepares sc (Prepare) and runs it in a fresh child process natively
// and in one under the box, both with c's storm, and compares the boxed
// trace with the native one. An error means the native run itself failed,
// which is a harness or generator bug, not a divergence. The calling
// binary must call conformance.RunChildIfRequested first thing (the
// children are re-runs of it) and link this package.
func Run(c Config, sc *conformance.Script) (*Result, error) {
	start := time.Now()
	prepared, err := Prepare(c, sc)
	if err != nil {
		return nil, err
	}
	r := &Result{Config: c, Script: prepared}
	native, err := conformance.LookupBackend(nativeBackend(c.Storm))
	if err != nil {
		return nil, err
	}
	boxed, err := conformance.LookupBackend(boxedBackend(c.Storm))
	if err != nil {
		return nil, err
	}
	r.Native = native.Run(prepared, runOpts)
	if r.Native.Failed() {
		return r, fmt.Errorf("the native run failed: %s\n%s", r.Native.Abort, r.Report())
	}
	r.Boxed = boxed.Run(prepared, runOpts)
	r.Verdict = conformance.Compare(prepared, r.Boxed, r.Native)
	r.Duration = time.Since(start)
	return r, nil
}
