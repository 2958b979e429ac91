package fuzzgen

import (
	"errors"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/guestpoll/guestpoll/conformance"
	"github.com/guestpoll/guestpoll/conformance/internal/fuzzcodec"
	"github.com/guestpoll/guestpoll/conformance/modelbackend"
	"github.com/guestpoll/guestpoll/conformance/modelcrbackend"
	"golang.org/x/sys/unix"
)

// modelServes and modelCRServes are the generator's filters of version 3
// operations for the targets: those the model side's machine serves
// (conformance.FuzzServes). Until a model serves a version 3 operation
// the targets do not make it (a differential run would stop at it as an
// unsupported step); once it does, they do.
var (
	modelServes   = servesOf(modelbackend.New())
	modelCRServes = servesOf(modelcrbackend.New())
)

func servesOf(m conformance.Machine) func(string) bool {
	defer m.Close()
	return conformance.FuzzServes(m)
}

func parseGenerated(t *testing.T, in []byte, serves func(string) bool) *conformance.Script {
	t.Helper()
	text := GenerateFor(in, serves)
	sc, err := conformance.Parse("generated.script", text)
	if err != nil {
		t.Fatalf("the generator made an invalid script: %v\n%s", err, text)
	}
	return sc
}

// FuzzEpollSequence runs a generated script on the model and on the host
// kernel (in this process) and fails, with the script, on any difference,
// on a Linux run that leaves an fd of the process behind, and on leftover
// goroutines. go test -fuzz minimizes the input; `go run ./cmd/epollfuzz
// script FILE` prints the script it decodes to (docs/fuzzing.md).
func FuzzEpollSequence(f *testing.F) { fuzzDifferential(f, Diff, modelServes) }

// FuzzEpollSequenceCheckpointed is FuzzEpollSequence in checkpoint mode:
// the model side is checkpointed and restored into a brand-new kernel at
// random points of the script (DiffCheckpointed).
func FuzzEpollSequenceCheckpointed(f *testing.F) {
	fuzzDifferential(f, DiffCheckpointed, modelCRServes)
}

func fuzzDifferential(f *testing.F, diffFn func(*conformance.Script) (string, error), serves func(string) bool) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		f.Skip("the differential target runs the host kernel's x86-64 system calls")
	}
	checkRawFDsFree(f)
	// Prepare the process for in-process Linux runs now (its signal
	// handling goroutines would otherwise count as leaked by the first run).
	m, err := conformance.NewInProcessLinuxMachine(false)
	if err != nil {
		f.Fatal(err)
	}
	m.Close()
	addSeeds(f, serves)
	f.Fuzz(func(t *testing.T, in []byte) {
		sc := parseGenerated(t, in, serves)
		before := openFDs(t)
		goroutines := runtime.NumGoroutine()
		diff, err := diffFn(sc)
		if err != nil {
			t.Fatalf("%v\nscript:\n%s", err, conformance.FormatScript(sc))
		}
		if after := openFDs(t); after != before {
			t.Fatalf("the linux run leaked fds: before %s, after %s\nscript:\n%s", before, after, conformance.FormatScript(sc))
		}
		if diff != "" {
			t.Fatalf("the model diverges from linux\nscript:\n%s\n%s", conformance.FormatScript(sc), diff)
		}
		checkGoroutines(t, goroutines, sc)
	})
}

// FuzzModelInvariants runs a generated script on the model alone and checks
// the model's invariants after every step (modelbackend CheckInvariants:
// the fd table, every file, every epoll instance, reference counts, watch
// back-pointers, no registration of a released file), that the executor
// left no fd open in the model, and that no goroutine was left behind.
func FuzzModelInvariants(f *testing.F) {
	addSeeds(f, modelServes)
	f.Fuzz(func(t *testing.T, in []byte) {
		sc := parseGenerated(t, in, modelServes)
		goroutines := runtime.NumGoroutine()
		tr, err := RunModel(sc, (*modelbackend.Machine).CheckInvariants)
		if err != nil {
			t.Fatalf("%v\nscript:\n%s", err, conformance.FormatScript(sc))
		}
		if tr.Failed() {
			t.Fatalf("the model run failed: %s\nscript:\n%s", tr.Abort, conformance.FormatScript(sc))
		}
		checkGoroutines(t, goroutines, sc)
	})
}

// checkGoroutines fails if more goroutines run than before the run (the
// executor's workers and the model's timers must all have ended); it gives
// exiting goroutines a moment first.
func checkGoroutines(t *testing.T, before int, sc *conformance.Script) {
	t.Helper()
	for i := 0; runtime.NumGoroutine() > before && i < 200; i++ {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines left behind\nscript:\n%s", n-before, conformance.FormatScript(sc))
	}
}

// openFDs lists this process's open fds.
func openFDs(t *testing.T) string {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return strings.Join(names, ",")
}

// checkRawFDsFree fails when a raw fd number the generator uses is one of
// this process's own fds (the scripts would close or dup onto it).
func checkRawFDsFree(f *testing.F) {
	for _, fd := range fuzzcodec.RawFDs {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
			f.Fatalf("fd %d is open in the test process (or F_GETFD says %v): the generator's raw fd numbers must be free", fd, err)
		}
	}
}

// addSeeds adds the conformance corpus, encoded, as the seed corpus (see
// Encode). The corpus includes the regression scripts fuzzing found
// (../testdata/regressions). Scripts listed in known-divergences.txt are
// left out: they are model bugs already known, which TestCorpus reports.
func addSeeds(f *testing.F, serves func(string) bool) {
	if _, err := os.Stat("../testdata"); errors.Is(err, fs.ErrNotExist) {
		// Outside the source tree: a libFuzzer build (ClusterFuzzLite)
		// runs elsewhere and gets the seeds from build.sh's zip.
		return
	}
	known, err := conformance.LoadKnown("../" + conformance.KnownFileName)
	if err != nil {
		f.Fatal(err)
	}
	for _, sc := range corpusScripts(f) {
		if known.Lookup(sc.Path, "model") == nil {
			f.Add(EncodeFor(sc, serves))
		}
	}
}
