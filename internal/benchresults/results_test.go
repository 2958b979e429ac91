package benchresults

import (
	"strings"
	"testing"
)

const sample = `goos: linux
pkg: github.com/guestpoll/guestpoll/kernel/epoll
cpu: Test CPU
BenchmarkHarvest/impl=model/n=1-2   	100	  50.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkHarvest/impl=host/n=1-2    	100	 300.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkOther-2                    	100	  10.0 ns/op
pkg: github.com/guestpoll/guestpoll/bench/peers
cpu: Test CPU
BenchmarkHarvest/impl=model/n=1-2   	100	  40.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkHarvest/impl=gvisor/n=1-2  	100	 100.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkHarvest/impl=model/n=1-2   	100	  60.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkHarvest/impl=gvisor/n=1-2  	100	 100.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkHarvest/impl=model/n=1-2   	100	  45.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkCtlAddDel/impl=model-2     	100	 250.0 ns/op	144 B/op	  2 allocs/op
BenchmarkCtlAddDel/impl=gvisor-2    	100	 400.0 ns/op	112 B/op	  1 allocs/op
`

func TestParseKeepsPeersApart(t *testing.T) {
	out, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := out.Model.Get("Harvest/n=1", "model", "ns/op"); m != 50 {
		t.Errorf("model package's harvest %v, want 50", m)
	}
	if m, _ := out.Peers.Get("Harvest/n=1", "model", "ns/op"); m != 45 {
		t.Errorf("peers' harvest median %v, want 45 (of 40, 60, 45)", m)
	}
	if out.Peers.Runs != 3 || out.Peers.Procs != 2 || out.Peers.CPU != "Test CPU" {
		t.Errorf("runs %d procs %d cpu %q", out.Peers.Runs, out.Peers.Procs, out.Peers.CPU)
	}
	if out.Model.Has("Other", "") || len(out.Model.Keys()) != 1 {
		t.Errorf("a benchmark without impl= was kept: %v", out.Model.Keys())
	}
}

func TestTargets(t *testing.T) {
	out, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		target Target
		status string
	}{
		{Targets[0], "met"}, // 45 / 100
		{Target{"", "Harvest/n=1", "model", "gvisor", 0.4, -1}, "MISSED: 0.45x, target 0.40x"},
		{Targets[4], "MISSED: 0.62x, target 0.50x; 2 allocs, target 1"}, // 250 / 400
		{Targets[1], "no data"},
	} {
		if got := tc.target.Eval(out.Peers).Status(); got != tc.status {
			t.Errorf("%+v: %q, want %q", tc.target, got, tc.status)
		}
	}
}

func TestRoundRatios(t *testing.T) {
	out, err := Parse(strings.NewReader(sample + `BenchmarkHarvest/impl=gvisor/n=1-2  	100	 200.0 ns/op
`))
	if err != nil {
		t.Fatal(err)
	}
	// model 40, 60, 45 over gvisor 100, 100, 200: rounds 0.40, 0.60, 0.225.
	v := Targets[0].Eval(out.Peers)
	if v.Ratio != 0.45 || v.RoundMin != 0.225 || v.RoundMax != 0.6 || v.Rounds() != "rounds 0.23-0.60x" {
		t.Errorf("%+v %q", v, v.Rounds())
	}
	// Unpaired rounds (3 model, 2 gvisor samples): no range.
	out, _ = Parse(strings.NewReader(sample))
	if v := Targets[0].Eval(out.Peers); v.Rounds() != "" || v.RoundMin != v.Ratio {
		t.Errorf("unpaired: %+v", v)
	}
}

func TestSplitImpl(t *testing.T) {
	key, impl := SplitImpl("BenchmarkWait/impl=host/n=1000")
	if key != "Wait/n=1000" || impl != "host" {
		t.Errorf("got %q %q", key, impl)
	}
}

// TestFloor: a target with an impl=floor beside it reports the floor's
// ratio, and a missed target whose floor is above the limit says it is
// out of reach.
func TestFloor(t *testing.T) {
	const run = `pkg: github.com/guestpoll/guestpoll/bench/peers
BenchmarkWakeupRoundTrip/impl=model-2	100	1000.0 ns/op	0 B/op	0 allocs/op
BenchmarkWakeupRoundTrip/impl=chan-2	100	400.0 ns/op	0 B/op	0 allocs/op
BenchmarkWakeupRoundTrip/impl=floor-2	100	700.0 ns/op	0 B/op	0 allocs/op
`
	out, err := Parse(strings.NewReader(run))
	if err != nil {
		t.Fatal(err)
	}
	v := Targets[5].Eval(out.Peers)
	if v.Floor != 1.75 {
		t.Errorf("floor %v, want 1.75 (700 / 400)", v.Floor)
	}
	if want := "MISSED: 2.50x, target 1.50x; out of reach: the synchronisation floor alone is 1.75x"; v.Status() != want {
		t.Errorf("%q, want %q", v.Status(), want)
	}
	// A floor within the limit does not excuse the miss.
	out, _ = Parse(strings.NewReader(strings.Replace(run, "700.0", "500.0", 1)))
	if v := Targets[5].Eval(out.Peers); v.Status() != "MISSED: 2.50x, target 1.50x" || v.Floor != 1.25 {
		t.Errorf("%q, floor %v", v.Status(), v.Floor)
	}
}

func TestMin(t *testing.T) {
	out, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	// The peers' model harvest: 40, 60, 45.
	if v, ok := out.Peers.Min("Harvest/n=1", "model", "ns/op"); !ok || v != 40 {
		t.Errorf("Min = %v, %v; want 40", v, ok)
	}
	if _, ok := out.Peers.Min("Harvest/n=1", "host", "ns/op"); ok {
		t.Error("Min of an impl without results reported one")
	}
}
