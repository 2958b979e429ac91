package conformance

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// ScriptExt is the extension of script files.
const ScriptExt = ".script"

// FindScripts expands files and directory trees into the sorted list of
// *.script files they contain. A file named explicitly is taken whatever
// its extension.
func FindScripts(paths []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		c := filepath.Clean(p)
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			add(p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(path, ScriptExt) {
				add(path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(out)
	return out, nil
}

// SuiteOptions configure RunSuite.
type SuiteOptions struct {
	// Paths are script files or directory trees of *.script files.
	Paths []string
	// Backends are the backends whose verdicts are reported (default:
	// every registered backend).
	Backends []string
	// NoOracle skips running linux when it is not in Backends; steps
	// without expectations are then not checked on other backends.
	NoOracle bool
	// Run, if set, selects scripts whose path matches it.
	Run *regexp.Regexp
	// Skip, if set, drops scripts for which it returns true.
	Skip func(path string) bool
	// Jobs is how many script runs go on at once (default 4). Runs of
	// timing-sensitive scripts (threads, sleep, interrupt, within) are
	// never concurrent with any other run.
	Jobs int
	// Retries is how many times a timing-sensitive script whose verdict is
	// an unknown divergence or a runner error is run again, alone, on
	// every backend; the last run decides. The CLI default is 1.
	Retries int
	// Known is the known-divergences list (may be nil).
	Known *KnownDivergences
	// Exec tunes the executor.
	Exec Options
	// Progress, if set, is called after each run (serialized).
	Progress func(Progress)
}

// Progress reports one finished run.
type Progress struct {
	Done, Total int
	Backend     string
	Path        string
	Failed      bool // the trace ended with "!! REASON"
}

// ScriptResult is everything about one script.
type ScriptResult struct {
	Path       string
	ParseError string `json:",omitempty"`
	Verdicts   []Verdict
	// Traces are the printed traces, by backend, kept for scripts that
	// did not pass everywhere.
	Traces map[string]string `json:",omitempty"`

	script *Script
	traces map[string]*Trace
}

// Script returns the parsed script (nil after a parse error).
func (r *ScriptResult) Script() *Script { return r.script }

// Trace returns the trace of one backend (nil if it did not run).
func (r *ScriptResult) Trace(backend string) *Trace { return r.traces[backend] }

// SuiteResult is the outcome of RunSuite.
type SuiteResult struct {
	Backends []string
	Scripts  []*ScriptResult
	Warnings []string `json:",omitempty"`
	Duration time.Duration
}

// RunSuite runs every selected script on the selected backends (and on
// linux as the oracle) and compares the traces.
func RunSuite(opts SuiteOptions) (*SuiteResult, error) {
	start := time.Now()
	plan, err := newSuitePlan(opts)
	if err != nil {
		return nil, err
	}
	paths, err := FindScripts(opts.Paths)
	if err != nil {
		return nil, err
	}
	res := &SuiteResult{Backends: plan.backends}
	for _, e := range opts.Known.Missing() {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s:%d: listed script %s does not exist", opts.Known.Path, e.Line, e.Script))
	}
	var units []unit
	for _, p := range paths {
		if opts.Run != nil && !opts.Run.MatchString(filepath.ToSlash(p)) {
			continue
		}
		if opts.Skip != nil && opts.Skip(p) {
			continue
		}
		sr := loadScript(p)
		res.Scripts = append(res.Scripts, sr)
		if sr.script != nil {
			units = append(units, plan.units(sr)...)
		}
	}
	s := &scheduler{jobs: opts.Jobs, exec: opts.Exec, progress: opts.Progress, total: len(units)}
	s.run(units)
	for _, sr := range res.Scripts {
		if sr.script != nil {
			plan.judge(sr, false)
		}
	}
	for try := 0; try < opts.Retries; try++ {
		if !plan.retry(res, s) {
			break
		}
	}
	for _, sr := range res.Scripts {
		sr.keepTraces()
	}
	res.Duration = time.Since(start)
	return res, nil
}

// suitePlan is what a suite runs: the backends judged, the backends run
// (linux added as the oracle) with their implementations, and the known
// divergences.
type suitePlan struct {
	backends []string
	runSet   []string
	impls    map[string]Backend
	known    *KnownDivergences
}

func newSuitePlan(opts SuiteOptions) (*suitePlan, error) {
	p := &suitePlan{backends: opts.Backends, known: opts.Known, impls: map[string]Backend{}}
	if len(p.backends) == 0 {
		p.backends = Backends()
	}
	p.runSet = append([]string(nil), p.backends...)
	if !slices.Contains(p.backends, "linux") && !opts.NoOracle {
		p.runSet = append([]string{"linux"}, p.runSet...)
	}
	for _, b := range p.runSet {
		impl, err := LookupBackend(b)
		if err != nil {
			return nil, err
		}
		p.impls[b] = impl
	}
	return p, nil
}

// loadScript reads and parses the script at p; a failure is the result's
// ParseError.
func loadScript(p string) *ScriptResult {
	sr := &ScriptResult{Path: p, traces: map[string]*Trace{}}
	data, err := os.ReadFile(p)
	if err != nil {
		sr.ParseError = err.Error()
		return sr
	}
	sc, err := Parse(p, string(data))
	if err != nil {
		sr.ParseError = err.Error()
		return sr
	}
	sr.script = sc
	return sr
}

// units returns the runs of sr's script, one per backend run.
func (p *suitePlan) units(sr *ScriptResult) []unit {
	var units []unit
	for _, b := range p.runSet {
		units = append(units, unit{sr: sr, backend: p.impls[b]})
	}
	return units
}

// judge compares sr's trace on each judged backend with the linux trace.
func (p *suitePlan) judge(sr *ScriptResult, retried bool) {
	sr.Verdicts = nil
	oracle := sr.traces["linux"]
	for _, b := range p.backends {
		v := Compare(sr.script, sr.traces[b], oracle)
		v.Path, v.Retried = sr.Path, retried
		ApplyKnown(&v, p.known.Lookup(sr.Path, b))
		if tr := sr.traces[b]; tr != nil && tr.Unsupported != "" {
			applyKnownStep(&v, tr, p.known.LookupStep(tr.Unsupported, b))
		}
		sr.Verdicts = append(sr.Verdicts, v)
	}
}

// retry runs again, on every backend, the timing-sensitive scripts that
// diverged or failed, and judges them again; false when there was none.
func (p *suitePlan) retry(res *SuiteResult, s *scheduler) bool {
	var again []unit
	var srs []*ScriptResult
	for _, sr := range res.Scripts {
		if sr.script == nil || !sr.script.timingSensitive() || !needsRetry(sr) {
			continue
		}
		srs = append(srs, sr)
		again = append(again, p.units(sr)...)
	}
	if len(again) == 0 {
		return false
	}
	s.total += len(again)
	s.run(again)
	for _, sr := range srs {
		p.judge(sr, true)
	}
	return true
}

// keepTraces prints the traces of a script that did not pass everywhere,
// for the reports.
func (r *ScriptResult) keepTraces() {
	if r.script == nil {
		return
	}
	clean := true
	for _, v := range r.Verdicts {
		clean = clean && v.Status == StatusPass
	}
	if clean {
		return
	}
	r.Traces = map[string]string{}
	for b, tr := range r.traces {
		r.Traces[b] = FormatTrace(r.script, tr, TraceFormat{Notes: true})
	}
}

func needsRetry(sr *ScriptResult) bool {
	for _, v := range sr.Verdicts {
		if tr := sr.traces[v.Backend]; v.Status == StatusDiverged || v.Status == StatusError && !tr.ScriptError && tr.Unsupported == "" {
			return true
		}
	}
	return false
}

type unit struct {
	sr      *ScriptResult
	backend Backend
}

// scheduler runs units on a pool of goroutines. Timing-sensitive scripts
// take the lock exclusively, others share it.
type scheduler struct {
	jobs     int
	exec     Options
	progress func(Progress)
	rw       sync.RWMutex
	mu       sync.Mutex // guards results, done, progress calls
	done     int
	total    int
}

func (s *scheduler) run(units []unit) {
	jobs := s.jobs
	if jobs <= 0 {
		jobs = 4
	}
	ch := make(chan unit)
	var wg sync.WaitGroup
	for i := 0; i < jobs; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range ch {
				s.runOne(u)
			}
		}()
	}
	for _, u := range units {
		ch <- u
	}
	close(ch)
	wg.Wait()
}

func (s *scheduler) runOne(u unit) {
	sc := u.sr.script
	if sc.timingSensitive() {
		s.rw.Lock()
	} else {
		s.rw.RLock()
	}
	tr := u.backend.Run(sc, s.exec)
	if sc.timingSensitive() {
		s.rw.Unlock()
	} else {
		s.rw.RUnlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u.sr.traces[u.backend.Name()] = tr
	s.done++
	if s.progress != nil {
		s.progress(Progress{Done: s.done, Total: s.total, Backend: u.backend.Name(), Path: sc.Path, Failed: tr.Failed()})
	}
}

// Failed reports whether the suite has an unknown divergence, an error or
// an invalid script.
func (r *SuiteResult) Failed() bool {
	for _, sr := range r.Scripts {
		if sr.ParseError != "" {
			return true
		}
		for _, v := range sr.Verdicts {
			if v.Status == StatusDiverged || v.Status == StatusError {
				return true
			}
		}
	}
	return false
}
