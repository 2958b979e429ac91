package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
cpu: Test CPU
BenchmarkHarvest/impl=model/n=1-2   	100	  50.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkHarvest/impl=model/n=1-2   	100	  70.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkHarvest/impl=model/n=1-2   	100	  40.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkHarvest/impl=host/n=1-2    	100	 300.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkCtlAddDel/impl=model-2     	100	 250.0 ns/op	144 B/op	  2 allocs/op
BenchmarkCtlAddDel/impl=host-2      	100	1000.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkWakeups/impl=model/case=exclusive-2	10	5 ns/op	0 spurious/op	1.000 woken/op
BenchmarkWakeups/impl=host/case=exclusive-2	10	5 ns/op	1.000 woken/op
BenchmarkOther-2                    	100	  10.0 ns/op
`

func TestTable(t *testing.T) {
	p, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if p.cpu != "Test CPU" || p.procs != 2 || p.runs != 3 {
		t.Errorf("cpu %q procs %d runs %d", p.cpu, p.procs, p.runs)
	}
	if m, _ := p.get("Harvest/n=1", "model", "ns/op"); m != 50 {
		t.Errorf("median %v, want 50", m)
	}
	if _, ok := p.results["Other"]; ok {
		t.Error("a benchmark without impl= was kept")
	}
	var b strings.Builder
	write(&b, p)
	out := b.String()
	for _, want := range []string{
		"| harvest 1 ready of 1 (LT) | 50.0 ns | 300.0 ns | 0.17 | 0 | ≤ 55 ns | met |",
		"| epoll_ctl ADD + DEL | 250.0 ns | 1000.0 ns | 0.25 | 2 | ≤ 300 ns, ≤ 1 alloc | MISSED: 2 allocs > 1 |",
		"| woken: EXCLUSIVE on 8 instances | 1.00 | 1.00 | 1.00 | - | = Linux (1), none spurious | met |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestSplitImpl(t *testing.T) {
	key, impl := splitImpl("BenchmarkWait/impl=host/n=1000")
	if key != "Wait/n=1000" || impl != "host" {
		t.Errorf("got %q %q", key, impl)
	}
}
