//go:build linux && amd64

package conformance_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guestpoll/guestpoll/conformance"
)

// TestSelftest runs testdata/selftest/ on the linux backend: the scripts
// carry recorded expectations, so this checks the executor and the linux
// backend end to end (threads, joins, interrupts, within, NULL/BADPTR,
// setrlimit_nofile 0, fdinfo naming, SIGPIPE, timerfd +MS).
func TestSelftest(t *testing.T) {
	res, err := conformance.RunSuite(conformance.SuiteOptions{
		Paths:    []string{"testdata/selftest"},
		Backends: []string{"linux"},
		Retries:  1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Scripts) < 9 {
		t.Fatalf("found %d selftest scripts", len(res.Scripts))
	}
	for _, sr := range res.Scripts {
		// Every selftest script is recorded: each call and join is checked.
		for _, st := range sr.Script().Steps {
			if (st.Kind == conformance.StepCall || st.Kind == conformance.StepJoin) && st.Expect == nil {
				t.Errorf("%s:%d: %s has no expectation", sr.Path, st.Line, st.Text())
			}
		}
	}
	checkSuite(t, res)
}

func runLinux(t *testing.T, text string, opts conformance.Options) (*conformance.Script, *conformance.Trace) {
	t.Helper()
	sc, err := conformance.Parse(t.Name()+".script", text)
	if err != nil {
		t.Fatal(err)
	}
	b, err := conformance.LookupBackend("linux")
	if err != nil {
		t.Fatal(err)
	}
	return sc, b.Run(sc, opts)
}

// results maps each step's line to its printed result.
func results(sc *conformance.Script, tr *conformance.Trace) map[int]string {
	m := map[int]string{}
	for _, o := range tr.Steps {
		m[sc.Steps[o.Step].Line] = o.Result.String()
	}
	return m
}

func TestLinuxInterrupt(t *testing.T) {
	sc, tr := runLinux(t, `r, w = pipe2 0
T & read r 10
sleep 50
interrupt T
join T
T & epoll_pwait2 r 8 NULL
T & eventfd2 0 0
sleep 50
interrupt T
join T
join T
`, conformance.Options{})
	if tr.Abort != "" {
		t.Fatalf("trace stopped: %s", tr.Abort)
	}
	got := results(sc, tr)
	// A blocked read() returns EINTR: the handler has no SA_RESTART.
	if got[5] != "EINTR" {
		t.Errorf("interrupted read => %s, want EINTR\n%s", got[5], conformance.FormatTrace(sc, tr, conformance.TraceFormat{}))
	}
	// epoll_pwait2 on a non-epoll fd fails before blocking; the queued
	// eventfd2 is not hit by the interrupt either.
	if got[10] != "EINVAL" || got[11] != "fd" {
		t.Errorf("joins => %s, %s; want EINVAL, fd", got[10], got[11])
	}
}

func TestLinuxSigpipeIgnored(t *testing.T) {
	sc, tr := runLinux(t, "r, w = pipe2 0\nclose r\nwrite w 1\nwrite w 1\nepoll_create1 0\n", conformance.Options{})
	if tr.Abort != "" {
		t.Fatalf("trace stopped: %s", tr.Abort)
	}
	got := results(sc, tr)
	if got[3] != "EPIPE" || got[4] != "EPIPE" || got[5] != "fd" {
		t.Errorf("results %v: want EPIPE twice and the process alive", got)
	}
}

func TestLinuxJoinTimeout(t *testing.T) {
	sc, tr := runLinux(t, "r, w = pipe2 0\nT & read r 1\njoin T\nclose r\n",
		conformance.Options{JoinTimeout: 300 * time.Millisecond})
	text := conformance.FormatTrace(sc, tr, conformance.TraceFormat{})
	if len(tr.Steps) != 3 || tr.Steps[2].Result.Kind != conformance.KindTimeout {
		t.Fatalf("trace:\n%s", text)
	}
	// The stuck read was interrupted at cleanup, so the thread was joined.
	if !strings.Contains(tr.Abort, "thread T: call at line 2 (read) still running") || strings.Contains(tr.Abort, "could not be joined") {
		t.Errorf("abort = %q", tr.Abort)
	}
	if !strings.HasSuffix(text, "!! "+tr.Abort+"\n") {
		t.Errorf("trace does not end with the reason:\n%s", text)
	}
}

func TestLinuxMainCallTimeout(t *testing.T) {
	sc, tr := runLinux(t, "r, w = pipe2 0\nread r 1\nclose r\n",
		conformance.Options{JoinTimeout: 300 * time.Millisecond})
	if len(tr.Steps) != 2 || tr.Steps[1].Result.Kind != conformance.KindTimeout ||
		!strings.Contains(tr.Abort, "main thread: call at line 2 (read) still running") {
		t.Fatalf("trace:\n%s", conformance.FormatTrace(sc, tr, conformance.TraceFormat{}))
	}
	if strings.Contains(tr.Abort, "could not be joined") {
		t.Errorf("main thread not joined at cleanup: %s", tr.Abort)
	}
}

// A thread blocked with SIGUSR1 masked cannot be interrupted: the end of
// the script reports it as a failure.
func TestLinuxUnjoinableThread(t *testing.T) {
	start := time.Now()
	_, tr := runLinux(t, "ep = epoll_create1 0\nT & epoll_pwait ep 1 -1 USR1\nsleep 20\n",
		conformance.Options{CleanupTimeout: 300 * time.Millisecond})
	if !strings.Contains(tr.Abort, "thread T (call at line 2, epoll_pwait) could not be joined") {
		t.Errorf("abort = %q", tr.Abort)
	}
	if len(tr.Steps) != 3 {
		t.Errorf("%d steps, want 3", len(tr.Steps))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestLinuxFdinfoUnderZeroRlimit(t *testing.T) {
	sc, tr := runLinux(t, `ep = epoll_create1 0
e = eventfd2 0 0
epoll_ctl ep ADD e IN|ONESHOT 0xabc
setrlimit_nofile 0
eventfd2 0 0
fdinfo ep
eventfd_write e 1
epoll_wait ep 1 0
fdinfo ep
`, conformance.Options{})
	if tr.Abort != "" {
		t.Fatalf("trace stopped: %s", tr.Abort)
	}
	got := results(sc, tr)
	want := map[int]string{5: "EMFILE", 6: "[e IN|ERR|HUP|ONESHOT 0xabc]", 8: "1 [IN 0xabc]", 9: "[e ONESHOT 0xabc]"}
	for line, w := range want {
		if got[line] != w {
			t.Errorf("line %d => %s, want %s", line, got[line], w)
		}
	}
}

func TestLinuxScriptErrorAtRunTime(t *testing.T) {
	_, tr := runLinux(t, "e = eventfd2 0 0\ne = eventfd2 0 0\n", conformance.Options{})
	if !tr.ScriptError || !strings.Contains(tr.Abort, `:2: name "e" is still open`) {
		t.Errorf("abort = %q, script error %v", tr.Abort, tr.ScriptError)
	}
}

func TestRecordFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "rec.script")
	orig := "# keep me\nr, w = pipe2 NONBLOCK\n\nwrite w 3   # three\nread r 10 => 1 || 3\nepoll_create1 7 => *\n"
	if err := os.WriteFile(p, []byte(orig), 0o640); err != nil {
		t.Fatal(err)
	}
	outs, err := conformance.RecordFiles(conformance.SuiteOptions{Paths: []string{dir}})
	if err != nil || len(outs) != 1 || outs[0].Error != "" {
		t.Fatalf("RecordFiles: %v %+v", err, outs)
	}
	data, _ := os.ReadFile(p)
	want := "# keep me\nr, w = pipe2 NONBLOCK => fd fd\n\nwrite w 3       => 3   # three\nread r 10 => 1 || 3\nepoll_create1 7 => *\n"
	if string(data) != want {
		t.Errorf("recorded file:\n%s\nwant:\n%s", data, want)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode changed to %v", fi.Mode())
	}
	// A listed alternative Linux does not give fails, and the file stays.
	bad := "r, w = pipe2 0\nwrite w 3 => 1 || 2\n"
	os.WriteFile(p, []byte(bad), 0o644)
	outs, _ = conformance.RecordFiles(conformance.SuiteOptions{Paths: []string{p}})
	if len(outs) != 1 || !strings.Contains(outs[0].Error, "Linux gave 3, none of 1 || 2") {
		t.Errorf("outcome %+v", outs)
	}
	if data, _ := os.ReadFile(p); string(data) != bad {
		t.Errorf("failed recording changed the file:\n%s", data)
	}
}

// TestRunSuiteReports checks divergences, the known-divergences list and
// the reports on a small tree of scripts with wrong expectations.
func TestRunSuiteReports(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ok.script", "ep = epoll_create1 0 => fd\n")
	write("sub/wrong.script", "ep = epoll_create1 0\nepoll_wait ep 8 0 => 1 [IN 0x1]\n")
	write("sub/listed.script", "epoll_create 0 => fd\n")
	write("bad.script", "epoll_wait\n")
	write("ignored.txt", "not a script\n")
	write("known-divergences.txt", "sub/listed.script @linux kernel differs\n")
	known, err := conformance.LoadKnown(filepath.Join(dir, "known-divergences.txt"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := conformance.RunSuite(conformance.SuiteOptions{Paths: []string{dir}, Backends: []string{"linux"}, Known: known})
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, sr := range res.Scripts {
		rel, _ := filepath.Rel(dir, sr.Path)
		if sr.ParseError != "" {
			status[rel] = "invalid"
			continue
		}
		status[rel] = string(sr.Verdicts[0].Status)
	}
	want := map[string]string{"ok.script": "pass", "sub/wrong.script": "diverged", "sub/listed.script": "known", "bad.script": "invalid"}
	for k, v := range want {
		if status[k] != v {
			t.Errorf("%s: %s, want %s (all: %v)", k, status[k], v, status)
		}
	}
	if !res.Failed() {
		t.Errorf("suite with a divergence did not fail")
	}
	var b strings.Builder
	conformance.WriteText(&b, res, dir, false)
	out := b.String()
	for _, s := range []string{
		"DIVERGED linux    sub/wrong.script:2: epoll_wait ep 8 0: got 0 | script: 1 [IN 0x1]",
		"INVALID  " + filepath.Join(dir, "bad.script") + ":1: epoll_wait: wrong number of arguments",
		"linux        4      4       1         1      1       1",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("report lacks %q:\n%s", s, out)
		}
	}
	b.Reset()
	if err := conformance.WriteJSON(&b, res); err != nil || !strings.Contains(b.String(), `"Failed": true`) {
		t.Errorf("JSON report: %v\n%s", err, b.String())
	}
}
