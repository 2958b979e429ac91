package benchresults

import "fmt"

// A Target is one of issue 17's ratio targets: the median ns/op of Impl
// divided by Ref's for benchmark Key is at most Limit, and Impl allocates
// at most MaxAllocs per operation (when MaxAllocs >= 0).
type Target struct {
	Name      string // what is compared, e.g. "model harvest / gVisor"
	Key       string
	Impl, Ref string
	Limit     float64
	MaxAllocs float64
}

// Targets are issue 17's targets, each a ratio of two implementations
// measured in the same run.
var Targets = []Target{
	{"harvest 1 of 1: model / gVisor", "Harvest/n=1", "model", "gvisor", 0.5, -1},
	{"epoll_wait 1 of 1: syscall layer / host", "Harvest/n=1", "syscall", "host", 0.35, -1},
	{"epoll_wait 1 of 1000: syscall layer / host", "Harvest/n=1000", "syscall", "host", 0.35, -1},
	{"eventfd write+read: syscall layer / host", "EventfdWriteRead", "syscall", "host", 0.35, -1},
	{"ADD+DEL: model / gVisor", "CtlAddDel", "model", "gvisor", 0.5, 1},
	{"wakeup round trip: model / chan", "WakeupRoundTrip", "model", "chan", 1.5, 0},
}

// Verdict is a Target judged against one run's medians.
type Verdict struct {
	Ratio  float64 // Impl / Ref
	Allocs float64 // Impl's allocs/op (0 when not reported)
	Data   bool    // both medians exist and Ref's is not zero
	Met    bool
	Why    string // how the target is missed, or "no data"
}

// Eval judges t against r.
func (t Target) Eval(r *Results) Verdict {
	v, vok := r.Get(t.Key, t.Impl, "ns/op")
	ref, rok := r.Get(t.Key, t.Ref, "ns/op")
	if !vok || !rok || ref == 0 {
		return Verdict{Why: "no data"}
	}
	out := Verdict{Ratio: v / ref, Data: true, Met: true}
	out.Allocs, _ = r.Get(t.Key, t.Impl, "allocs/op")
	var why []string
	if out.Ratio > t.Limit {
		out.Met = false
		why = append(why, fmt.Sprintf("%.2fx, target %.2fx", out.Ratio, t.Limit))
	}
	if t.MaxAllocs >= 0 && out.Allocs > t.MaxAllocs {
		out.Met = false
		why = append(why, fmt.Sprintf("%.0f allocs, target %.0f", out.Allocs, t.MaxAllocs))
	}
	for i, w := range why {
		if i > 0 {
			out.Why += "; "
		}
		out.Why += w
	}
	return out
}

// Status is the verdict in words: "met", "MISSED: ..." or "no data".
func (v Verdict) Status() string {
	switch {
	case !v.Data:
		return "no data"
	case v.Met:
		return "met"
	}
	return "MISSED: " + v.Why
}
