package main

// The model-versus-host table of issue 7: every benchmark of the model's
// packages with an impl=model and an impl=host (or impl=chan) variant.

import (
	"fmt"
	"io"
	"strings"

	"github.com/guestpoll/guestpoll/internal/benchresults"
)

type results = benchresults.Results

// row is one line of the table.
type row struct {
	op     string // what the line measures
	key    string // benchmark name without the impl element
	unit   string // the metric compared: ns/op, B/reg, woken/op
	ref    string // the impl the model is compared with
	target string // the target, in words
	// check reports whether the target is met and by how much it is missed;
	// nil when the row is for information.
	check func(p *results, model, ref float64, allocs float64) (bool, string)
}

func maxNs(limit float64) func(*results, float64, float64, float64) (bool, string) {
	return func(_ *results, m, _, _ float64) (bool, string) {
		return m <= limit, fmt.Sprintf("%.2fx the %.0f ns target", m/limit, limit)
	}
}

func maxRatio(limit float64) func(*results, float64, float64, float64) (bool, string) {
	return func(_ *results, m, ref, _ float64) (bool, string) {
		if ref == 0 {
			return false, "no reference"
		}
		r := m / ref
		return r <= limit, fmt.Sprintf("ratio %.2f vs %.2f", r, limit)
	}
}

func and(checks ...func(*results, float64, float64, float64) (bool, string)) func(*results, float64, float64, float64) (bool, string) {
	return func(p *results, m, ref, allocs float64) (bool, string) {
		ok, why := true, []string{}
		for _, c := range checks {
			if c == nil {
				continue
			}
			if good, w := c(p, m, ref, allocs); !good {
				ok = false
				why = append(why, w)
			}
		}
		return ok, strings.Join(why, "; ")
	}
}

func maxAllocs(limit float64) func(*results, float64, float64, float64) (bool, string) {
	return func(_ *results, _, _, a float64) (bool, string) {
		return a <= limit, fmt.Sprintf("%.0f allocs > %.0f", a, limit)
	}
}

// flatVs checks the model's figure against another model row's (flatness).
func flatVs(key string, limit float64) func(*results, float64, float64, float64) (bool, string) {
	return func(p *results, m, _, _ float64) (bool, string) {
		base, ok := p.Get(key, "model", "ns/op")
		if !ok || base == 0 {
			return false, "no " + key
		}
		return m <= limit*base, fmt.Sprintf("%.2fx %s", m/base, key)
	}
}

// sameWakeups checks that the model wakes as many waiters as Linux and
// that none of them was woken only to go back to sleep.
func sameWakeups(key string) func(*results, float64, float64, float64) (bool, string) {
	return func(p *results, m, ref, _ float64) (bool, string) {
		spurious, _ := p.Get(key, "model", "spurious/op")
		return m == ref && spurious == 0,
			fmt.Sprintf("%.2f woken (Linux %.2f), %.2f back to sleep", m, ref, spurious)
	}
}

func maxValue(limit float64, unit string) func(*results, float64, float64, float64) (bool, string) {
	return func(_ *results, m, _, _ float64) (bool, string) {
		return m <= limit, fmt.Sprintf("%.0f %s > %.0f", m, unit, limit)
	}
}

