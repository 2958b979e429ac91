package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"

	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/syscalls"
)

// magic opens every checkpoint; Version follows it.
const magic = "GPOLLCKP"

// The body's encoding (format_gen.go: encImage, decImage and a pair of
// functions per record) is generated from the format's description in
// package checkpoint/internal/format, as is the format section of doc.go.
//go:generate go run ./internal/format/formatgen

// ErrFormat is wrapped by every error about malformed input.
var ErrFormat = errors.New("checkpoint: bad input")

type encoder struct{ b []byte }

func (e *encoder) u(v uint64)  { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) i(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) n(n int)     { e.u(uint64(n)) }
func (e *encoder) by(b []byte) { e.n(len(b)); e.b = append(e.b, b...) }
func (e *encoder) s(s string)  { e.n(len(s)); e.b = append(e.b, s...) }
func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// fixed writes a field of exactly len(b) bytes (pages) without a length.
func (e *encoder) fixed(b []byte) { e.b = append(e.b, b...) }

type decoder struct {
	b   []byte
	off int
	err error
	// alias makes byte strings and pages slices of b instead of copies:
	// Restore's decode, whose Image lives only while restore copies every
	// byte into the new kernel's objects.
	alias bool
}

// take returns the next n bytes (n is within the input), copied unless
// d.alias.
func (d *decoder) take(n int) []byte {
	var b []byte
	if d.alias {
		b = d.b[d.off : d.off+n : d.off+n]
	} else {
		b = make([]byte, n)
		copy(b, d.b[d.off:])
	}
	d.off += n
	return b
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: at byte %d: %s", ErrFormat, d.off, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) u() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("truncated or overlong number")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) i() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail("truncated or overlong number")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) u32() uint32 {
	v := d.u()
	if v > math.MaxUint32 {
		d.fail("value %d does not fit 32 bits", v)
	}
	return uint32(v)
}

func (d *decoder) i32() int32 {
	v := d.i()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail("value %d does not fit 32 bits", v)
	}
	return int32(v)
}

// upTo reads a uvarint no greater than max; what names the field.
func (d *decoder) upTo(max uint64, what string) uint64 {
	v := d.u()
	if v > max {
		d.fail("%s %d is above %d", what, v, max)
	}
	return v
}

func (d *decoder) bool() bool {
	if d.err != nil {
		return false
	}
	if d.off >= len(d.b) {
		d.fail("truncated")
		return false
	}
	v := d.b[d.off]
	d.off++
	if v > 1 {
		d.fail("boolean %d", v)
	}
	return v == 1
}

// count reads a list length whose elements take at least min bytes each:
// a count the remaining input cannot hold is an error, so no length field
// makes the decoder allocate more than the input justifies.
func (d *decoder) count(min int) int {
	v := d.u()
	if d.err != nil {
		return 0
	}
	if v > uint64(len(d.b)-d.off)/uint64(min) {
		d.fail("count %d exceeds the remaining input", v)
		return 0
	}
	return int(v)
}

func (d *decoder) by() []byte {
	n := d.count(1)
	if d.err != nil {
		return nil
	}
	return d.take(n)
}

func (d *decoder) s() string { return string(d.by()) }

func (d *decoder) fixed(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b)-d.off < n {
		d.fail("truncated")
		return nil
	}
	return d.take(n)
}

// Encode returns im in the checkpoint format (see the package doc).
func (im *Image) Encode() []byte { return im.AppendEncode(nil) }

// AppendEncode appends im in the checkpoint format to dst and returns the
// extended slice, reusing dst's storage when it has room (an embedder that
// checkpoints often may pass the previous checkpoint[:0] once Restore has
// returned: a restored kernel keeps none of its input's bytes).
func (im *Image) AppendEncode(dst []byte) []byte {
	start := len(dst)
	e := &encoder{b: slices.Grow(dst, im.sizeHint())}
	e.fixed([]byte(magic))
	e.u(Version)
	encImage(e, im)
	return binary.LittleEndian.AppendUint32(e.b, crc32.ChecksumIEEE(e.b[start:]))
}

// sizeHint estimates the encoded size, so Encode grows its buffer once.
func (im *Image) sizeHint() int {
	n := 1 << 12
	for i := range im.Files.Files {
		n += 8 + len(im.Files.Files[i].Regular.Pages)*(fs.RegularPageSize+4)
	}
	for _, p := range im.Files.Pipes {
		for _, s := range p.Slots {
			n += 8 + len(s.Data)
		}
	}
	for _, s := range im.Files.Sockets {
		for _, b := range s.Recv {
			n += 12 + len(b.Data)
		}
	}
	for _, ep := range im.Epolls {
		n += 16*len(ep.State.Items) + 3*len(ep.State.Ready)
	}
	for _, t := range im.Tables {
		n += 5 * len(t.Slots)
	}
	for _, m := range im.Memories {
		n += len(m.Guest.Pages)*(syscalls.PageSize+6) + len(m.Data)
	}
	for _, f := range im.Foreign {
		n += 16 + len(f.Type) + 3*len(f.Refs) + len(f.Data)
	}
	return n + 400*len(im.Tasks)
}

// Decode parses and validates a checkpoint. Truncated, corrupt or
// inconsistent input is an error wrapping ErrFormat; nothing is built.
func Decode(b []byte) (*Image, error) {
	im, _, err := decode(b, false)
	return im, err
}

// decode is Decode; with alias, the Image's byte strings and pages are
// slices of b (see decoder.alias).
func decode(b []byte, alias bool) (*Image, *epoll.ValidInstances, error) {
	if len(b) < len(magic)+4 {
		return nil, nil, fmt.Errorf("%w: %d bytes is too short", ErrFormat, len(b))
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return nil, nil, fmt.Errorf("%w: checksum mismatch (corrupt or truncated)", ErrFormat)
	}
	im, err := decodeBody(body, alias)
	if err != nil {
		return nil, nil, err
	}
	valid, err := im.validate()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return im, valid, nil
}

// decodeBody parses b (without its checksum); it does not validate.
func decodeBody(b []byte, alias bool) (*Image, error) {
	if len(b) < len(magic) || string(b[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: not a guestpoll checkpoint", ErrFormat)
	}
	d := &decoder{b: b, off: len(magic), alias: alias}
	if v := d.u(); d.err == nil && v != Version {
		return nil, fmt.Errorf("%w: version %d, this build reads %d", ErrFormat, v, Version)
	}
	im := &Image{}
	decImage(d, im)
	if d.err != nil {
		return nil, d.err
	}
	if d.off != len(b) {
		return nil, fmt.Errorf("%w: %d bytes after the end", ErrFormat, len(b)-d.off)
	}
	return im, nil
}
