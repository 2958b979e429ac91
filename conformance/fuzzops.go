package conformance

import (
	"strconv"

	"github.com/guestpoll/guestpoll/conformance/internal/fuzzcodec"
)

// fuzzOpcodes maps an opcode byte (modulo its length) to an operation:
// every generated operation, in opcode order, repeated by its weight.
var fuzzOpcodes = func() []*operation {
	byCode := map[int]*operation{}
	last := -1
	for _, o := range operations {
		if o.fuzz.decode != nil {
			byCode[o.fuzz.opcode] = o
			last = max(last, o.fuzz.opcode)
		}
	}
	var t []*operation
	for code := 0; code <= last; code++ {
		if o := byCode[code]; o != nil {
			for range o.fuzz.weight {
				t = append(t, o)
			}
		}
	}
	return t
}()

// FuzzDecodeOp decodes one operation of the fuzz generator's input (an
// opcode byte, then the operation's arguments) and emits its steps. It is
// package fuzzgen's generator loop body.
func FuzzDecodeOp(d *fuzzcodec.Decoder) {
	d.BeginOp()
	fuzzOpcodes[int(d.Byte())%len(fuzzOpcodes)].fuzz.decode(d)
}

// FuzzEncodeCall starts a new operation on e and writes the generator
// input whose decoding is the closest call to c. It returns false, having
// written nothing, when the generator makes no such call; else the caller
// completes the operation with e.Finish(c.Names, FuzzDecodeOp).
func FuzzEncodeCall(e *fuzzcodec.Encoder, c *Call) bool {
	e.Begin()
	o := c.spec()
	if o == nil || o.fuzz.encode == nil {
		return false
	}
	e.Put(opcodeByte(o))
	return o.fuzz.encode(e, c)
}

// opcodeByte returns the first opcode byte that selects o.
func opcodeByte(o *operation) byte {
	for i, x := range fuzzOpcodes {
		if x == o {
			return byte(i)
		}
	}
	panic("conformance: operation " + o.name + " has no opcode table entry")
}

// argVal returns the value of the argument filling p (0 if none), as the
// encoders compare it.
func argVal(c *Call, p string) int64 {
	if a := c.Arg(p); a != nil {
		return int64(a.Val)
	}
	return 0
}

// argI32 returns a 32-bit argument sign-extended.
func argI32(c *Call, p string) int64 { return int64(int32(uint32(argVal(c, p)))) }

// argFlags returns the 32 bits of the FLAGS argument (0 if none).
func argFlags(c *Call) uint64 { return uint64(argVal(c, "FLAGS")) & 0xffffffff }

// fdArg returns an fd argument as the encoder takes it: the name ("" for
// a number) and the number, sign-extended; nil is the raw number -1.
func fdArg(a *Arg) (string, int64) {
	if a == nil {
		return "", -1
	}
	n := int64(int32(uint32(a.Val)))
	if a.Kind == ArgName {
		return a.Text, n
	}
	return "", n
}

func encodeFD(e *fuzzcodec.Encoder, a *Arg)    { e.FD(fdArg(a)) }
func encodeEpoll(e *fuzzcodec.Encoder, a *Arg) { e.Epoll(fdArg(a)) }

// emitCreation emits a creation: binding the names bind makes when the
// call cannot fail, none otherwise.
func emitCreation(d *fuzzcodec.Decoder, valid bool, bind func() string, call string) {
	if valid {
		d.Emit("%s = %s", bind(), call)
	} else {
		d.Emit("%s", call)
	}
}

// choice is one value of a valueTable: its text in the script and its
// value.
type choice struct {
	text string
	val  int64
}

// valueTable is a list of values a selector byte picks from (modulo its
// length). In the tables of creation flags and arguments the entries
// before valid always succeed and the others always fail, so the
// generator knows whether a creation binds names.
type valueTable struct {
	vals  []choice
	valid int // vals[:valid] succeed
}

// pick decodes a selector of t: the value and whether it is a valid one.
func (t *valueTable) pick(d *fuzzcodec.Decoder) (choice, bool) {
	i := d.Sel(len(t.vals))
	return t.vals[i], i < t.valid
}

// encode encodes a selector of t: the entry with value v that has the
// wanted validity, else the first entry with that validity.
func (t *valueTable) encode(e *fuzzcodec.Encoder, v int64, valid bool) {
	for i, c := range t.vals {
		if c.val == v && (i < t.valid) == valid {
			e.Put(byte(i))
			return
		}
	}
	if valid {
		e.Put(0)
	} else {
		e.Put(byte(t.valid))
	}
}

// nums returns choices printed as decimal numbers.
func nums(vs ...int64) []choice {
	out := make([]choice, len(vs))
	for i, v := range vs {
		out[i] = choice{strconv.FormatInt(v, 10), v}
	}
	return out
}

// nearest returns the selector of the entry of tab closest to v.
func nearest(tab []choice, v int64) byte {
	best := 0
	for i, c := range tab {
		if absDiff(c.val, v) < absDiff(tab[best].val, v) {
			best = i
		}
	}
	return byte(best)
}

func absDiff(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}

// File-flag bits the generator's tables use.
const (
	oNonblock  = 0x800
	oCloexec   = 0x80000
	oDirect    = 0x4000
	oAppend    = 0x400
	efdSemaphr = 1
	intMin     = -1 << 31
	intMax     = 1<<31 - 1
)
