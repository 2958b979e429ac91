package fuzzgen

import (
	"math/rand/v2"
	"testing"

	"github.com/guestpoll/guestpoll/conformance"
)

func benchInputs() []*conformance.Script {
	r := rand.New(rand.NewPCG(3, 4))
	var out []*conformance.Script
	for len(out) < 64 {
		in := make([]byte, 200)
		for k := range in {
			in[k] = byte(r.Uint32())
		}
		sc, err := conformance.Parse("b.script", Generate(in))
		if err != nil {
			panic(err)
		}
		out = append(out, sc)
	}
	return out
}

func BenchmarkRunLinux(b *testing.B) {
	scs := benchInputs()
	i := 0
	for b.Loop() {
		RunLinux(scs[i%len(scs)])
		i++
	}
}

func BenchmarkRunModel(b *testing.B) {
	scs := benchInputs()
	i := 0
	for b.Loop() {
		RunModel(scs[i%len(scs)], nil)
		i++
	}
}

func BenchmarkRunModelCheckpointed(b *testing.B) {
	scs := benchInputs()
	i, taken := 0, 0
	for b.Loop() {
		_, n := RunModelCheckpointed(scs[i%len(scs)], uint64(i))
		taken += n
		i++
	}
	b.ReportMetric(float64(taken)/float64(i), "checkpoints/op")
}
