package conformance

import (
	"fmt"
	"time"
)

// Status is the verdict on one script on one backend.
type Status string

// The statuses.
const (
	StatusPass     Status = "pass"     // every checked step matched
	StatusDiverged Status = "diverged" // some step differs, and the script is not listed as a known divergence
	StatusKnown    Status = "known"    // some step differs, and the script is listed as a known divergence
	StatusFixed    Status = "fixed"    // listed as a known divergence, but passed: remove it from the list
	StatusError    Status = "error"    // the backend stopped or failed (!! REASON), or the script is invalid
)

// DivergenceKind says what a divergent step failed.
type DivergenceKind string

// The divergence kinds.
const (
	DivExpectation DivergenceKind = "expectation" // the script's "=> ..." was not met
	DivOracle      DivergenceKind = "oracle"      // differs from the linux trace
	DivWithin      DivergenceKind = "within"      // the call took a time outside its within bounds
	DivNoOracle    DivergenceKind = "no-oracle"   // the linux trace has no result for the step
)

// Divergence is one failed step.
type Divergence struct {
	Line int
	Step string // the step text
	Kind DivergenceKind
	Got  string // this backend's result
	Want string // the expectation, or the oracle's result
	// WantFrom is "script" for expectations, the oracle's backend name
	// otherwise.
	WantFrom string
	Elapsed  time.Duration `json:",omitempty"`
	Within   *Within       `json:",omitempty"`
}

func (d Divergence) String() string {
	switch d.Kind {
	case DivWithin:
		return fmt.Sprintf("line %d: %s: took %s, outside within %d..%d (result %s)",
			d.Line, d.Step, fmtDuration(d.Elapsed), d.Within.Min, d.Within.Max, d.Got)
	case DivNoOracle:
		return fmt.Sprintf("line %d: %s: got %s, but %s", d.Line, d.Step, d.Got, d.Want)
	}
	return fmt.Sprintf("line %d: %s: got %s | %s: %s", d.Line, d.Step, d.Got, d.WantFrom, d.Want)
}

// Verdict is the comparison of one backend's trace of one script.
type Verdict struct {
	Path        string
	Backend     string
	Status      Status
	Steps       int          // steps executed
	Checked     int          // steps checked against an expectation or the oracle
	Divergences []Divergence `json:",omitempty"`
	Error       string       `json:",omitempty"` // the trace's abort reason
	Known       string       `json:",omitempty"` // reason from the known-divergences list
	Retried     bool         `json:",omitempty"` // the verdict comes from a re-run
	Duration    time.Duration
}

// Compare checks a backend's trace of sc. Every step with an expectation
// must match it (on every backend, linux included); every other step with
// a result must equal the oracle's result for that step, if an oracle
// trace is given and comes from another backend. A 'within' bound that
// was not met is a divergence too. A trace that ended with "!! REASON" is
// an error. Known divergences are applied separately (ApplyKnown).
func Compare(sc *Script, tr, oracle *Trace) Verdict {
	v := Verdict{Path: sc.Path, Backend: tr.Backend, Steps: len(tr.Steps), Duration: tr.Duration}
	var ora map[int]Outcome
	if oracle != nil && oracle.Backend != tr.Backend {
		ora = map[int]Outcome{}
		for _, o := range oracle.Steps {
			ora[o.Step] = o
		}
	}
	noOracle := false
	for _, o := range tr.Steps {
		if o.Step < 0 || o.Step >= len(sc.Steps) {
			continue
		}
		st := sc.Steps[o.Step]
		d := Divergence{Line: st.Line, Step: st.Text(), Got: o.Result.String()}
		if st.Kind == StepJoin {
			call := sc.Steps[st.Joins]
			d.Step += fmt.Sprintf(" (of line %d: %s)", call.Line, call.Call)
		}
		switch {
		case st.Expect != nil:
			v.Checked++
			if !st.Expect.Matches(o.Result) {
				d.Kind, d.Want, d.WantFrom = DivExpectation, st.Expect.String(), "script"
				v.Divergences = append(v.Divergences, d)
			}
		case ora != nil:
			want, ok := ora[o.Step]
			if !ok {
				noOracle = true
				d.Kind, d.WantFrom = DivNoOracle, oracle.Backend
				d.Want = oracle.Backend + " has no result for this step"
				if oracle.Abort != "" {
					d.Want += " (" + oracle.Backend + " stopped: " + oracle.Abort + ")"
				}
				v.Divergences = append(v.Divergences, d)
				continue
			}
			v.Checked++
			if !want.Result.Equal(o.Result) {
				d.Kind, d.Want, d.WantFrom = DivOracle, want.Result.String(), oracle.Backend
				v.Divergences = append(v.Divergences, d)
			}
		}
		if o.WithinFailed {
			w := withinOf(sc, st)
			d.Kind, d.Elapsed, d.Within = DivWithin, o.Elapsed, w
			if w == nil {
				d.Within = &Within{}
			}
			v.Divergences = append(v.Divergences, d)
		}
	}
	switch {
	case tr.Abort != "":
		v.Status, v.Error = StatusError, tr.Abort
	case noOracle:
		v.Status, v.Error = StatusError, "no "+oracle.Backend+" result to compare with"
		if oracle.Abort != "" {
			v.Error += ": " + oracle.Backend + " stopped: " + oracle.Abort
		}
	case len(v.Divergences) > 0:
		v.Status = StatusDiverged
	default:
		v.Status = StatusPass
	}
	return v
}

// ApplyKnown turns a divergence of a listed script into a known divergence,
// and a pass of a listed script into "fixed". Errors stay errors.
func ApplyKnown(v *Verdict, k *KnownEntry) {
	if k == nil {
		return
	}
	switch v.Status {
	case StatusDiverged:
		v.Status, v.Known = StatusKnown, k.Reason
	case StatusPass:
		v.Status, v.Known = StatusFixed, k.Reason
	}
}

// applyKnownStep turns the error of a backend that stopped at a step it
// does not implement yet into a known divergence, when the
// known-divergences list has a "step:OP" entry for it; a step that the
// oracle never reached is not excused.
func applyKnownStep(v *Verdict, tr *Trace, k *KnownEntry) {
	if k == nil || v.Status != StatusError {
		return
	}
	v.Status = StatusKnown
	v.Known = fmt.Sprintf("step %s not implemented yet: %s", tr.Unsupported, k.Reason)
}
