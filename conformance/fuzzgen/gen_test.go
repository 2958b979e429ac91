package fuzzgen

import (
	"math/rand/v2"
	"os"
	"testing"

	"github.com/guestpoll/guestpoll/conformance"
)

// TestGenerateValid decodes random inputs: every one must be a valid script.
func TestGenerateValid(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		in := make([]byte, r.IntN(400))
		for k := range in {
			in[k] = byte(r.Uint32())
		}
		text := Generate(in)
		if _, err := conformance.Parse("gen.script", text); err != nil {
			t.Fatalf("input %x: %v\n%s", in, err, text)
		}
	}
}

// corpusScripts returns the parsed conformance corpus.
func corpusScripts(t testing.TB) []*conformance.Script {
	paths, err := conformance.FindScripts([]string{"../testdata"})
	if err != nil {
		t.Fatal(err)
	}
	var out []*conformance.Script
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := conformance.Parse(p, string(data))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sc)
	}
	return out
}

// TestEncodeCorpus encodes every corpus script: the encoder and decoder
// must agree (Encode panics otherwise), the result must be a valid script,
// and a decoded script must encode to the same script again.
func TestEncodeCorpus(t *testing.T) {
	scs := corpusScripts(t)
	if len(scs) < 100 {
		t.Fatalf("only %d corpus scripts found", len(scs))
	}
	for _, sc := range scs {
		text := Generate(Encode(sc))
		dec, err := conformance.Parse("dec.script", text)
		if err != nil {
			t.Fatalf("%s: decoded script invalid: %v\n%s", sc.Path, err, text)
		}
		if again := Generate(Encode(dec)); again != text {
			t.Errorf("%s: decoding is not a fixed point:\n%s\nvs\n%s", sc.Path, text, again)
		}
	}
}
