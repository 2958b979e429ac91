package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
)

// BackendSummary counts one backend's verdicts. Scripts that passed
// include the "fixed" ones.
type BackendSummary struct {
	Backend  string
	Scripts  int
	Steps    int
	Passed   int
	Diverged int
	Known    int
	Errors   int
	Fixed    int
	Retried  int
}

// Summary counts the verdicts per backend, in r.Backends order.
func (r *SuiteResult) Summary() []BackendSummary {
	var out []BackendSummary
	for _, b := range r.Backends {
		s := BackendSummary{Backend: b}
		for _, sr := range r.Scripts {
			if sr.ParseError != "" {
				s.Scripts++
				s.Errors++
				continue
			}
			for _, v := range sr.Verdicts {
				if v.Backend != b {
					continue
				}
				s.Scripts++
				s.Steps += v.Steps
				if v.Retried {
					s.Retried++
				}
				switch v.Status {
				case StatusPass:
					s.Passed++
				case StatusFixed:
					s.Passed++
					s.Fixed++
				case StatusDiverged:
					s.Diverged++
				case StatusKnown:
					s.Known++
				case StatusError:
					s.Errors++
				}
			}
		}
		out = append(out, s)
	}
	return out
}

// DisplayPath shortens a script path for reports: relative to base if it
// is inside it.
func DisplayPath(p, base string) string {
	if base == "" {
		return p
	}
	ap, err1 := filepath.Abs(p)
	ab, err2 := filepath.Abs(base)
	if err1 != nil || err2 != nil {
		return p
	}
	if rel, err := filepath.Rel(ab, ap); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return p
}

// WriteText prints the human report: one line per script that did not
// pass on some backend (all its divergences with verbose, and the traces),
// then the summary table. Paths are shown relative to base ("" keeps them).
func WriteText(w io.Writer, r *SuiteResult, base string, verbose bool) {
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "WARNING  %s\n", warn)
	}
	for _, sr := range r.Scripts {
		p := DisplayPath(sr.Path, base)
		if sr.ParseError != "" {
			fmt.Fprintf(w, "INVALID  %s\n", indentRest(sr.ParseError, "         "))
			continue
		}
		for _, v := range sr.Verdicts {
			writeVerdict(w, p, v, verbose)
			if verbose && v.Status != StatusPass && v.Status != StatusFixed {
				for _, b := range sortedKeys(sr.Traces) {
					if b == v.Backend || b == "linux" {
						fmt.Fprintf(w, "    --- %s trace:\n%s", b, indent(sr.Traces[b], "    "))
					}
				}
			}
		}
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "backend\tscripts\tsteps\tpassed\tdiverged\tknown\terrors\t")
	for _, s := range r.Summary() {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", s.Backend, s.Scripts, s.Steps, s.Passed, s.Diverged, s.Known, s.Errors)
	}
	tw.Flush()
	var notes []string
	for _, s := range r.Summary() {
		if s.Fixed > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d listed script(s) now pass", s.Backend, s.Fixed))
		}
		if s.Retried > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d timing-sensitive script(s) re-run", s.Backend, s.Retried))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "(%s)\n", strings.Join(notes, "; "))
	}
	verdict := "PASS"
	if r.Failed() {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "%s in %.1fs\n", verdict, r.Duration.Seconds())
}

func writeVerdict(w io.Writer, p string, v Verdict, verbose bool) {
	retried := ""
	if v.Retried {
		retried = " (after a re-run)"
	}
	switch v.Status {
	case StatusPass:
		if verbose {
			fmt.Fprintf(w, "ok       %-8s %s%s\n", v.Backend, p, retried)
		}
	case StatusFixed:
		fmt.Fprintf(w, "FIXED    %-8s %s: listed as a known divergence (%s) but passes: remove it from the list\n", v.Backend, p, v.Known)
	case StatusError:
		fmt.Fprintf(w, "ERROR    %-8s %s: %s%s\n", v.Backend, p, oneLine(v.Error), retried)
		if verbose {
			for _, d := range v.Divergences {
				fmt.Fprintf(w, "    %s\n", d)
			}
		}
	case StatusKnown:
		if verbose {
			fmt.Fprintf(w, "known    %-8s %s: %s\n", v.Backend, p, v.Known)
			for _, d := range v.Divergences {
				fmt.Fprintf(w, "    %s\n", d)
			}
		}
	case StatusDiverged:
		first := v.Divergences[0]
		more := ""
		if n := len(v.Divergences) - 1; n > 0 {
			more = fmt.Sprintf(" (+%d more)", n)
		}
		fmt.Fprintf(w, "DIVERGED %-8s %s:%d: %s%s%s\n", v.Backend, p, first.Line, strings.TrimPrefix(first.String(), fmt.Sprintf("line %d: ", first.Line)), more, retried)
		if verbose {
			for _, d := range v.Divergences {
				fmt.Fprintf(w, "    %s\n", d)
			}
		}
	}
}

func indent(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}

func indentRest(s, prefix string) string {
	return strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// WriteJSON prints the machine-readable report: every script with its
// verdicts (and traces for scripts that did not pass), the summary, and
// whether the suite failed.
func WriteJSON(w io.Writer, r *SuiteResult) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Failed  bool
		Summary []BackendSummary
		*SuiteResult
	}{r.Failed(), r.Summary(), r})
}

func sortedKeys(m map[string]string) []string {
	var s []string
	for k := range m {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}
