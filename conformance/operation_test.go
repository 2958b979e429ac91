package conformance

import (
	"strings"
	"testing"

	"github.com/guestpoll/guestpoll/conformance/internal/fuzzcodec"
)

// TestOperationsComplete checks that every operation of the table has all
// of its parts, so that a half-added operation fails here: its syntax, its
// execution, and either the fuzz generator's opcode, decoder and encoder
// or the reason it is not generated; and that the generator's opcodes are
// dense and unique (stored fuzz inputs name operations by them).
func TestOperationsComplete(t *testing.T) {
	names := map[string]bool{}
	opcodes := map[int]string{}
	for _, o := range operations {
		if o.name == "" || names[o.name] {
			t.Errorf("operation %q: empty or duplicate name", o.name)
		}
		names[o.name] = true
		checkSyntax(t, o)
		if o.exec == nil {
			t.Errorf("%s: no exec", o.name)
		}
		f := o.fuzz
		if f.notGenerated != "" {
			if f.decode != nil || f.encode != nil || f.weight != 0 || f.opcode != 0 {
				t.Errorf("%s: marked not generated (%s) but has generator parts", o.name, f.notGenerated)
			}
			continue
		}
		if f.decode == nil || f.encode == nil || f.weight <= 0 {
			t.Errorf("%s: generated but lacks a decoder, an encoder or a weight (or say why it is not generated)", o.name)
			continue
		}
		if other, dup := opcodes[f.opcode]; dup {
			t.Errorf("%s and %s share opcode %d", o.name, other, f.opcode)
		}
		opcodes[f.opcode] = o.name
	}
	for code := range len(opcodes) {
		if opcodes[code] == "" {
			t.Errorf("opcode %d is unused: opcodes must be dense from 0", code)
		}
	}
	if len(operationsByName) != len(operations) {
		t.Errorf("operationsByName has %d entries for %d operations", len(operationsByName), len(operations))
	}
}

// checkSyntax checks an operation's signatures against its binding rule
// and result.
func checkSyntax(t *testing.T, o *operation) {
	t.Helper()
	if len(o.sigs) == 0 || o.result.kind == "" {
		t.Errorf("%s: no signature or no result kind", o.name)
	}
	if o.binds != bindsNothing && (o.result.kind != KindFDs || o.result.nfds < 1) {
		t.Errorf("%s: binds names but returns no fd", o.name)
	}
	for _, sig := range o.sigs {
		hasNew := false
		for _, p := range sig {
			if p.name == "" || p.kind == pMask && p.table == nil {
				t.Errorf("%s: parameter %q lacks a name or its mask table", o.name, p.name)
			}
			hasNew = hasNew || p.kind == pNewFD
		}
		if hasNew != (o.binds == bindsNew) {
			t.Errorf("%s: a NEW parameter goes with bindsNew and only with it", o.name)
		}
	}
}

// TestOperationsDecode decodes each generated operation from its own
// opcode byte (and every argument byte zero, then 0x41): the call it emits
// must be that operation and parse, and the encoder, which must agree with
// the decoder on its bytes, must encode it as that operation again. (That
// a decoded corpus is a fixed point of encoding is fuzzgen's
// TestEncodeCorpus.)
func TestOperationsDecode(t *testing.T) {
	all := func(string) bool { return true }
	table := opcodeTable(all)
	for _, o := range operations {
		if o.fuzz.decode == nil {
			continue
		}
		code, ok := opcodeByteIn(table, o)
		if !ok {
			t.Fatalf("%s: not in the opcode table", o.name)
		}
		for _, fill := range []byte{0, 0x41} {
			in := []byte{code}
			for range 32 {
				in = append(in, fill)
			}
			d := fuzzcodec.NewDecoder(in)
			d.SetServes(all)
			FuzzDecodeOp(d)
			calls := d.Calls()
			// A decoder may emit the steps its call needs first (a
			// fork before exit, a listener before connect).
			at := -1
			for i, c := range calls {
				if opName(c) == o.name {
					at = i
					break
				}
			}
			if at < 0 {
				t.Fatalf("%s: opcode %d decodes to %q", o.name, o.fuzz.opcode, calls)
			}
			sc, err := Parse("decoded.script", strings.Join(calls, "\n")+"\n")
			if err != nil {
				t.Errorf("%s: decoded an invalid call: %v", o.name, err)
				continue
			}
			e := fuzzcodec.NewEncoder()
			e.SetServes(all)
			for i, st := range sc.Steps {
				if st.Call == nil || st.Kind != StepCall {
					continue
				}
				if !FuzzEncodeCall(e, st.Call) {
					if i == at {
						t.Errorf("%s: the encoder drops %q", o.name, calls[at])
					}
					continue
				}
				if err := e.Finish(st.Call.Names, FuzzDecodeOp); err != nil {
					t.Errorf("%s: encoder and decoder disagree on %q: %v", o.name, st.Call, err)
				}
			}
			again := fuzzcodec.NewDecoder(e.Bytes())
			again.SetServes(all)
			for again.More() {
				FuzzDecodeOp(again)
			}
			found := false
			for _, c := range again.Calls() {
				found = found || opName(c) == o.name
			}
			if !found {
				t.Errorf("%s: %q encodes to input that decodes to %q", o.name, calls, again.Calls())
			}
		}
	}
}

// opName returns the operation of a call in script syntax.
func opName(call string) string {
	if _, rest, ok := strings.Cut(call, " = "); ok {
		call = rest
	}
	op, _, _ := strings.Cut(call, " ")
	return op
}
