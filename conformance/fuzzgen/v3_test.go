package fuzzgen

import (
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/guestpoll/guestpoll/conformance"
)

// allV3 makes every version 3 operation.
func allV3(string) bool { return true }

// randomInput returns n random bytes.
func randomInput(r *rand.Rand, n int) []byte {
	in := make([]byte, n)
	for k := range in {
		in[k] = byte(r.Uint32())
	}
	return in
}

// TestGenerateV3Valid decodes random inputs with every version 3
// operation: every one must be a valid script, and between them they
// must make every version 3 operation and steps of forks.
func TestGenerateV3Valid(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	seen := map[string]bool{}
	for i := 0; i < 3000; i++ {
		in := randomInput(r, r.IntN(400))
		text := GenerateFor(in, allV3)
		sc, err := conformance.Parse("gen.script", text)
		if err != nil {
			t.Fatalf("input %x: %v\n%s", in, err, text)
		}
		for _, st := range sc.Steps {
			if st.Call != nil {
				seen[st.Call.Op] = true
			}
			if st.Kind == conformance.StepSpawn {
				seen["P & CALL"] = true
			}
		}
	}
	for _, op := range []string{"fork", "exit", "waitpid", "pidfd_open", "kill", "tkill", "sigmask", "signalfd",
		"signalfd_read", "listen_socket", "connect", "accept4", "fifo_open", "send", "recv",
		"fcntl_setpipe_sz", "fcntl_getpipe_sz", "P & CALL"} {
		if !seen[op] {
			t.Errorf("no generated script has %s", op)
		}
	}
}

// TestGenerateV3Deterministic runs generated scripts with every version 3
// operation twice on the host kernel (the linux backend, a child process
// per run): neither run may stop (no hang, no killed process, no script
// error), and the two traces must agree, or a difference with the model
// would not be a model bug.
func TestGenerateV3Deterministic(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("runs the host kernel's x86-64 system calls")
	}
	n := 12
	if testing.Short() {
		n = 3
	}
	r := rand.New(rand.NewPCG(5, 6))
	for ran := 0; ran < n; {
		in := randomInput(r, 400)
		text := GenerateFor(in, allV3)
		sc, err := conformance.Parse("gen.script", text)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, " & ") {
			continue // a script without a fork's step is cheaper to check by the fuzzer
		}
		ran++
		a, err := RunLinux(sc)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := RunLinux(sc)
		if a.Failed() || b.Failed() {
			t.Fatalf("a linux run stopped: %q / %q\n%s", a.Abort, b.Abort, trace(sc, a))
		}
		if v := conformance.Compare(sc, b, a); v.Status != conformance.StatusPass {
			t.Errorf("two linux runs differ: %v\n%s\n%s", v.Divergences, trace(sc, a), trace(sc, b))
		}
	}
}
