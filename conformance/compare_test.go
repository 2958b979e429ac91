package conformance

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func outcomes(rs ...Result) []Outcome {
	var out []Outcome
	for i, r := range rs {
		out = append(out, Outcome{Step: i, Result: r})
	}
	return out
}

func TestCompare(t *testing.T) {
	sc := mustParse(t, `ep = epoll_create1 0
epoll_wait ep 8 0
epoll_wait ep 8 0 => 0 || 1 [IN 0x1]
epoll_wait ep 8 10 within 5..100
fdinfo ep => *
`)
	fd := Result{Kind: KindFDs, Value: 1}
	zero := Result{Kind: KindWait}
	one := Result{Kind: KindWait, Value: 1, Events: []Event{{1, 1}}}
	linux := &Trace{Backend: "linux", Steps: outcomes(fd, zero, one, zero, Result{Kind: KindFdinfo})}

	v := Compare(sc, linux, linux)
	if v.Status != StatusPass || v.Checked != 2 {
		t.Errorf("linux vs itself: %+v", v)
	}

	model := &Trace{Backend: "model", Steps: outcomes(fd, one, zero, zero, Result{Kind: KindErrno, Errno: "EBADF"})}
	model.Steps[3].WithinFailed, model.Steps[3].Elapsed = true, 150*time.Millisecond
	v = Compare(sc, model, linux)
	if v.Status != StatusDiverged || v.Checked != 5 || len(v.Divergences) != 2 {
		t.Fatalf("model: %+v", v)
	}
	d := v.Divergences[0]
	if d.Line != 2 || d.Kind != DivOracle || d.Got != "1 [IN 0x1]" || d.Want != "0" || d.WantFrom != "linux" {
		t.Errorf("first divergence %+v", d)
	}
	if s := d.String(); s != "line 2: epoll_wait ep 8 0: got 1 [IN 0x1] | linux: 0" {
		t.Errorf("divergence text %q", s)
	}
	d = v.Divergences[1]
	if d.Line != 4 || d.Kind != DivWithin || !strings.Contains(d.String(), "took 150.0ms, outside within 5..100") {
		t.Errorf("timing divergence %+v: %s", d, d)
	}

	// An expectation is checked on linux too.
	bad := &Trace{Backend: "linux", Steps: outcomes(fd, zero, Result{Kind: KindErrno, Errno: "EINTR"}, zero, zero)}
	v = Compare(sc, bad, bad)
	if v.Status != StatusDiverged || len(v.Divergences) != 1 || v.Divergences[0].Want != "0 || 1 [IN 0x1]" || v.Divergences[0].WantFrom != "script" {
		t.Errorf("linux expectation failure: %+v", v)
	}

	// A backend that stopped is an error; so is a missing oracle step.
	stopped := &Trace{Backend: "model", Steps: outcomes(fd, zero), Abort: "thread T: still running"}
	if v := Compare(sc, stopped, linux); v.Status != StatusError || v.Error != stopped.Abort {
		t.Errorf("stopped: %+v", v)
	}
	shortLinux := &Trace{Backend: "linux", Steps: outcomes(fd), Abort: "linux child crashed"}
	v = Compare(sc, model, shortLinux)
	if v.Status != StatusError || !strings.Contains(v.Error, "linux child crashed") || v.Divergences[0].Kind != DivNoOracle {
		t.Errorf("no oracle: %+v", v)
	}
}

