package modelbackend

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/guestpoll/guestpoll/conformance"
)

// TestV3ProcessScripts: forks sharing an epoll instance, exits closing
// tables, pidfds, waitpid, signalfds read and polled per caller, kill and
// tkill behave on the model as recorded on Linux 6.18 (the expectations
// of testdata/v3, run on the linux backend), and nothing leaks.
func TestV3ProcessScripts(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "v3", "*.script"))
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
		tr := conformance.Execute(New(), sc, conformance.Options{}, nil)
		v := conformance.Compare(sc, tr, nil)
		if v.Error != "" || len(v.Divergences) != 0 {
			t.Errorf("%s: %s %+v", p, v.Error, v.Divergences)
		}
	}
}
