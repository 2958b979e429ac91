//go:build linux && amd64

package seccompbox

import (
	"fmt"
	"strconv"
	"testing"
)

// BenchmarkOverhead measures, in one run, a guest's epoll_ctl (MOD) and
// non-blocking epoll_wait natively and trapped by a box (the guest times
// b.N calls of each itself; the metrics are nanoseconds per call).
func BenchmarkOverhead(b *testing.B) {
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	n := strconv.Itoa(max(b.N, 1))
	parse := func(out string) (float64, float64) {
		var ctl, wait float64
		if _, err := fmt.Sscan(out, &ctl, &wait); err != nil {
			b.Fatalf("bad guest output %q: %v", out, err)
		}
		return ctl, wait
	}
	native, _ := runNative(b, "bench", n)
	boxed, _, _ := runBoxed(b, Options{}, "bench", n)
	nc, nw := parse(native)
	bc, bw := parse(boxed)
	b.ReportMetric(nc, "native-ctl-ns")
	b.ReportMetric(nw, "native-wait0-ns")
	b.ReportMetric(bc, "boxed-ctl-ns")
	b.ReportMetric(bw, "boxed-wait0-ns")
	b.ReportMetric(0, "ns/op")
}
