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

// FloorImpl is the implementation that measures, beside a target's Impl
// and Ref, what Impl's synchronisation alone costs
// (BenchmarkWakeupRoundTrip/impl=floor): Impl cannot do better than it
// without changing what synchronises, so a target whose floor is above
// its limit is out of reach, and the same run shows it.
const FloorImpl = "floor"

// Verdict is a Target judged against one run's medians.
type Verdict struct {
	// Floor is FloorImpl's median over Ref's, when the run measured it
	// for the target's key; else 0.
	Floor float64
	Ratio float64 // Impl / Ref
	// RoundMin and RoundMax are the smallest and largest ratio of one
	// round's samples (the i-th of Impl over the i-th of Ref), when both
	// have the same number of samples, more than one; else both Ratio.
	RoundMin, RoundMax float64
	Allocs             float64 // Impl's allocs/op (0 when not reported)
	Data               bool    // both medians exist and Ref's is not zero
	Met                bool
	Why                string // how the target is missed, or "no data"
}

// Eval judges t against r.
func (t Target) Eval(r *Results) Verdict {
	v, vok := r.Get(t.Key, t.Impl, "ns/op")
	ref, rok := r.Get(t.Key, t.Ref, "ns/op")
	if !vok || !rok || ref == 0 {
		return Verdict{Why: "no data"}
	}
	out := Verdict{Ratio: v / ref, Data: true, Met: true}
	out.RoundMin, out.RoundMax = r.roundRatios(t.Key, t.Impl, t.Ref)
	if out.RoundMin == 0 {
		out.RoundMin, out.RoundMax = out.Ratio, out.Ratio
	}
	out.Allocs, _ = r.Get(t.Key, t.Impl, "allocs/op")
	if floor, ok := r.Get(t.Key, FloorImpl, "ns/op"); ok {
		out.Floor = floor / ref
	}
	var why []string
	if out.Ratio > t.Limit {
		out.Met = false
		why = append(why, fmt.Sprintf("%.2fx, target %.2fx", out.Ratio, t.Limit))
	}
	if t.MaxAllocs >= 0 && out.Allocs > t.MaxAllocs {
		out.Met = false
		why = append(why, fmt.Sprintf("%.0f allocs, target %.0f", out.Allocs, t.MaxAllocs))
	}
	if !out.Met && out.Floor > t.Limit {
		why = append(why, fmt.Sprintf("out of reach: the synchronisation floor alone is %.2fx", out.Floor))
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

// roundRatios returns the extremes of the per-round ratios of impl's ns/op
// to ref's, or zeros when the rounds cannot be paired.
func (p *Results) roundRatios(key, impl, ref string) (lo, hi float64) {
	a, b := p.byKey[key][impl]["ns/op"], p.byKey[key][ref]["ns/op"]
	if len(a) < 2 || len(a) != len(b) {
		return 0, 0
	}
	for i := range a {
		if b[i] == 0 {
			return 0, 0
		}
		r := a[i] / b[i]
		if i == 0 || r < lo {
			lo = r
		}
		if i == 0 || r > hi {
			hi = r
		}
	}
	return lo, hi
}

// Rounds is the per-round range in words ("rounds 0.55-0.80x"), or ""
// for a single round.
func (v Verdict) Rounds() string {
	if !v.Data || v.RoundMin == v.RoundMax {
		return ""
	}
	return fmt.Sprintf("rounds %.2f-%.2fx", v.RoundMin, v.RoundMax)
}
