package modelcrbackend

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/guestpoll/guestpoll/conformance"
)

// TestCheckpointsAreTaken runs a few corpus scripts (with threads, timers
// and nesting) and checks that the machine really was checkpointed, every
// run passed and nothing leaked. TestCorpus (package conformance) compares
// the traces with Linux.
func TestCheckpointsAreTaken(t *testing.T) {
	for _, dir := range []string{"nested", "threads", "timerfd", "socket", "pipe", "signals"} {
		paths, err := filepath.Glob(filepath.Join("..", "testdata", dir, "*.script"))
		if err != nil || len(paths) == 0 {
			t.Fatalf("%s: %v (%d scripts)", dir, err, len(paths))
		}
		for _, p := range paths[:min(len(paths), 4)] {
			text, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			sc, err := conformance.Parse(p, string(text))
			if err != nil {
				t.Fatal(err)
			}
			m := New()
			tr := conformance.Execute(m, sc, conformance.Options{}, nil)
			if tr.Failed() {
				t.Fatalf("%s: %s", p, tr.Abort)
			}
			if len(sc.Steps) > 2 && m.Checkpoints == 0 {
				t.Errorf("%s: %d steps and no checkpoint", p, len(sc.Steps))
			}
			if m.Bytes == 0 && m.Checkpoints > 0 {
				t.Errorf("%s: empty checkpoints", p)
			}
		}
	}
}
