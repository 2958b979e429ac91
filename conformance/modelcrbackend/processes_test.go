package modelcrbackend

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/guestpoll/guestpoll/conformance"
)

// TestV3ProcessScriptsAcrossCheckpoints runs the model backend's process
// and signal scripts (expectations recorded on Linux) with a checkpoint
// before every step: several processes, zombies, pidfds, masks, pending
// signals and signalfds go through every checkpoint.
func TestV3ProcessScriptsAcrossCheckpoints(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "modelbackend", "testdata", "v3", "*.script"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("%v (%d scripts)", err, len(paths))
	}
	for _, p := range paths {
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
		v := conformance.Compare(sc, tr, nil)
		if v.Error != "" || len(v.Divergences) != 0 {
			t.Errorf("%s: %s %+v", p, v.Error, v.Divergences)
		}
		if m.Checkpoints < len(sc.Steps)/2 {
			t.Errorf("%s: %d checkpoints for %d steps", p, m.Checkpoints, len(sc.Steps))
		}
	}
}