var rows = []row{
	{"harvest 1 ready of 1 (LT)", "Harvest/n=1", "ns/op", "host", "≤ 55 ns", maxNs(55)},
	{"harvest 1 ready of 1000", "Harvest/n=1000", "ns/op", "host", "≤ 55 ns, ≤ 1.1x n=1", and(maxNs(55), flatVs("Harvest/n=1", 1.1))},
	{"harvest 1 ready of 100000", "Harvest/n=100000", "ns/op", "host", "≤ 55 ns, ≤ 1.1x n=1", and(maxNs(55), flatVs("Harvest/n=1", 1.1))},
	{"epoll_wait, nothing ready, n=1000", "WaitNothingReady/n=1000", "ns/op", "host", "≈ 25 ns", maxNs(25)},
	{"syscall epoll_wait, 1 ready of 1", "SyscallEpollWait/n=1", "ns/op", "host", "≤ 0.35x host", maxRatio(0.35)},
	{"syscall epoll_wait, 1 ready of 1000", "SyscallEpollWait/n=1000", "ns/op", "host", "≤ 0.35x host", maxRatio(0.35)},
	{"epoll_ctl ADD + DEL", "CtlAddDel", "ns/op", "host", "≤ 300 ns, ≤ 1 alloc", and(maxNs(300), maxAllocs(1))},
	{"epoll_ctl MOD", "CtlMod", "ns/op", "host", "≤ 100 ns, 0 allocs", and(maxNs(100), maxAllocs(0))},
	{"wakeup round trip (ratio vs chan)", "WakeupRoundTrip", "ns/op", "chan", "≤ 1.5x chan, 0 allocs", and(maxRatio(1.5), maxAllocs(0))},
	{"wakeup round trip (host)", "WakeupRoundTrip", "ns/op", "host", "", nil},
	{"syscall wakeup round trip (vs chan)", "SyscallWakeupRoundTrip", "ns/op", "chan", "≤ 1.5x chan, 0 allocs", and(maxRatio(1.5), maxAllocs(0))},
	{"syscall wakeup round trip (host)", "SyscallWakeupRoundTrip", "ns/op", "host", "", nil},
	{"syscall eventfd write + read", "SyscallEventfd", "ns/op", "host", "0 allocs", maxAllocs(0)},
	{"eventfd write + read (fs)", "EventfdWriteRead", "ns/op", "host", "0 allocs", maxAllocs(0)},
	{"memory per registration (B)", "RegistrationMemory", "B/reg", "host", "≤ 160 B", maxValue(160, "B")},
	{"woken: EXCLUSIVE on 8 instances", "Wakeups/case=exclusive", "woken/op", "host", "= Linux (1), none spurious", sameWakeups("Wakeups/case=exclusive")},
	{"woken: 8 on one instance, ET", "Wakeups/case=et-shared", "woken/op", "host", "= Linux (1), none spurious", sameWakeups("Wakeups/case=et-shared")},
	{"woken: 8 on one, LT, unconsumed", "Wakeups/case=lt-shared", "woken/op", "host", "= Linux (8), none spurious", sameWakeups("Wakeups/case=lt-shared")},
}

// writeModelTable prints the issue 7 table.
func writeModelTable(w io.Writer, p *results) {
	fmt.Fprintln(w, "| operation | model | host/ref | ratio | allocs | target | status |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | --- | --- |")
	seen := map[string]bool{}
	for _, r := range rows {
		m, mok := p.Get(r.key, "model", r.unit)
		ref, rok := p.Get(r.key, r.ref, r.unit)
		allocs, aok := p.Get(r.key, "model", "allocs/op")
		if !mok && !rok {
			continue
		}
		seen[r.key] = true
		ratio := "-"
		if mok && rok && ref != 0 {
			ratio = fmt.Sprintf("%.2f", m/ref)
		}
		refText := format(ref, rok, r.unit)
		if r.ref != "host" && rok {
			refText += " (" + r.ref + ")"
		}
		status := ""
		if r.check != nil {
			switch ok, why := r.check(p, m, ref, allocs); {
			case !mok:
				status = "no data"
			case ok:
				status = "met"
			default:
				status = "MISSED: " + why
			}
		}
		allocText := "-"
		if aok && r.unit == "ns/op" {
			allocText = fmt.Sprintf("%.0f", allocs)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n",
			r.op, format(m, mok, r.unit), refText, ratio, allocText, r.target, status)
		if r.ref == "chan" {
			writeFloorRow(w, p, r.key)
		}
	}
	writeScaleRows(w, p, seen)
	// Anything else that has a model and a host variant, for information.
	for _, key := range p.Keys() {
		if seen[key] {
			continue
		}
		m, mok := p.Get(key, "model", "ns/op")
		h, hok := p.Get(key, "host", "ns/op")
		if !mok {
			continue
		}
		allocs, _ := p.Get(key, "model", "allocs/op")
		ratio := "-"
		if hok && h != 0 {
			ratio = fmt.Sprintf("%.2f", m/h)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %.0f | | |\n", key, format(m, mok, "ns/op"), format(h, hok, "ns/op"), ratio, allocs)
	}
}

// writeFloorRow prints, under a round trip compared with the channel
// ping-pong, the synchronisation floor measured in the same run
// (benchresults.FloorImpl), when there is one: the best the model's
// round trip can reach. Its status says whether that puts issue 17's
// target for the key out of reach.
func writeFloorRow(w io.Writer, p *results, key string) {
	floor, ok := p.Get(key, benchresults.FloorImpl, "ns/op")
	ref, rok := p.Get(key, "chan", "ns/op")
	if !ok || !rok || ref == 0 {
		return
	}
	status := ""
	for _, t := range benchresults.Targets {
		if t.Key == key && t.Ref == "chan" && floor/ref > t.Limit {
			status = fmt.Sprintf("the %.2gx target is out of reach", t.Limit)
		}
	}
	fmt.Fprintf(w, "| … its synchronisation floor | %s | %s (chan) | %.2f | - | the best the model can reach | %s |\n",
		format(floor, true, "ns/op"), format(ref, true, "ns/op"), floor/ref, status)
}
