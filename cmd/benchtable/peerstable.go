package main

// The peers table of issue 17: host, gVisor, model and syscall layer in
// one run (bench/peers), and the hostfd bridge against host epoll.

import (
	"fmt"
	"io"
	"strings"

	"github.com/guestpoll/guestpoll/internal/benchresults"
)

// peersRow is one operation of the peers table.
type peersRow struct {
	op   string
	key  string
	unit string
	// targets are the issue 17 targets judged on this row (by index in
	// benchresults.Targets); check, when set, is a target of issue 7's
	// still listed (absolute, on the model).
	targets []int
	check   func(model, allocs float64) (bool, string)
	note    string // the target in words when check is set
}

var peersRows = []peersRow{
	{op: "harvest 1 ready of 1", key: "Harvest/n=1", unit: "ns/op", targets: []int{0}},
	{op: "harvest 1 ready of 1000", key: "Harvest/n=1000", unit: "ns/op"},
	{op: "epoll_wait through the syscall layer, 1 of 1", key: "Harvest/n=1", unit: "ns/op", targets: []int{1}},
	{op: "epoll_wait through the syscall layer, 1 of 1000", key: "Harvest/n=1000", unit: "ns/op", targets: []int{2}},
	{op: "ADD+DEL, 1000 others", key: "CtlAddDel", unit: "ns/op", targets: []int{4}},
	{op: "MOD, 1000 others", key: "CtlMod", unit: "ns/op", note: "model ≤ 100 ns, 0 allocs (issue 7)",
		check: func(m, a float64) (bool, string) {
			return m <= 100 && a == 0, fmt.Sprintf("%.0f ns, %.0f allocs", m, a)
		}},
	{op: "wakeup round trip", key: "WakeupRoundTrip", unit: "ns/op", targets: []int{5}},
	{op: "eventfd write+read", key: "EventfdWriteRead", unit: "ns/op", targets: []int{3}},
	{op: "memory per registration", key: "RegistrationMemory", unit: "B/reg", note: "model ≤ 160 B (issue 7)",
		check: func(m, _ float64) (bool, string) { return m <= 160, fmt.Sprintf("%.0f B", m) }},
}

// ratio formats a / b of two impls' medians of unit, or "-".
func ratio(p *results, key, unit, a, b string) string {
	x, xok := p.Get(key, a, unit)
	y, yok := p.Get(key, b, unit)
	if !xok || !yok || y == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", x/y)
}

// allocsText is "gVisor / model / syscall" allocations per operation.
func allocsText(p *results, key string) string {
	parts := make([]string, 0, 3)
	for _, impl := range []string{"gvisor", "model", "syscall"} {
		if a, ok := p.Get(key, impl, "allocs/op"); ok {
			parts = append(parts, fmt.Sprintf("%.0f", a))
		} else {
			parts = append(parts, "-")
		}
	}
	return strings.Join(parts, " / ")
}

// targetText is a row's targets and their status.
func (r peersRow) targetText(p *results) (target, status string) {
	var ts, ss []string
	for _, i := range r.targets {
		t := benchresults.Targets[i]
		text := fmt.Sprintf("%s ≤ %.2gx %s", implName(t.Impl), t.Limit, implName(t.Ref))
		if ref, ok := p.Get(t.Key, t.Ref, "ns/op"); ok && t.Ref == "chan" {
			text += fmt.Sprintf(" (%.0f ns)", ref)
		}
		if t.MaxAllocs >= 0 {
			text += allocLimit(t.MaxAllocs)
		}
		text += floorText(p, t.Key, t.Ref)
		ts = append(ts, text)
		v := t.Eval(p)
		status := v.Status()
		if rounds := v.Rounds(); rounds != "" {
			status += " (" + rounds + ")"
		}
		ss = append(ss, status)
	}
	if r.check != nil {
		ts = append(ts, r.note)
		m, mok := p.Get(r.key, "model", r.unit)
		a, _ := p.Get(r.key, "model", "allocs/op")
		switch ok, why := r.check(m, a); {
		case !mok:
			ss = append(ss, "no data")
		case ok:
			ss = append(ss, "met")
		default:
			ss = append(ss, "MISSED: "+why)
		}
	}
	return strings.Join(ts, "; "), strings.Join(ss, "; ")
}

