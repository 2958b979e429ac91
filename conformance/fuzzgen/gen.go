package fuzzgen

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// MaxOps bounds the operations decoded from one input; the bytes after
// them are ignored. It keeps one execution short (about a millisecond).
const MaxOps = 64

// Raw fd numbers the generator passes where an fd is expected. None can be
// one of the fuzzing process's own fds: -1 is never valid, 999 is never
// open unless a script dup2'ed onto it (the harness checks it is free), and
// 0x7fffffff is above every RLIMIT_NOFILE Linux allows. 999 is below the
// model's default limit (1024), so dup2 onto it succeeds on both sides.
var rawFDs = [nRaw]int64{-1, 999, 0x7fffffff}

const (
	nRaw = 3
	// rawFDBase is the first fd-reference byte that means a raw number.
	rawFDBase = 256 - nRaw
)

// kind is the type of an open file description, as the generator tracks it.
type kind uint8

const (
	kEpoll kind = iota
	kPipeR
	kPipeW
	kEventfd
	kSocket   // one end of a socketpair
	kUnconn   // an unconnected socket
	kTimerfd  // a timerfd
	kRegular  // a regular file (memfd)
	kindCount // number of kinds
)

// file is one open file description of the simulated fd table.
type file struct{ kind kind }

// name is one name the script has bound, in binding order.
type name struct {
	text  string
	num   int32 // the fd number the name resolves to
	epoll bool  // bound to an epoll instance when it was bound
}

// Step is one step of a generated program. Thread is the script thread
// that runs it ("" for the main script thread); the generator emits only
// main-thread steps today, and a thread-aware generator will set it and
// add the spawn/join steps around it (see doc.go).
type Step struct {
	Thread string
	Call   string // the call in script syntax
}

// gen decodes bytes into steps while simulating the fd table, so that it
// knows, for every name, which file (if any) its number holds: creations
// bind fresh names only when they cannot fail, and the few operations
// that must not block or race are shaped by the file's kind.
type gen struct {
	in  []byte
	pos int

	names  []*name
	epolls []int // indexes in names of epoll names
	fds    map[int32]*file
	serial int // suffix of the next fresh name

	steps []Step
	nops  int // operations decoded
	// bound is filled by each op with the names it bound (for Encode).
	bound []string
}

func newGen(in []byte) *gen {
	return &gen{in: in, fds: map[int32]*file{}}
}

// Generate decodes fuzzer bytes into a script. Every input decodes to a
// valid script (conformance/scripts format) that is single-threaded,
// never blocks (every pollable file is O_NONBLOCK, waits have timeout 0),
// never depends on fd numbers and never names a raw fd the harness could
// own.
func Generate(in []byte) string { return Text(Steps(in)) }

// Steps decodes in and returns the steps.
func Steps(in []byte) []Step {
	g := newGen(in)
	for g.more() && g.nops < MaxOps {
		g.op()
	}
	return g.steps
}

// Text prints steps as a script.
func Text(steps []Step) string {
	var b strings.Builder
	for _, s := range steps {
		if s.Thread != "" {
			b.WriteString(s.Thread + " & ")
		}
		b.WriteString(s.Call)
		b.WriteByte('\n')
	}
	return b.String()
}

func (g *gen) more() bool { return g.pos < len(g.in) }

// byte returns the next input byte, 0 once the input is exhausted.
func (g *gen) byte() byte {
	if g.pos >= len(g.in) {
		return 0
	}
	b := g.in[g.pos]
	g.pos++
	return b
}

func (g *gen) u32() uint32 {
	var b [4]byte
	for i := range b {
		b[i] = g.byte()
	}
	return binary.LittleEndian.Uint32(b[:])
}

func (g *gen) u64() uint64 {
	var b [8]byte
	for i := range b {
		b[i] = g.byte()
	}
	return binary.LittleEndian.Uint64(b[:])
}

// sel reads a selector byte and returns an index below n.
func (g *gen) sel(n int) int { return int(g.byte()) % n }

func (g *gen) emit(format string, args ...any) {
	g.steps = append(g.steps, Step{Call: fmt.Sprintf(format, args...)})
}

// ref is a resolved fd argument: its text in the script and its number.
type ref struct {
	text string
	num  int64
}

// fdRef decodes an fd argument: a bound name, or a raw number.
func (g *gen) fdRef() ref {
	b := int(g.byte())
	if b >= rawFDBase || len(g.names) == 0 {
		return g.raw(b)
	}
	n := g.names[b%len(g.names)]
	return ref{n.text, int64(n.num)}
}

