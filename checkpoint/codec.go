package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"

	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/syscalls"
)

// magic opens every checkpoint; Version follows it.
const magic = "GPOLLCKP"

// Version is the format version this package writes and reads.
const Version = 2

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

	// Kernel.
	k := &im.Kernel
	e.i(k.Epoll.MaxUserWatches)
	e.bool(k.Epoll.KeepWakeup)
	e.u(k.NextIno)
	e.n(len(k.Inos))
	for _, in := range k.Inos {
		e.i(int64(in.File))
		e.u(in.Ino)
	}

	// Files.
	f := &im.Files
	e.n(len(f.Files))
	for i := range f.Files {
		fs := &f.Files[i]
		e.u(uint64(fs.Kind))
		e.u(uint64(fs.Flags))
		e.i(int64(fs.Object))
		switch fs.Kind {
		case kindEventfd:
			e.u(fs.Eventfd.Count)
			e.bool(fs.Eventfd.Semaphore)
		case kindTimerfd:
			t := &fs.Timer
			e.i(int64(t.ClockID))
			e.u(t.Ticks)
			e.bool(t.Expired)
			e.bool(t.Armed)
			e.bool(t.HasExpiry)
			e.i(t.Expiry)
			e.i(t.Interval)
		case kindRegular:
			r := &fs.Regular
			e.i(r.Size)
			e.i(r.Pos)
			e.n(len(r.Pages))
			for _, p := range r.Pages {
				e.i(p.Index)
				e.fixed(p.Data)
			}
		}
	}
	e.n(len(f.Pipes))
	for _, p := range f.Pipes {
		e.i(int64(p.Readers))
		e.i(int64(p.Writers))
		e.bool(p.Polled)
		e.n(len(p.Slots))
		for _, s := range p.Slots {
			e.i(int64(s.Off))
			e.bool(s.Packet)
			e.by(s.Data)
		}
	}
	e.n(len(f.Sockets))
	for _, s := range f.Sockets {
		e.i(int64(s.Type))
		e.bool(s.Connected)
		e.u(uint64(s.Shutdown))
		e.u(uint64(s.Err))
		e.i(int64(s.Peer))
		e.bool(s.Dead)
		e.i(s.Wmem)
		e.i(s.Sndbuf)
		e.n(len(s.Recv))
		for _, b := range s.Recv {
			e.i(b.Consumed)
			e.i(b.Truesize)
			e.i(int64(b.Sender))
			e.by(b.Data)
		}
	}

	// Foreign files: epoll instances and host placeholders.
	e.n(len(im.Epolls))
	for _, ep := range im.Epolls {
		e.i(int64(ep.File))
		e.n(len(ep.State.Items))
		for _, it := range ep.State.Items {
			e.i(int64(it.Target))
			e.i(int64(it.Fd))
			e.u(uint64(it.Events))
			e.u(it.Data)
			e.i(int64(it.WatchRank))
		}
		e.n(len(ep.State.Ready))
		for _, r := range ep.State.Ready {
			e.i(int64(r))
		}
	}
	e.n(len(im.Hosts))
	for _, h := range im.Hosts {
		e.i(int64(h.File))
		e.s(h.Name)
	}
	e.n(len(im.Foreign))
	for _, f := range im.Foreign {
		e.i(int64(f.File))
		e.s(f.Type)
		e.bool(f.Pollable)
		e.n(len(f.Refs))
		for _, r := range f.Refs {
			e.i(int64(r))
		}
		e.by(f.Data)
	}

	// Fd tables, memories, tasks, roots.
	e.n(len(im.Tables))
	for _, t := range im.Tables {
		e.u(t.Soft)
		e.u(t.Hard)
		e.bool(t.Private)
		e.n(len(t.Slots))
		for _, s := range t.Slots {
			e.i(int64(s.Fd))
			e.i(int64(s.File))
			e.bool(s.Cloexec)
		}
	}
	e.n(len(im.Memories))
	for _, mi := range im.Memories {
		e.s(mi.Type)
		if mi.Type != "" {
			e.by(mi.Data)
			continue
		}
		m := &mi.Guest
		e.n(len(m.Maps))
		for _, r := range m.Maps {
			e.u(r.Start)
			e.u(r.End)
		}
		e.n(len(m.Pages))
		for _, p := range m.Pages {
			e.u(p.Addr)
			e.fixed(p.Data)
		}
	}
	e.n(len(im.Tasks))
	for _, t := range im.Tasks {
		e.i(int64(t.Table))
		e.i(int64(t.Memory))
		e.u(uint64(t.Arch))
		e.u(t.Mask)
		e.u(t.Pending)
		for _, d := range t.Delivered {
			e.u(uint64(d))
		}
		for _, r := range t.Rlimits {
			e.u(r[0])
			e.u(r[1])
		}
	}
	e.n(len(im.Roots))
	for _, r := range im.Roots {
		e.i(int64(r))
	}
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

