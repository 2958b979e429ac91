//go:build linux && amd64

package seccompbox

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"
)

// BenchmarkOverhead measures, in one run, a guest's epoll_ctl (MOD), its
// non-blocking epoll_wait, a handled signal (raise, whose handler's
// return, rt_sigreturn, the box traps) and a bare trapped call (a poll of
// no fds: the seccomp round trip, received and continued with nothing else
// done) natively and under a box
// (the guest makes b.N of each itself, in ten blocks, and reports the
// fastest block's mean: nanoseconds per call; boxed-ctl-x and
// boxed-wait0-x are the boxed calls' cost over the bare round trip's).
// In the same run it times the system calls the box adds to the round
// trip (measureSyscallCosts), as sys-NAME-ns.
func BenchmarkOverhead(b *testing.B) {
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	n := strconv.Itoa(max(b.N, 1))
	parse := func(out string) (ctl, wait, sig, bare float64) {
		if _, err := fmt.Sscan(out, &ctl, &wait, &sig, &bare); err != nil {
			b.Fatalf("bad guest output %q: %v", out, err)
		}
		return ctl, wait, sig, bare
	}
	native, _ := runNative(b, "bench", n)
	boxed, _, _ := runBoxed(b, Options{}, "bench", n)
	nc, nw, ns, nb := parse(native)
	bc, bw, bs, bb := parse(boxed)
	b.ReportMetric(nc, "native-ctl-ns")
	b.ReportMetric(nw, "native-wait0-ns")
	b.ReportMetric(ns, "native-signal-ns")
	b.ReportMetric(bc, "boxed-ctl-ns")
	b.ReportMetric(bw, "boxed-wait0-ns")
	b.ReportMetric(bs, "boxed-signal-ns")
	b.ReportMetric(nb, "native-bare-ns")
	b.ReportMetric(bb, "boxed-bare-ns")
	b.ReportMetric(bc/bb, "boxed-ctl-x")
	b.ReportMetric(bw/bb, "boxed-wait0-x")
	for name, ns := range measureSyscallCosts(b, 10, max(b.N/10, 1)) {
		b.ReportMetric(ns, "sys-"+name+"-ns")
	}
	b.ReportMetric(0, "ns/op")
}

// TestFastPathsAllocateNothing: the guest's benchmark loop (20,000 each of
// epoll_ctl MOD, epoll_wait with a zero timeout, a handled signal and a
// bare trapped call) makes the box allocate far less than once per
// epoll_ctl and epoll_wait pair: their paths allocate nothing, and what
// remains is the box's start and stop.
func TestFastPathsAllocateNothing(t *testing.T) {
	needGuest(t)
	const n = 20000
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out, code, _ := runBoxed(t, Options{}, "bench", strconv.Itoa(n))
	runtime.ReadMemStats(&after)
	if code != 0 {
		t.Fatalf("guest exit %d: %s", code, out)
	}
	if got := after.Mallocs - before.Mallocs; got >= n/4 {
		t.Errorf("%d allocations for %d rounds of the benchmark loop", got, n)
	}
}
