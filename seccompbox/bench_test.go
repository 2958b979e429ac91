//go:build linux && amd64

package seccompbox

import (
	"fmt"
	"strconv"
	"testing"
)

// BenchmarkOverhead measures, in one run, a guest's epoll_ctl (MOD), its
// non-blocking epoll_wait and a handled signal (raise, whose handler's
// return, rt_sigreturn, the box traps) natively and under a box (the
// guest times b.N of each itself; the metrics are nanoseconds per call).
func BenchmarkOverhead(b *testing.B) {
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	n := strconv.Itoa(max(b.N, 1))
	parse := func(out string) (ctl, wait, sig float64) {
		if _, err := fmt.Sscan(out, &ctl, &wait, &sig); err != nil {
			b.Fatalf("bad guest output %q: %v", out, err)
		}
		return ctl, wait, sig
	}
	native, _ := runNative(b, "bench", n)
	boxed, _, _ := runBoxed(b, Options{}, "bench", n)
	nc, nw, ns := parse(native)
	bc, bw, bs := parse(boxed)
	b.ReportMetric(nc, "native-ctl-ns")
	b.ReportMetric(nw, "native-wait0-ns")
	b.ReportMetric(ns, "native-signal-ns")
	b.ReportMetric(bc, "boxed-ctl-ns")
	b.ReportMetric(bw, "boxed-wait0-ns")
	b.ReportMetric(bs, "boxed-signal-ns")
	b.ReportMetric(0, "ns/op")
}