const (
	kindEventfd = fs.KindEventfd
	kindTimerfd = fs.KindTimerfd
	kindRegular = fs.KindRegular
)

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

	k := &im.Kernel
	k.Epoll.MaxUserWatches = d.i()
	k.Epoll.KeepWakeup = d.bool()
	k.NextIno = d.u()
	k.Inos = make([]syscalls.InoState, d.count(2))
	for i := range k.Inos {
		k.Inos[i] = syscalls.InoState{File: d.i32(), Ino: d.u()}
	}

	f := &im.Files
	f.Files = make([]fs.FileState, d.count(3))
	for i := range f.Files {
		x := &f.Files[i]
		kind := d.u()
		if kind > 255 {
			d.fail("file kind %d", kind)
		}
		x.Kind = fs.FileKind(kind)
		x.Flags = d.u32()
		x.Object = d.i32()
		switch x.Kind {
		case kindEventfd:
			x.Eventfd.Count = d.u()
			x.Eventfd.Semaphore = d.bool()
		case kindTimerfd:
			t := &x.Timer
			t.ClockID = d.i32()
			t.Ticks = d.u()
			t.Expired = d.bool()
			t.Armed = d.bool()
			t.HasExpiry = d.bool()
			t.Expiry = d.i()
			t.Interval = d.i()
		case kindRegular:
			r := &x.Regular
			r.Size = d.i()
			r.Pos = d.i()
			r.Pages = make([]fs.RegularPage, d.count(fs.RegularPageSize+1))
			for j := range r.Pages {
				r.Pages[j].Index = d.i()
				r.Pages[j].Data = d.fixed(fs.RegularPageSize)
			}
		}
		if d.err != nil {
			return nil, d.err
		}
	}
	f.Pipes = make([]fs.PipeState, d.count(4))
	for i := range f.Pipes {
		p := &f.Pipes[i]
		p.Readers = d.i32()
		p.Writers = d.i32()
		p.Polled = d.bool()
		p.Slots = make([]fs.PipeSlotState, d.count(3))
		for j := range p.Slots {
			p.Slots[j].Off = d.i32()
			p.Slots[j].Packet = d.bool()
			p.Slots[j].Data = d.by()
		}
	}
	f.Sockets = make([]fs.SocketState, d.count(9))
	for i := range f.Sockets {
		s := &f.Sockets[i]
		s.Type = d.i32()
		s.Connected = d.bool()
		sh := d.u()
		if sh > 255 {
			d.fail("shutdown %d", sh)
		}
		s.Shutdown = uint8(sh)
		s.Err = d.u32()
		s.Peer = d.i32()
		s.Dead = d.bool()
		s.Wmem = d.i()
		s.Sndbuf = d.i()
		s.Recv = make([]fs.SkbState, d.count(4))
		for j := range s.Recv {
			r := &s.Recv[j]
			r.Consumed = d.i()
			r.Truesize = d.i()
			r.Sender = d.i32()
			r.Data = d.by()
		}
	}

	im.Epolls = make([]EpollImage, d.count(3))
	for i := range im.Epolls {
		ep := &im.Epolls[i]
		ep.File = d.i32()
		ep.State.Items = make([]epoll.ItemState, d.count(5))
		for j := range ep.State.Items {
			it := &ep.State.Items[j]
			it.Target = d.i32()
			it.Fd = d.i32()
			it.Events = d.u32()
			it.Data = d.u()
			it.WatchRank = d.i32()
		}
		ep.State.Ready = make([]int32, d.count(1))
		for j := range ep.State.Ready {
			ep.State.Ready[j] = d.i32()
		}
	}
	im.Hosts = make([]HostImage, d.count(2))
	for i := range im.Hosts {
		im.Hosts[i] = HostImage{File: d.i32(), Name: d.s()}
	}
	im.Foreign = make([]ForeignImage, d.count(5))
	for i := range im.Foreign {
		f := &im.Foreign[i]
		f.File = d.i32()
		f.Type = d.s()
		f.Pollable = d.bool()
		f.Refs = make([]int32, d.count(1))
		for j := range f.Refs {
			f.Refs[j] = d.i32()
		}
		f.Data = d.by()
	}

	im.Tables = make([]fd.TableState, d.count(4))
	for i := range im.Tables {
		t := &im.Tables[i]
		t.Soft = d.u()
		t.Hard = d.u()
		t.Private = d.bool()
		t.Slots = make([]fd.SlotState, d.count(3))
		for j := range t.Slots {
			t.Slots[j] = fd.SlotState{Fd: d.i32(), File: d.i32(), Cloexec: d.bool()}
		}
	}
	im.Memories = make([]MemoryImage, d.count(1))
	for i := range im.Memories {
		im.Memories[i].Type = d.s()
		if im.Memories[i].Type != "" {
			im.Memories[i].Data = d.by()
			continue
		}
		m := &im.Memories[i].Guest
		m.Maps = make([]syscalls.MemoryRange, d.count(2))
		for j := range m.Maps {
			m.Maps[j] = syscalls.MemoryRange{Start: d.u(), End: d.u()}
		}
		m.Pages = make([]syscalls.MemoryPage, d.count(syscalls.PageSize+1))
		for j := range m.Pages {
			m.Pages[j].Addr = d.u()
			m.Pages[j].Data = d.fixed(syscalls.PageSize)
		}
	}
	im.Tasks = make([]syscalls.TaskState, d.count(5+64+2*syscalls.RlimitCount))
	for i := range im.Tasks {
		t := &im.Tasks[i]
		t.Table = d.i32()
		t.Memory = d.i32()
		arch := d.u()
		if arch > 1 {
			d.fail("arch %d", arch)
		}
		t.Arch = syscalls.Arch(arch)
		t.Mask = d.u()
		t.Pending = d.u()
		for j := range t.Delivered {
			t.Delivered[j] = d.u32()
		}
		for j := range t.Rlimits {
			t.Rlimits[j] = [2]uint64{d.u(), d.u()}
		}
	}
	im.Roots = make([]int32, d.count(1))
	for i := range im.Roots {
		im.Roots[i] = d.i32()
	}
	if d.err != nil {
		return nil, d.err
	}
	if d.off != len(b) {
		return nil, fmt.Errorf("%w: %d bytes after the end", ErrFormat, len(b)-d.off)
	}
	return im, nil
}
