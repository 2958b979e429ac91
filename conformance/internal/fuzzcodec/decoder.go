package fuzzcodec

import (
	"encoding/binary"
	"fmt"
)

// Raw fd numbers the generator passes where an fd is expected. None can be
// one of the fuzzing process's own fds: -1 is never valid, 999 is never
// open unless a script dup2'ed onto it (the harness checks it is free), and
// 0x7fffffff is above every RLIMIT_NOFILE Linux allows. 999 is below the
// model's default limit (1024), so dup2 onto it succeeds on both sides.
var RawFDs = [nRaw]int64{-1, 999, 0x7fffffff}

const (
	nRaw = 3
	// RawFDBase is the first fd-reference byte that means a raw number.
	RawFDBase = 256 - nRaw
)

// Kind is the type of an open file description, as the simulation tracks it.
type Kind uint8

// The kinds of files.
const (
	Epoll       Kind = iota
	PipeRead         // the read end of a pipe
	PipeWrite        // the write end of a pipe
	Eventfd          // an eventfd
	Socket           // one end of a socketpair
	Unconnected      // an unconnected socket
	Timerfd          // a timerfd
	Regular          // a regular file (memfd)
	// Format version 3's kinds.
	Listener // a listening AF_UNIX socket
	Pidfd    // a pidfd
	Signalfd // a signalfd
	Fifo     // an end of a FIFO
)

// file is one open file description of the simulated fd table.
type file struct {
	kind Kind
	// Listener: its socket type, backlog, connections waiting to be
	// accepted, and whether a shutdown of its read side refuses new ones.
	sockType, backlog, queue int
	refused                  bool
	// Fifo: the FIFO's name and whether the end reads.
	fifo    string
	readEnd bool
}

// name is one name the script has bound, in binding order.
type name struct {
	text  string
	num   int32 // the fd number the name resolves to
	epoll bool  // bound to an epoll instance when it was bound
	// proc is the process whose step bound the name; serial its order
	// among all bindings (see Decoder.usable).
	proc   *Proc
	serial int
}

// Ref is a decoded fd argument: its text in the script and its number.
type Ref struct {
	Text string
	Num  int64
}

// Decoder decodes bytes into calls while simulating the fd table, so that
// it knows, for every name, which file (if any) its number holds.
type Decoder struct {
	in  []byte
	pos int

	names  []*name
	epolls []int           // indexes in names of epoll names
	fds    map[int32]*file // the table of the process decoding (cur)
	serial int             // suffix of the next fresh name

	// Version 3 (process.go): which version 3 operations to make, the
	// script's process and its forks, the one whose step is decoded,
	// and the listeners connect may name.
	serves    func(op string) bool
	main, cur *Proc
	procs     []*Proc
	listeners []listenerName
	allNames  []int // 0, 1, ... len(names)-1: usable() before any fork

	calls []string
	ops   int // operations decoded
	// bound is filled by each operation with the names it bound (for
	// the Encoder).
	bound []string
}

// NewDecoder returns a decoder of in.
func NewDecoder(in []byte) *Decoder {
	main := &Proc{fds: map[int32]*file{}}
	return &Decoder{in: in, fds: main.fds, main: main, cur: main}
}

// More reports whether input bytes are left.
func (d *Decoder) More() bool { return d.pos < len(d.in) }

// Ops returns the number of operations decoded so far.
func (d *Decoder) Ops() int { return d.ops }

// Calls returns the calls emitted so far, in script syntax.
func (d *Decoder) Calls() []string { return d.calls }

// BeginOp starts decoding one operation.
func (d *Decoder) BeginOp() {
	d.ops++
	d.bound = d.bound[:0]
}

// Byte returns the next input byte, 0 once the input is exhausted.
func (d *Decoder) Byte() byte {
	if d.pos >= len(d.in) {
		return 0
	}
	b := d.in[d.pos]
	d.pos++
	return b
}

func (d *Decoder) u32() uint32 {
	var b [4]byte
	for i := range b {
		b[i] = d.Byte()
	}
	return binary.LittleEndian.Uint32(b[:])
}

func (d *Decoder) u64() uint64 {
	var b [8]byte
	for i := range b {
		b[i] = d.Byte()
	}
	return binary.LittleEndian.Uint64(b[:])
}

// Sel reads a selector byte and returns an index below n.
func (d *Decoder) Sel(n int) int { return int(d.Byte()) % n }

// Mask decodes a mask: a selector below 0x80 picks from tab, any other is
// followed by the raw value (width bytes: 2 or 4).
func (d *Decoder) Mask(tab []uint32, width int) uint32 {
	s := d.Byte()
	if s < 0x80 {
		return tab[int(s)%len(tab)]
	}
	if width == 2 {
		return uint32(d.Byte()) | uint32(d.Byte())<<8
	}
	return d.u32()
}

// Data decodes epoll_data: a byte below 0x80 is that small number, any
// other is followed by 8 raw bytes.
func (d *Decoder) Data() uint64 {
	s := d.Byte()
	if s < 0x80 {
		return uint64(s)
	}
	return d.u64()
}

// Emit appends a call.
func (d *Decoder) Emit(format string, args ...any) {
	d.calls = append(d.calls, fmt.Sprintf(format, args...))
}

// FD decodes an fd argument: a bound name, or a raw number.
func (d *Decoder) FD() Ref {
	b := int(d.Byte())
	names := d.usable()
	if b >= RawFDBase || len(names) == 0 {
		return d.raw(b)
	}
	n := d.names[names[b%len(names)]]
	return Ref{n.text, int64(n.num)}
}

// Epoll decodes an epoll-fd argument: with the top bit clear, one of the
// names bound to epoll instances (if any); with it set, any name; or a
// raw number.
func (d *Decoder) Epoll() Ref {
	b := int(d.Byte())
	names, epolls := d.usable(), d.usableEpolls()
	switch {
	case b >= RawFDBase || len(names) == 0:
		return d.raw(b)
	case b&0x80 == 0 && len(epolls) > 0:
		n := d.names[epolls[b%len(epolls)]]
		return Ref{n.text, int64(n.num)}
	}
	n := d.names[names[(b&0x7f)%len(names)]]
	return Ref{n.text, int64(n.num)}
}

// raw returns the raw number a reference byte selects: bytes from
// RawFDBase on select RawFDs in order; others (when no name is bound yet)
// wrap around.
func (d *Decoder) raw(b int) Ref {
	i := b % len(RawFDs)
	if b >= RawFDBase {
		i = b - RawFDBase
	}
	v := RawFDs[i]
	if d.cur != d.main && v == 999 {
		// A forked child's table holds its runner's own fds up there.
		v = RawFDs[2]
	}
	return Ref{fmt.Sprint(v), v}
}
