package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestpoll/guestpoll/conformance"
)

// TestMain lets the test binary serve as the linux backend's child process.
func TestMain(m *testing.M) {
	conformance.RunChildIfRequested()
	os.Exit(m.Run())
}

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	rc := run(args, &out, &errb)
	return rc, out.String(), errb.String()
}

func TestCLISelftestPasses(t *testing.T) {
	rc, out, errs := runCLI("-backends", "linux", "-j", "2", "../../conformance/testdata/selftest")
	if rc != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", rc, out, errs)
	}
	if !strings.Contains(out, "backend  scripts  steps  passed  diverged  known  errors") ||
		!strings.Contains(out, "PASS in") {
		t.Errorf("no summary table:\n%s", out)
	}
	if strings.Contains(out, "DIVERGED") || strings.Contains(out, "ERROR") {
		t.Errorf("unexpected failures:\n%s", out)
	}
	if !strings.Contains(errs, "runs done") {
		t.Errorf("no progress on stderr: %q", errs)
	}
}

func writeScripts(t *testing.T, files map[string]string) string {
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCLIDivergenceExitCodeAndJSON(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"a.script":      "ep = epoll_create1 0\nepoll_wait ep 8 0 => 1 [IN 0x1]\n",
		"b/ok.script":   "epoll_create 0 => EINVAL\n",
		"b/skip.script": "epoll_create 0 => fd\n",
	})
	rc, out, _ := runCLI("-backends", "linux", "-known", "none", "-run", "a|ok", dir)
	if rc != 1 {
		t.Errorf("exit %d, want 1\n%s", rc, out)
	}
	if !strings.Contains(out, "DIVERGED linux") || !strings.Contains(out, "a.script:2: epoll_wait ep 8 0: got 0 | script: 1 [IN 0x1]") {
		t.Errorf("no divergence line:\n%s", out)
	}
	if strings.Contains(out, "skip.script") {
		t.Errorf("-run did not filter:\n%s", out)
	}

	rc, out, _ = runCLI("-backends", "linux", "-json", "-run", "a|ok", dir)
	var rep struct {
		Failed  bool
		Summary []conformance.BackendSummary
		Scripts []conformance.ScriptResult
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, out)
	}
	if rc != 1 || !rep.Failed || len(rep.Scripts) != 2 || len(rep.Summary) != 1 ||
		rep.Summary[0].Passed != 1 || rep.Summary[0].Diverged != 1 || rep.Summary[0].Steps != 3 {
		t.Errorf("rc %d, report %+v", rc, rep)
	}

	// Listing the divergent script as known makes the run pass.
	os.WriteFile(filepath.Join(dir, "known-divergences.txt"), []byte("a.script @linux the kernel differs here\n"), 0o644)
	rc, out, _ = runCLI("-backends", "linux", "-v", "-run", "a|ok", dir)
	if rc != 0 || !strings.Contains(out, "known    linux    ") || !strings.Contains(out, "the kernel differs here") {
		t.Errorf("exit %d with a known divergence:\n%s", rc, out)
	}
}

func TestCLIRecord(t *testing.T) {
	dir := writeScripts(t, map[string]string{"r.script": "# c\nr, w = pipe2 0\nwrite w 5  # five\n"})
	rc, out, _ := runCLI("-record", dir)
	if rc != 0 || !strings.Contains(out, "1 script(s): 1 changed, 0 unchanged, 0 failed") {
		t.Fatalf("exit %d:\n%s", rc, out)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "r.script"))
	if string(data) != "# c\nr, w = pipe2 0 => fd fd\nwrite w 5      => 5  # five\n" {
		t.Errorf("recorded:\n%s", data)
	}
	rc, out, _ = runCLI("-backends", "linux", dir)
	if rc != 0 {
		t.Errorf("recorded script fails: %s", out)
	}
}

func TestCLIUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-backends", "nosuch", "."},
		{"-run", "(", "."},
		{"-j", "0", "."},
		{"-bogus"},
		{"/no/such/path"},
	} {
		if rc, out, errs := runCLI(args...); rc != 2 {
			t.Errorf("%v: exit %d, want 2\n%s%s", args, rc, out, errs)
		}
	}
	rc, out, errs := runCLI("-backends", "linux", "-known", "none", writeScripts(t, map[string]string{"bad.script": "epoll_wait ep\n"}))
	if rc != 1 || !strings.Contains(out, "INVALID") || !strings.Contains(out, "bad.script:1:") {
		t.Errorf("invalid script: exit %d\n%s%s", rc, out, errs)
	}
}