func TestKnownDivergences(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, KnownFileName)
	text := "# comment\n\ntestdata/a.script   the model reports OUT too  # why\ntestdata/b.script @model,hostfd needs truesize\ntestdata/gone.script stale entry\n"
	if err := os.WriteFile(list, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "testdata"), 0o755)
	for _, n := range []string{"a", "b"} {
		os.WriteFile(filepath.Join(dir, "testdata", n+".script"), nil, 0o644)
	}
	k, err := LoadKnown(list)
	if err != nil {
		t.Fatal(err)
	}
	a := filepath.Join(dir, "testdata", "a.script")
	b := filepath.Join(dir, "testdata", "b.script")
	if e := k.Lookup(a, "model"); e == nil || e.Reason != "the model reports OUT too" {
		t.Errorf("a on model: %+v", e)
	}
	if e := k.Lookup(a, "linux"); e != nil {
		t.Errorf("an entry without @ applies to linux: %+v", e)
	}
	if k.Lookup(b, "model") == nil || k.Lookup(b, "hostfd") == nil || k.Lookup(b, "model-cr") != nil {
		t.Errorf("@model,hostfd restriction not applied")
	}
	if m := k.Missing(); len(m) != 1 || m[0].Script != "testdata/gone.script" {
		t.Errorf("missing = %+v", m)
	}

	for status, want := range map[Status]Status{StatusDiverged: StatusKnown, StatusPass: StatusFixed, StatusError: StatusError} {
		v := Verdict{Status: status}
		ApplyKnown(&v, k.Lookup(a, "model"))
		if v.Status != want {
			t.Errorf("%s on a listed script became %s, want %s", status, v.Status, want)
		}
	}
	v := Verdict{Status: StatusDiverged}
	ApplyKnown(&v, nil)
	if v.Status != StatusDiverged {
		t.Errorf("unlisted divergence became %s", v.Status)
	}

	for bad, msg := range map[string]string{
		"x.script\n":                    "list:1: known divergence x.script needs a reason",
		"x.script @ reason\n":           "empty backend name",
		"x.script r\n\nx.script r2\n":   "list:3: x.script is already listed on line 1",
		"/abs/x.script r\n":             "must be relative",
		"ok.script fine\ny.script @m\n": "list:2: known divergence y.script needs a reason",
	} {
		_, err := ParseKnown(filepath.Join(dir, "list"), bad)
		var pe ParseErrors
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseKnown(%q) = %v, want %q", bad, err, msg)
		}
	}
	if FindKnownFile(filepath.Join(dir, "testdata")) != list {
		t.Errorf("FindKnownFile did not find %s", list)
	}
}

func TestRecord(t *testing.T) {
	text := "# header comment\r\n" +
		"ep = epoll_create1 0\r\n" +
		"r, w = pipe2 0   # make a pipe\r\n" +
		"\r\n" +
		"epoll_ctl ep ADD r IN 0x1       => EBADF   # was wrong\r\n" +
		"epoll_wait ep 8 0 => *\r\n" +
		"epoll_wait ep 8 0 => 0 || 1 [IN 0x1]\r\n" +
		"T & close w\r\n" +
		"join T\r\n" +
		"fdinfo ep\r\n" +
		"sleep 1\r\n"
	sc := mustParse(t, text)
	fd := Result{Kind: KindFDs, Value: 1}
	tr := &Trace{Backend: "linux", Steps: outcomes(fd, Result{Kind: KindFDs, Value: 2}, Result{Kind: KindValue},
		Result{Kind: KindWait}, Result{Kind: KindWait}, Result{Kind: KindNone}, Result{Kind: KindValue},
		Result{Kind: KindFdinfo, Entries: []FdinfoEntry{{"r", 0x19, 1}}}, Result{Kind: KindNone})}
	got, changes, err := Record(sc, tr)
	if err != nil {
		t.Fatal(err)
	}
	want := "# header comment\r\n" +
		"ep = epoll_create1 0 => fd\r\n" + // longer than the usual column
		"r, w = pipe2 0    => fd fd   # make a pipe\r\n" +
		"\r\n" +
		"epoll_ctl ep ADD r IN 0x1       => 0   # was wrong\r\n" +
		"epoll_wait ep 8 0 => *\r\n" +
		"epoll_wait ep 8 0 => 0 || 1 [IN 0x1]\r\n" +
		"T & close w\r\n" +
		"join T            => 0\r\n" +
		"fdinfo ep         => [r IN|ERR|HUP 0x1]\r\n" +
		"sleep 1\r\n"
	if got != want {
		t.Errorf("recorded:\n%s\nwant:\n%s", got, want)
	}
	if len(changes) != 5 {
		t.Errorf("%d changes, want 5", len(changes))
	}
	// Recording is idempotent.
	sc2 := mustParse(t, got)
	if again, ch, err := Record(sc2, tr); err != nil || again != got || len(ch) != 0 {
		t.Errorf("second recording changed things: %v, %d changes", err, len(ch))
	}
	// Linux giving none of the listed results is an error.
	tr.Steps[4].Result = Result{Kind: KindErrno, Errno: "EINTR"}
	if _, _, err := Record(sc, tr); err == nil || !strings.Contains(err.Error(), "t.script:7: Linux gave EINTR, none of 0 || 1 [IN 0x1]") {
		t.Errorf("mismatching alternatives: %v", err)
	}
	tr.Steps[4].Result = Result{Kind: KindWait}
	tr.Steps[3].WithinFailed = true
	if _, _, err := Record(sc, tr); err == nil {
		t.Errorf("recording a timing failure succeeded")
	}
	tr.Steps[3].WithinFailed = false
	tr.Abort = "stopped"
	if _, _, err := Record(sc, tr); err == nil {
		t.Errorf("recording a stopped trace succeeded")
	}
}
