package conformance

import (
	"fmt"
	"strings"
	"time"
)

// FormatScript prints a parsed script in canonical form: one step per line,
// with its expectation if it has one, then the '!!' line if any. Comments
// and blank lines are not kept (see Record for an editor that keeps them).
func FormatScript(sc *Script) string {
	var lines []line
	for _, st := range sc.Steps {
		l := line{text: st.Text()}
		if st.Expect != nil {
			l.result, l.hasResult = st.Expect.String(), true
		}
		lines = append(lines, l)
	}
	return render(lines, sc.Abort)
}

// TraceFormat controls FormatTrace.
type TraceFormat struct {
	// Notes adds comments with fd numbers and with the time taken by
	// calls that have a 'within' bound.
	Notes bool
}

// FormatTrace prints a trace: the script's executed steps, each followed by
// "=> RESULT", then "!! REASON" if the backend stopped or failed. The
// output parses back (with Parse) to the same steps and results.
func FormatTrace(sc *Script, tr *Trace, f TraceFormat) string {
	var lines []line
	for _, o := range tr.Steps {
		if o.Step < 0 || o.Step >= len(sc.Steps) {
			continue
		}
		st := sc.Steps[o.Step]
		l := line{text: st.Text(), result: o.Result.String(), hasResult: true}
		if f.Notes {
			var notes []string
			if len(o.FDs) > 0 {
				notes = append(notes, fmt.Sprintf("fd numbers %s", joinInts(o.FDs)))
			}
			if w := withinOf(sc, st); w != nil {
				n := fmt.Sprintf("took %s", fmtDuration(o.Elapsed))
				if o.WithinFailed {
					n += fmt.Sprintf(", outside within %d..%d", w.Min, w.Max)
				}
				notes = append(notes, n)
			}
			l.comment = strings.Join(notes, "; ")
		}
		lines = append(lines, l)
	}
	return render(lines, tr.Abort)
}

// withinOf returns the timing bound that applies to a step's outcome: its
// own, or for a join that of the joined call.
func withinOf(sc *Script, st *Step) *Within {
	if st.Kind == StepJoin {
		return sc.Steps[st.Joins].Within
	}
	if st.Kind == StepCall {
		return st.Within
	}
	return nil
}

func joinInts(v []int32) string {
	var s []string
	for _, x := range v {
		s = append(s, fmt.Sprint(x))
	}
	return strings.Join(s, " ")
}

func fmtDuration(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

type line struct {
	text, result, comment string
	hasResult             bool
}

// maxAlign bounds the column results are aligned to.
const maxAlign = 44

func render(lines []line, abort string) string {
	width := 0
	for _, l := range lines {
		if n := len(l.text); n > width && n <= maxAlign {
			width = n
		}
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.text)
		if l.hasResult {
			b.WriteString(strings.Repeat(" ", max(width-len(l.text), 0)+1))
			b.WriteString("=>")
			if l.result != "" {
				b.WriteString(" " + l.result)
			}
		}
		if l.comment != "" {
			b.WriteString("  # " + oneLine(l.comment))
		}
		b.WriteByte('\n')
	}
	if abort != "" {
		b.WriteString("!! " + oneLine(abort) + "\n")
	}
	return b.String()
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
