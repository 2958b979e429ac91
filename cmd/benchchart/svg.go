package main

import (
	"bufio"
	"bytes"
	"fmt"
	"html"
	"io"
	"math"

	"github.com/guestpoll/guestpoll/internal/benchresults"
)

// Layout, in SVG user units (pixels).
const (
	width     = 920
	labelW    = 270 // the labels' column
	plotW     = 380 // the bars' column
	barH      = 14
	rowGap    = 8
	panelGap  = 34
	textColor = "#222"
)

// impls are the peers panel's bars, with their colours.
var impls = []struct{ impl, name, colour string }{
	{"gvisor", "gVisor", "#7a7ac8"},
	{"model", "model", "#2e8b57"},
	{"syscall", "syscall layer", "#d2882d"},
}

// peerOps are the peers panel's operations.
var peerOps = []struct{ key, name string }{
	{"Harvest/n=1", "harvest 1 ready of 1"},
	{"CtlAddDel", "ADD+DEL, 1000 others"},
	{"CtlMod", "MOD, 1000 others"},
	{"WakeupRoundTrip", "wakeup round trip"},
	{"EventfdWriteRead", "eventfd write+read"},
}

// canvas accumulates the SVG's elements and the height used.
type canvas struct {
	w io.Writer
	y float64
}

func (c *canvas) text(x, y float64, anchor, weight, s string) {
	fmt.Fprintf(c.w, `<text x="%.1f" y="%.1f" text-anchor="%s" font-weight="%s" fill="%s">%s</text>`+"\n",
		x, y, anchor, weight, textColor, html.EscapeString(s))
}

func (c *canvas) rect(x, y, w, h float64, colour, title string) {
	fmt.Fprintf(c.w, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`+"\n",
		x, y, w, h, colour, html.EscapeString(title))
}

func (c *canvas) line(x1, y1, x2, y2 float64, colour string, dash bool) {
	style := ""
	if dash {
		style = ` stroke-dasharray="4 3"`
	}
	fmt.Fprintf(c.w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5"%s/>`+"\n",
		x1, y1, x2, y2, colour, style)
}

// scale maps ratios 0..max onto the plot column, max rounded up to a
// half unit so that the axis reads easily.
type scale struct{ max float64 }

func newScale(values ...float64) scale {
	m := 1.0
	for _, v := range values {
		m = math.Max(m, v)
	}
	return scale{max: math.Ceil(m*1.05*2) / 2}
}

func (s scale) x(v float64) float64 { return labelW + plotW*v/s.max }

// axis draws the ratio axis's ticks below the rows, from top to bottom.
func (c *canvas) axis(s scale, top, bottom float64) {
	step := 0.5
	if s.max > 4 {
		step = math.Ceil(s.max/8*2) / 2
	}
	for v := 0.0; v <= s.max+1e-9; v += step {
		x := s.x(v)
		fmt.Fprintf(c.w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x, top, x, bottom)
		c.text(x, bottom+14, "middle", "normal", fmt.Sprintf("%gx", v))
	}
}

// targetsPanel draws one bar per target: the measured ratio, and a dashed
// line at the target.
func (c *canvas) targetsPanel(r *benchresults.Results) {
	c.text(10, c.y+16, "start", "bold", "Issue 17's targets: median ratio (bar), rounds' range (whisker), target (dashed line)")
	c.y += 30
	var values []float64
	verdicts := make([]benchresults.Verdict, len(benchresults.Targets))
	for i, t := range benchresults.Targets {
		verdicts[i] = t.Eval(r)
		values = append(values, verdicts[i].RoundMax, t.Limit)
	}
	s := newScale(values...)
	top := c.y
	bottom := top + float64(len(verdicts))*(barH+rowGap)
	c.axis(s, top-4, bottom)
	for i, t := range benchresults.Targets {
		v := verdicts[i]
		c.text(labelW-8, c.y+barH-3, "end", "normal", t.Name)
		label := "no data"
		if v.Data {
			colour := "#c0392b"
			if v.Met {
				colour = "#27ae60"
			}
			c.rect(labelW, c.y, s.x(v.Ratio)-labelW, barH, colour, v.Status())
			label = fmt.Sprintf("%.2fx (target %.2gx)", v.Ratio, t.Limit)
			if rounds := v.Rounds(); rounds != "" {
				// The spread of the rounds, as a whisker through the bar.
				c.line(s.x(v.RoundMin), c.y+barH/2, s.x(v.RoundMax), c.y+barH/2, textColor, false)
				label = fmt.Sprintf("%.2fx (target %.2gx; %s)", v.Ratio, t.Limit, rounds)
			}
		}
		c.line(s.x(t.Limit), c.y-3, s.x(t.Limit), c.y+barH+3, textColor, true)
		c.text(math.Max(s.x(v.RoundMax), s.x(t.Limit))+6, c.y+barH-3, "start", "normal", label)
		c.y += barH + rowGap
	}
	c.y = bottom + 24
}

// peersPanel draws, per operation, gVisor's, the model's and the syscall
// layer's time relative to the host's.
func (c *canvas) peersPanel(r *benchresults.Results) {
	c.text(10, c.y+16, "start", "bold", "Time per operation relative to the host kernel (host = 1; median ns in the label)")
	c.y += 30
	var values []float64
	for _, op := range peerOps {
		host, hok := r.Get(op.key, "host", "ns/op")
		for _, im := range impls {
			if v, ok := r.Get(op.key, im.impl, "ns/op"); ok && hok && host > 0 {
				values = append(values, v/host)
			}
		}
	}
	s := newScale(values...)
	group := float64(len(impls))*(barH+2) + rowGap
	top := c.y
	bottom := top + float64(len(peerOps))*group
	c.axis(s, top-4, bottom)
	c.line(s.x(1), top-4, s.x(1), bottom, textColor, true)
	for _, op := range peerOps {
		host, hok := r.Get(op.key, "host", "ns/op")
		c.text(labelW-8, c.y+barH*1.5, "end", "normal", op.name)
		if hok {
			c.text(labelW-8, c.y+barH*2.6, "end", "normal", fmt.Sprintf("host %.0f ns", host))
		}
		for _, im := range impls {
			v, ok := r.Get(op.key, im.impl, "ns/op")
			if ok && hok && host > 0 {
				c.rect(labelW, c.y, s.x(v/host)-labelW, barH, im.colour, im.name)
				c.text(s.x(v/host)+6, c.y+barH-3, "start", "normal", fmt.Sprintf("%s %.0f ns (%.2fx)", im.name, v, v/host))
			}
			c.y += barH + 2
		}
		c.y += rowGap
	}
	c.y = bottom + 24
}

// draw writes the whole SVG: the panels are drawn first, into a buffer,
// since the header needs the height they take.
func draw(w io.Writer, r *benchresults.Results) error {
	var body bytes.Buffer
	c := &canvas{w: &body}
	c.text(10, 18, "start", "bold", "guestpoll against its peers (make bench, bench/peers)")
	c.text(10, 34, "start", "normal", fmt.Sprintf("%s, GOMAXPROCS %d, medians of %d runs", r.CPU, r.Procs, r.Runs))
	c.y = 44
	c.targetsPanel(r)
	c.y += panelGap - 24
	c.peersPanel(r)
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" font-family="sans-serif" font-size="11">`+"\n",
		width, c.y, width, c.y)
	fmt.Fprintln(bw, `<rect width="100%" height="100%" fill="white"/>`)
	body.WriteTo(bw)
	fmt.Fprintln(bw, "</svg>")
	return bw.Flush()
}
