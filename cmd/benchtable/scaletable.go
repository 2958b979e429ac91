package main

// The scale rows of issue 17: harvest and wakeup cost flat from 1 to
// 1,000,000 registrations and from 1 to 100,000 instances. Each row
// compares the model with itself: its figure for a large case against
// its figure for the small one, measured by the same timed loop
// (kernel/epoll's BenchmarkScale and BenchmarkScaleWakeup).

import (
	"fmt"
	"io"
)

// scaleLimit is the target: a large case costs at most 1.1x the small one.
const scaleLimit = 1.1

// scaleRow is one large case and the small case it is compared with.
type scaleRow struct {
	op, key, refKey string
}

var scaleRows = []scaleRow{
	{"harvest, 1 ready of 1000000 registrations", "Scale/case=regs-1000000", "Harvest/n=1"},
	{"harvest, 1 ready on 1 of 100000 instances", "Scale/case=instances-100000", "Harvest/n=1"},
	{"wakeup + harvest, 1 of 1000000 registrations", "ScaleWakeup/case=regs-1000000", "ScaleWakeup/case=base"},
	{"wakeup + harvest, on 1 of 100000 instances", "ScaleWakeup/case=instances-100000", "ScaleWakeup/case=base"},
}

// writeScaleRows prints the scale rows the output has data for, in the
// model table's columns: the large case, the small one (named), their
// ratio of medians and the status against scaleLimit; a missed row gives
// the ratio of the minimums too, which the machine's load moves less than
// the medians. It marks the keys printed (both) in seen.
func writeScaleRows(w io.Writer, p *results, seen map[string]bool) {
	for _, r := range scaleRows {
		m, mok := p.Get(r.key, "model", "ns/op")
		if !mok {
			continue
		}
		seen[r.key], seen[r.refKey] = true, true
		allocs, _ := p.Get(r.key, "model", "allocs/op")
		ref, rok := p.Get(r.refKey, "model", "ns/op")
		ratio, status := "-", "no data: no "+r.refKey
		if rok && ref != 0 {
			ratio = fmt.Sprintf("%.2f", m/ref)
			status = "met"
			if m > scaleLimit*ref {
				status = fmt.Sprintf("MISSED: %.2fx, target %.2fx", m/ref, scaleLimit)
				lo, _ := p.Min(r.key, "model", "ns/op")
				refLo, _ := p.Min(r.refKey, "model", "ns/op")
				if refLo != 0 {
					status += fmt.Sprintf(" (minimums %.2fx)", lo/refLo)
				}
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s (%s) | %s | %.0f | ≤ %.1fx %s | %s |\n",
			r.op, format(m, true, "ns/op"), format(ref, rok, "ns/op"), r.refKey, ratio, allocs, scaleLimit, r.refKey, status)
	}
}
