package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadFuzzInput(t *testing.T) {
	got, err := readFuzzInput("go test fuzz v1\n[]byte(\"\\x01a\\xff\")\n")
	if err != nil || !bytes.Equal(got, []byte{1, 'a', 0xff}) {
		t.Errorf("got %q, %v", got, err)
	}
	for _, bad := range []string{"", "go test fuzz v1\n", "go test fuzz v1\nstring(\"x\")\n", "x\n[]byte(\"\")"} {
		if _, err := readFuzzInput(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestScript decodes a fuzz input file into a script.
func TestScript(t *testing.T) {
	p := filepath.Join(t.TempDir(), "input")
	// opcode 0 is epoll_create1, selector 0 its valid flags 0.
	if err := os.WriteFile(p, []byte("go test fuzz v1\n[]byte(\"\\x00\\x00\")\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if st := run([]string{"script", p}, &out, &errb); st != 0 {
		t.Fatalf("status %d: %s", st, errb.String())
	}
	if got := strings.TrimSpace(out.String()); got != "ep1 = epoll_create1 0" {
		t.Errorf("got %q", got)
	}
}

func TestStatusLine(t *testing.T) {
	m := statusRE.FindStringSubmatch("fuzz: elapsed: 42s, execs: 125412 (1842/sec), new interesting: 227 (total: 643)")
	if m == nil || m[1] != "42s" || m[2] != "125412" || m[3] != "227" {
		t.Errorf("got %q", m)
	}
	m = statusRE.FindStringSubmatch("fuzz: elapsed: 1m9s, execs: 196387 (1476/sec), new interesting: 86 (total: 927)")
	if m == nil || m[1] != "1m9s" {
		t.Errorf("got %q", m)
	}
}
