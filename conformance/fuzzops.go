package conformance

import (
	"strconv"
	"sync"

	"github.com/guestpoll/guestpoll/conformance/internal/fuzzcodec"
)

// fuzzOpcodes maps an opcode byte (modulo its length) to an operation:
// every generated operation of the earlier format versions, in opcode
// order, repeated by its weight. It is the whole table of a generator
// that makes no version 3 operation; opcodeTable appends the version 3
// operations a generator makes, so an earlier operation's opcode byte
// means the same in every table.
var fuzzOpcodes []*operation

// opcodeTables caches opcodeTable by the set of version 3 operations
// served (bit i: v3Generated[i]).
var opcodeTables sync.Map // uint64 -> []*operation

// v3Generated lists the generated version 3 operations in opcode order.
var v3Generated []*operation

// The tables are made in init: the decoders they hold refer back to them
// (fork's decoder, which decodes a fork's step with the whole table, is
// set here for that reason).
func init() {
	operationsByName["fork"].fuzz.decode = decodeFork
	fuzzOpcodes = opcodeTable(nil)
	for _, o := range generatedInOrder() {
		if o.version >= 3 {
			v3Generated = append(v3Generated, o)
		}
	}
}

func generatedInOrder() []*operation {
	byCode := map[int]*operation{}
	last := -1
	for _, o := range operations {
		if o.fuzz.decode != nil {
			byCode[o.fuzz.opcode] = o
			last = max(last, o.fuzz.opcode)
		}
	}
	var out []*operation
	for code := 0; code <= last; code++ {
		if o := byCode[code]; o != nil {
			out = append(out, o)
		}
	}
	return out
}

// opcodeTable returns the opcode table of a generator that makes the
// version 3 operations serves accepts (nil: none).
func opcodeTable(serves func(op string) bool) []*operation {
	var t []*operation
	for _, o := range generatedInOrder() {
		if o.version >= 3 && (serves == nil || !serves(o.name)) {
			continue
		}
		for range o.fuzz.weight {
			t = append(t, o)
		}
	}
	return t
}

// tableOf returns the opcode table of d's generator.
func tableOf(d *fuzzcodec.Decoder) []*operation {
	var set uint64
	for i, o := range v3Generated {
		if d.Serves(o.name) {
			set |= 1 << i
		}
	}
	if set == 0 {
		return fuzzOpcodes
	}
	if t, ok := opcodeTables.Load(set); ok {
		return t.([]*operation)
	}
	t := opcodeTable(func(op string) bool {
		for i, o := range v3Generated {
			if o.name == op {
				return set&(1<<i) != 0
			}
		}
		return false
	})
	opcodeTables.Store(set, t)
	return t
}

// FuzzServes returns the generator's filter of version 3 operations for
// a backend (fuzzcodec.Decoder.SetServes): the operations machine m runs
// (OperationServer; the process steps also need a ProcessMachine).
// Generating only those keeps "unsupported step" out of a differential
// run's findings; as a backend learns an operation, the generator makes
// it.
func FuzzServes(m Machine) func(op string) bool {
	ex := &executor{m: m}
	served := map[string]bool{}
	for _, o := range v3Generated {
		served[o.name] = ex.serves(o)
	}
	return func(op string) bool { return served[op] }
}

// UsesVersion3 reports whether a script has a version 3 step.
func UsesVersion3(sc *Script) bool {
	for _, st := range sc.Steps {
		if st.Call != nil && st.Call.spec() != nil && st.Call.spec().version >= 3 {
			return true
		}
	}
	return false
}

// FuzzDecodeOp decodes one operation of the fuzz generator's input (an
// opcode byte, then the operation's arguments) and emits its steps. It is
// package fuzzgen's generator loop body.
func FuzzDecodeOp(d *fuzzcodec.Decoder) {
	d.BeginOp()
	decodeOneOp(d)
}

// decodeOneOp decodes an opcode byte and the operation's arguments. In a
// fork ('P & CALL', see decodeFork) the operations that only the script's
// process runs decode to nothing.
func decodeOneOp(d *fuzzcodec.Decoder) {
	t := tableOf(d)
	o := t[int(d.Byte())%len(t)]
	if d.InFork() && !runsInFork(o) {
		return
	}
	o.fuzz.decode(d)
}

// runsInFork reports whether the generator runs o as a fork's step: not
// the process steps (only the script's process forks, exits, reaps and
// signals in generated scripts) nor fdinfo (which names fd numbers, and a
// fork's numbers differ between backends).
func runsInFork(o *operation) bool {
	return !o.needsProcesses && o.name != "kill" && o.name != "fdinfo"
}

// FuzzEncodeCall starts a new operation on e and writes the generator
// input whose decoding is the closest call to c. It returns false, having
// written nothing, when the generator makes no such call; else the caller
// completes the operation with e.Finish(c.Names, FuzzDecodeOp).
func FuzzEncodeCall(e *fuzzcodec.Encoder, c *Call) bool {
	e.Begin()
	return encodeOneOp(e, c)
}

func encodeOneOp(e *fuzzcodec.Encoder, c *Call) bool {
	o := c.spec()
	if o == nil || o.fuzz.encode == nil {
		return false
	}
	b, ok := opcodeByteIn(tableOf(e.Decoder()), o)
	if !ok {
		return false
	}
	e.Put(b)
	return o.fuzz.encode(e, c)
}

// FuzzEncodeOnProc is FuzzEncodeCall for a step 'P & CALL' of the forked
// process named proc: false when the generator has no such step (P is
// not a running fork, or c does not run in forks).
func FuzzEncodeOnProc(e *fuzzcodec.Encoder, proc string, c *Call) bool {
	e.Begin()
	p, fork := e.Proc(proc), operationsByName["fork"]
	b, ok := opcodeByteIn(tableOf(e.Decoder()), fork)
	if p == nil || p.State != fuzzcodec.ProcRunning || !ok || c.spec() == nil || !runsInFork(c.spec()) {
		return false
	}
	running := e.Decoder().ProcsIn(fuzzcodec.ProcRunning)
	i := procIndex(running, p)
	if i >= 63 {
		return false
	}
	e.Put(b, byte(4*i+1))
	encoded := false
	e.InProc(p, func() { encoded = encodeOneOp(e, c) })
	return encoded
}

// opcodeByte returns the first opcode byte that selects o in the table of
// a generator without version 3 operations.
func opcodeByte(o *operation) byte {
	b, ok := opcodeByteIn(fuzzOpcodes, o)
	if !ok {
		panic("conformance: operation " + o.name + " has no opcode table entry")
	}
	return b
}

func opcodeByteIn(t []*operation, o *operation) (byte, bool) {
	for i, x := range t {
		if x == o {
			return byte(i), true
		}
	}
	return 0, false
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

func encodeFDOf(e *fuzzcodec.Encoder, k fuzzcodec.Kind, a *Arg) {
	name, num := fdArg(a)
	e.FDOf(k, name, num)
}

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
