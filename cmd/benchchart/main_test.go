package main

import (
	"encoding/xml"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/guestpoll/guestpoll/internal/benchresults"
)

const sample = `pkg: github.com/guestpoll/guestpoll/bench/peers
cpu: Peer CPU
BenchmarkHarvest/impl=host/n=1-2     	100	 300.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkHarvest/impl=gvisor/n=1-2   	100	 100.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkHarvest/impl=model/n=1-2    	100	  40.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkHarvest/impl=syscall/n=1-2  	100	 150.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkCtlAddDel/impl=host-2       	100	1200.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkCtlAddDel/impl=gvisor-2     	100	 400.0 ns/op	112 B/op	  1 allocs/op
BenchmarkCtlAddDel/impl=model-2      	100	 300.0 ns/op	144 B/op	  1 allocs/op
`

// element is an SVG element as the test reads it back.
type element struct {
	name  string
	attrs map[string]string
	text  string
}

// parseSVG decodes the chart as XML (failing the test if it is not well
// formed) and returns its elements in order.
func parseSVG(t *testing.T, svg string) []element {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	var els []element
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return els
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := element{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			els = append(els, e)
		case xml.CharData:
			if len(els) > 0 {
				last := &els[len(els)-1]
				last.text = strings.TrimSpace(last.text + string(tok))
			}
		}
	}
}

func chart(t *testing.T) []element {
	t.Helper()
	out, err := benchresults.Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := draw(&b, out.Peers); err != nil {
		t.Fatal(err)
	}
	return parseSVG(t, b.String())
}

func rectWidth(t *testing.T, e element) float64 {
	t.Helper()
	w, err := strconv.ParseFloat(e.attrs["width"], 64)
	if err != nil {
		t.Fatalf("rect width %q", e.attrs["width"])
	}
	return w
}

func TestTargetBars(t *testing.T) {
	els := chart(t)
	if els[0].name != "svg" || els[0].attrs["height"] == "" {
		t.Fatalf("first element %+v, want an svg with a height", els[0])
	}
	// The target bars carry their verdict as a title: harvest met (0.40x
	// of gVisor, target 0.5x), ADD+DEL missed (0.75x, target 0.5x).
	bars := map[string]float64{}
	var texts []string
	for i, e := range els {
		if e.name == "title" && els[i-1].name == "rect" {
			bars[e.text] = rectWidth(t, els[i-1])
			if e.text == "met" && els[i-1].attrs["fill"] != "#27ae60" {
				t.Errorf("met bar coloured %s", els[i-1].attrs["fill"])
			}
		}
		if e.name == "text" {
			texts = append(texts, e.text)
		}
	}
	met, okMet := bars["met"]
	missed, okMissed := bars["MISSED: 0.75x, target 0.50x"]
	if !okMet || !okMissed {
		t.Fatalf("bars %v lack the harvest (met) or ADD+DEL (missed) verdict", bars)
	}
	// Bars are proportional to the ratios: 0.40 and 0.75.
	if got := met / missed; got < 0.53 || got > 0.54 {
		t.Errorf("bar widths %v / %v = %v, want 0.40/0.75", met, missed, got)
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{
		"0.40x (target 0.5x)", "0.75x (target 0.5x)",
		"no data", // wakeup round trip: not in the sample
		"model 40 ns (0.13x)", "syscall layer 150 ns (0.50x)", "host 1200 ns",
		"Peer CPU, GOMAXPROCS 2, medians of 1 runs",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("chart lacks %q; texts:\n%s", want, all)
		}
	}
}
