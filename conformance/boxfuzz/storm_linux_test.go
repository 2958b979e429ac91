//go:build linux && amd64

package boxfuzz

import (
	"testing"

	"github.com/guestpoll/guestpoll/conformance"
)

func runOn(t *testing.T, backend string, sc *conformance.Script) *conformance.Trace {
	t.Helper()
	b, err := conformance.LookupBackend(backend)
	if err != nil {
		t.Fatal(err)
	}
	tr := b.Run(sc, runOpts)
	if tr.Failed() {
		t.Fatalf("%s: %s", backend, tr.Abort)
	}
	return tr
}

// TestBoxedSideIsBoxed checks that the boxed side's child really runs
// under the box: an epoll fd's fdinfo shows the registration natively and
// the box's placeholder under the box (which is why Prepare drops fdinfo).
func TestBoxedSideIsBoxed(t *testing.T) {
	sc := mustParse(t, "ep = epoll_create1 0\nr, w = pipe2 NONBLOCK\nepoll_ctl ep ADD r IN 0x1\nfdinfo ep\n")
	native := runOn(t, nativeBackend(0), sc).Steps[3].Result.String()
	boxed := runOn(t, boxedBackend(0), sc).Steps[3].Result.String()
	if native != "[r IN|ERR|HUP 0x1]" || boxed == native {
		t.Errorf("fdinfo natively %q, boxed %q: the boxed side is not under the box", native, boxed)
	}
}

// TestStormInterrupts checks that the storm reaches the script's threads
// on both sides (with no epoll call, so that the box's own answers do not
// matter): a helper thread's 300 ms poll, which the storm interrupts every
// ~50 µs and the stormMachine retries with the time left, still times out
// after about 300 ms; a read of an empty blocking pipe on the main thread
// is not retried, so the storm makes it fail with EINTR.
func TestStormInterrupts(t *testing.T) {
	sc := mustParse(t, `r, w = pipe2 0
W & poll r IN 300
join W
read r 1
`)
	for _, b := range []string{nativeBackend(3), boxedBackend(3)} {
		tr := runOn(t, b, sc)
		if got := tr.Steps[2].Result.String(); got != "0 0" {
			t.Errorf("%s: the helper's retried poll gave %s, want 0 0", b, got)
		}
		if e := tr.Steps[2].Elapsed; e.Milliseconds() < 250 || e.Milliseconds() > 2000 {
			t.Errorf("%s: the helper's retried poll took %v, want about 300 ms", b, e)
		}
		if got := tr.Steps[3].Result.String(); got != "EINTR" {
			t.Errorf("%s: the main thread's read gave %s under the storm, want EINTR", b, got)
		}
	}
}