func implName(impl string) string {
	switch impl {
	case "gvisor":
		return "gVisor"
	case "syscall":
		return "syscall layer"
	case "chan":
		return "chan ping-pong"
	}
	return impl
}

func writePeersTable(w io.Writer, p *results) {
	fmt.Fprintln(w, "| operation | host | gVisor | model | syscall layer | model/gVisor | model/host | syscall/host | allocs gVisor / model / syscall | target | status |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
	for _, r := range peersRows {
		cells := []string{r.op}
		any := false
		for _, impl := range []string{"host", "gvisor", "model", "syscall"} {
			v, ok := p.Get(r.key, impl, r.unit)
			any = any || ok
			cells = append(cells, format(v, ok, r.unit))
		}
		if !any {
			continue
		}
		cells = append(cells,
			ratio(p, r.key, r.unit, "model", "gvisor"),
			ratio(p, r.key, r.unit, "model", "host"),
			ratio(p, r.key, r.unit, "syscall", "host"))
		if r.unit == "ns/op" {
			cells = append(cells, allocsText(p, r.key))
		} else {
			cells = append(cells, "-")
		}
		target, status := r.targetText(p)
		cells = append(cells, target, status)
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
}

// hostfdSizes are BenchmarkHostfdEvents' numbers of watched fds.
var hostfdSizes = []int{1, 1000, 10000}

func hasHostfd(p *results) bool {
	for _, n := range hostfdSizes {
		if p.Has(fmt.Sprintf("HostfdEvents/n=%d", n), "hostfd") {
			return true
		}
	}
	return false
}

// perSecond formats 1e9 / ns.
func perSecond(ns float64, ok bool) string {
	if !ok || ns == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", 1e9/ns)
}

func writeHostfdTable(w io.Writer, p *results) {
	fmt.Fprintln(w, "| host events, watched fds | host epoll | hostfd bridge | bridge/host | events/s host | events/s bridge | CPU per event host | CPU per event bridge | poller threads (bridge) | OS threads (bridge) |")
	fmt.Fprintln(w, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, n := range hostfdSizes {
		key := fmt.Sprintf("HostfdEvents/n=%d", n)
		h, hok := p.Get(key, "host", "ns/op")
		b, bok := p.Get(key, "hostfd", "ns/op")
		if !hok && !bok {
			continue
		}
		hc, hcok := p.Get(key, "host", "cpu-ns/op")
		bc, bcok := p.Get(key, "hostfd", "cpu-ns/op")
		pollers, pok := p.Get(key, "hostfd", "pollers")
		threads, tok := p.Get(key, "hostfd", "threads")
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", n,
			format(h, hok, "ns/op"), format(b, bok, "ns/op"), ratio(p, key, "ns/op", "hostfd", "host"),
			perSecond(h, hok), perSecond(b, bok),
			format(hc, hcok, "ns/op"), format(bc, bcok, "ns/op"),
			count(pollers, pok), count(threads, tok))
	}
}

func count(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.0f", v)
}

func allocLimit(n float64) string {
	if n == 0 {
		return ", 0 allocs"
	}
	return fmt.Sprintf(", ≤ %.0f alloc", n)
}

// floorText is ", synchronisation floor N ns = Rx <ref>" when the run
// measured key's impl=floor (benchresults.FloorImpl), else "".
func floorText(p *results, key, ref string) string {
	floor, ok := p.Get(key, benchresults.FloorImpl, "ns/op")
	r, rok := p.Get(key, ref, "ns/op")
	if !ok || !rok || r == 0 {
		return ""
	}
	return fmt.Sprintf("; synchronisation floor %.0f ns = %.2fx %s", floor, floor/r, implName(ref))
}
