package conformance

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// RecordChange is one line rewritten by Record.
type RecordChange struct {
	Line     int
	Old, New string
}

// Record writes the results of a linux trace into the script's text as
// expectations and returns the new text. It keeps comments, blank lines
// and layout: only the "=> ..." part of step lines changes. Expectations
// written as "*" or "A || B" are kept as written, and recording fails if
// Linux gave none of the listed results. Steps that have no result ("T &",
// sleep, interrupt) get no expectation unless they already had one.
// Recording fails if the trace stopped early or missed a within bound.
func Record(sc *Script, tr *Trace) (string, []RecordChange, error) {
	if tr.Abort != "" {
		return "", nil, fmt.Errorf("%s: %s stopped: %s", sc.Path, tr.Backend, tr.Abort)
	}
	if len(tr.Steps) != len(sc.Steps) {
		return "", nil, fmt.Errorf("%s: the trace has %d results for %d steps", sc.Path, len(tr.Steps), len(sc.Steps))
	}
	lines := append([]string(nil), sc.Lines...)
	col := dominantArrowColumn(sc)
	var changes []RecordChange
	var errs []string
	for _, o := range tr.Steps {
		st := sc.Steps[o.Step]
		if o.WithinFailed {
			errs = append(errs, fmt.Sprintf("%s:%d: took %s, outside its within bounds: not recording a timing failure",
				sc.Path, st.Line, fmtDuration(o.Elapsed)))
			continue
		}
		if st.Expect != nil && !st.Expect.Single() {
			if !st.Expect.Matches(o.Result) {
				errs = append(errs, fmt.Sprintf("%s:%d: Linux gave %s, none of %s", sc.Path, st.Line, o.Result, st.Expect))
			}
			continue
		}
		if st.Expect == nil && o.Result.Kind == KindNone {
			continue
		}
		old := lines[st.Line-1]
		nl := withResult(old, st, o.Result.String(), col)
		if nl != old {
			lines[st.Line-1] = nl
			changes = append(changes, RecordChange{Line: st.Line, Old: old, New: nl})
		}
	}
	if len(errs) > 0 {
		return "", nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	text := strings.Join(lines, "\n")
	// The new text must parse to the same steps, now expecting what
	// Linux did.
	sc2, err := Parse(sc.Path, text)
	if err != nil {
		return "", nil, fmt.Errorf("internal: recorded script does not parse: %v", err)
	}
	if len(sc2.Steps) != len(sc.Steps) {
		return "", nil, fmt.Errorf("internal: recorded script has %d steps, not %d", len(sc2.Steps), len(sc.Steps))
	}
	for _, o := range tr.Steps {
		st := sc2.Steps[o.Step]
		if st.Text() != sc.Steps[o.Step].Text() || st.Expect != nil && !st.Expect.Matches(o.Result) {
			return "", nil, fmt.Errorf("internal: recording line %d went wrong", st.Line)
		}
	}
	return text, changes, nil
}

// withResult rewrites one step line so that its expectation is res.
func withResult(raw string, st *Step, res string, col int) string {
	cr := ""
	if strings.HasSuffix(raw, "\r") {
		raw, cr = raw[:len(raw)-1], "\r"
	}
	comment := ""
	code := raw
	if st.commentCol >= 0 && st.commentCol <= len(raw) {
		code, comment = raw[:st.commentCol], raw[st.commentCol:]
	}
	arrow := "=>"
	if res != "" {
		arrow += " " + res
	}
	var out string
	if st.arrowCol >= 0 && st.arrowCol <= len(code) {
		pre := code[:st.arrowCol]
		oldRes := code[st.arrowCol+2:]
		gap := oldRes[len(strings.TrimRight(oldRes, " \t")):]
		if gap == "" && comment != "" {
			gap = " "
		}
		out = pre + arrow + gap + comment
	} else {
		pre := strings.TrimRight(code, " \t")
		gap := code[len(pre):]
		pad := " "
		if len(pre) < col {
			pad = strings.Repeat(" ", col-len(pre))
		}
		if gap == "" && comment != "" {
			gap = " "
		}
		out = pre + pad + arrow + gap + comment
	}
	return out + cr
}

// dominantArrowColumn is the column most "=>" of the script are at, so
// that new expectations line up with the existing ones. A script without
// any gets a column after its longest step line (up to maxAlign).
func dominantArrowColumn(sc *Script) int {
	count := map[int]int{}
	best, bestN := 0, 0
	for _, st := range sc.Steps {
		if st.arrowCol <= 0 {
			continue
		}
		count[st.arrowCol]++
		if n := count[st.arrowCol]; n > bestN || n == bestN && st.arrowCol > best {
			best, bestN = st.arrowCol, n
		}
	}
	if bestN == 0 {
		for _, st := range sc.Steps {
			raw := strings.TrimRight(sc.Lines[st.Line-1], "\r")
			if st.commentCol >= 0 && st.commentCol <= len(raw) {
				raw = raw[:st.commentCol]
			}
			if n := len(strings.TrimRight(raw, " \t")) + 1; n > best && n <= maxAlign+1 {
				best = n
			}
		}
	}
	return best
}

// RecordOutcome is what RecordFiles did with one script.
type RecordOutcome struct {
	Path    string
	Changes []RecordChange `json:",omitempty"`
	Error   string         `json:",omitempty"`
}

// RecordFiles runs the selected scripts on linux and rewrites each file
// with the results as expectations (see Record). Files whose recording
// fails are left untouched. opts.Backends is ignored.
func RecordFiles(opts SuiteOptions) ([]RecordOutcome, error) {
	linux, err := LookupBackend("linux")
	if err != nil {
		return nil, err
	}
	paths, err := FindScripts(opts.Paths)
	if err != nil {
		return nil, err
	}
	var out []RecordOutcome
	var units []unit
	var srs []*ScriptResult
	for _, p := range paths {
		if opts.Run != nil && !opts.Run.MatchString(filepath.ToSlash(p)) || opts.Skip != nil && opts.Skip(p) {
			continue
		}
		sr := &ScriptResult{Path: p, traces: map[string]*Trace{}}
		srs = append(srs, sr)
		data, err := os.ReadFile(p)
		if err == nil {
			sr.script, err = Parse(p, string(data))
		}
		if err != nil {
			sr.ParseError = err.Error()
			continue
		}
		units = append(units, unit{sr: sr, backend: linux})
	}
	s := &scheduler{jobs: opts.Jobs, exec: opts.Exec, progress: opts.Progress, total: len(units)}
	s.run(units)
	for _, sr := range srs {
		ro := RecordOutcome{Path: sr.Path}
		if sr.ParseError != "" {
			ro.Error = sr.ParseError
			out = append(out, ro)
			continue
		}
		text, changes, err := Record(sr.script, sr.traces["linux"])
		if err == nil && len(changes) > 0 {
			err = writeFileAtomic(sr.Path, text)
		}
		if err != nil {
			ro.Error = err.Error()
		} else {
			ro.Changes = changes
		}
		out = append(out, ro)
	}
	return out, nil
}

// writeFileAtomic replaces a file's content, keeping its mode.
func writeFileAtomic(path, text string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".record-*")
	if err != nil {
		return err
	}
	_, err = tmp.WriteString(text)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), fi.Mode().Perm())
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