// epRef decodes an epoll-fd argument: with the top bit clear, one of the
// names bound to epoll instances (if any); with it set, any name; or a
// raw number.
func (g *gen) epRef() ref {
	b := int(g.byte())
	switch {
	case b >= rawFDBase || len(g.names) == 0:
		return g.raw(b)
	case b&0x80 == 0 && len(g.epolls) > 0:
		n := g.names[g.epolls[b%len(g.epolls)]]
		return ref{n.text, int64(n.num)}
	}
	n := g.names[(b&0x7f)%len(g.names)]
	return ref{n.text, int64(n.num)}
}

// raw returns the raw number a reference byte selects: bytes from
// rawFDBase on select rawFDs in order; others (when no name is bound yet)
// wrap around.
func (g *gen) raw(b int) ref {
	i := b % len(rawFDs)
	if b >= rawFDBase {
		i = b - rawFDBase
	}
	v := rawFDs[i]
	return ref{fmt.Sprint(v), v}
}

// fileOf returns the file an fd number holds in the simulation.
func (g *gen) fileOf(num int64) *file {
	if num < 0 || num > 1<<20 {
		return nil
	}
	return g.fds[int32(num)]
}

func (g *gen) kindOf(r ref) (kind, bool) {
	if f := g.fileOf(r.num); f != nil {
		return f.kind, true
	}
	return 0, false
}

// lowestFree returns the lowest free number, as every creation takes it.
func (g *gen) lowestFree() int32 {
	for n := int32(0); ; n++ {
		if g.fds[n] == nil {
			return n
		}
	}
}

// bind allocates a number for a new file of kind k and binds a fresh name
// with the given prefix to it.
func (g *gen) bind(prefix string, k kind, f *file) string {
	if f == nil {
		f = &file{kind: k}
	}
	num := g.lowestFree()
	g.fds[num] = f
	g.serial++
	n := &name{text: fmt.Sprintf("%s%d", prefix, g.serial), num: num, epoll: f.kind == kEpoll}
	if n.epoll {
		g.epolls = append(g.epolls, len(g.names))
	}
	g.names = append(g.names, n)
	g.bound = append(g.bound, n.text)
	return n.text
}

// bindPair binds two names to two new files (pipe2, socketpair): the
// numbers are taken in order, so both names share one serial number.
func (g *gen) bindPair(p1, p2 string, k1, k2 kind) string {
	g.serial++
	s := g.serial
	var texts [2]string
	for i, pk := range [2]struct {
		p string
		k kind
	}{{p1, k1}, {p2, k2}} {
		num := g.lowestFree()
		g.fds[num] = &file{kind: pk.k}
		n := &name{text: fmt.Sprintf("%s%d", pk.p, s), num: num}
		g.names = append(g.names, n)
		g.bound = append(g.bound, n.text)
		texts[i] = n.text
	}
	return texts[0] + ", " + texts[1]
}

// The operations. Each opcode byte selects one entry (modulo the table's
// length); repeated entries make the common operations more frequent.
type opcode uint8

const (
	opEpollCreate1 opcode = iota
	opEpollCreate
	opPipe2
	opEventfd2
	opSocketpair
	opSocket
	opTimerfdCreate
	opOpenRegular
	opDup
	opDup2
	opDup3
	opClose
	opCtl
	opWait
	opPwait
	opPwait2
	opPoll
	opFdinfo
	opWrite
	opRead
	opEventfdWrite
	opEventfdRead
	opShutdown
	opTimer
	opSetfl
	opGetfl
	opGetfd
	opCount // number of operations
)

// opTable maps an opcode byte (modulo its length) to an operation.
var opTable = func() []opcode {
	weights := map[opcode]int{
		opEpollCreate1: 4, opEpollCreate: 1, opPipe2: 3, opEventfd2: 3, opSocketpair: 3,
		opSocket: 1, opTimerfdCreate: 1, opOpenRegular: 1, opDup: 2, opDup2: 2, opDup3: 1,
		opClose: 4, opCtl: 12, opWait: 6, opPwait: 2, opPwait2: 2, opPoll: 3, opFdinfo: 2,
		opWrite: 5, opRead: 5, opEventfdWrite: 3, opEventfdRead: 2, opShutdown: 2,
		opTimer: 2, opSetfl: 1, opGetfl: 1, opGetfd: 1,
	}
	var t []opcode
	for op := opcode(0); op < opCount; op++ {
		for range weights[op] {
			t = append(t, op)
		}
	}
	return t
}()

// opByte returns the first opcode byte that selects op (for Encode).
func opByte(op opcode) byte {
	for i, o := range opTable {
		if o == op {
			return byte(i)
		}
	}
	panic("fuzzgen: opcode without an entry")
}
