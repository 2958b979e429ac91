package fuzzcodec

import (
	"encoding/binary"
	"fmt"
)

// Encoder writes generator input operation by operation. It drives a
// Decoder as it goes, so it always agrees with the decoder on which names
// exist.
type Encoder struct {
	d     *Decoder
	names map[string]int // script name -> index in d.names
	buf   []byte         // the operation being encoded
	// expired is the fd text of the timer the current operation set to
	// an expired time, prevExpired the previous operation's: the decoder
	// follows such a timerfd_settime with a poll, which a decoded script
	// therefore already holds.
	expired, prevExpired string
	// procs maps the script's process names to the decoder's forks;
	// forking is the name the operation being encoded forks.
	procs   map[string]*Proc
	forking string
}

// NewEncoder returns an encoder of an empty input.
func NewEncoder() *Encoder {
	return &Encoder{d: NewDecoder(nil), names: map[string]int{}, procs: map[string]*Proc{}}
}

// SetServes sets which version 3 operations the decoder it drives makes
// (Decoder.SetServes).
func (e *Encoder) SetServes(serves func(op string) bool) { e.d.SetServes(serves) }

// Decoder returns the decoder the encoder drives, in the state after the
// operations encoded so far (to find what a decoder's selector picks).
func (e *Encoder) Decoder() *Decoder { return e.d }

// Forking records that the operation being encoded forks the script's
// process scriptName; Finish maps the name to the fork it decodes to.
func (e *Encoder) Forking(scriptName string) { e.forking = scriptName }

// Proc returns the fork the script's process name was mapped to, nil if
// none.
func (e *Encoder) Proc(scriptName string) *Proc { return e.procs[scriptName] }

// Bytes returns the input encoded so far.
func (e *Encoder) Bytes() []byte { return e.d.in }

// Ops returns the number of operations encoded so far.
func (e *Encoder) Ops() int { return e.d.ops }

// Begin starts encoding one call.
func (e *Encoder) Begin() {
	e.buf = e.buf[:0]
	e.prevExpired, e.expired = e.expired, ""
}

// SetExpired records that this operation set timer fdText to an expired
// time (the decoder follows it with a poll of the timer).
func (e *Encoder) SetExpired(fdText string) { e.expired = fdText }

// PrevExpired returns the fd text of the timer the previous operation set
// to an expired time, "" if none.
func (e *Encoder) PrevExpired() string { return e.prevExpired }

// Finish appends the operation encoded since Begin to the input, decodes
// it with decode and maps scriptNames (the names the encoded call binds)
// to the names the decoder bound. It fails when the decoder did not read
// exactly the bytes encoded.
func (e *Encoder) Finish(scriptNames []string, decode func(*Decoder)) error {
	d := e.d
	start, forks := len(d.in), len(d.procs)
	d.in = append(d.in, e.buf...)
	decode(d)
	if e.forking != "" && len(d.procs) > forks {
		e.procs[e.forking] = d.procs[len(d.procs)-1]
	}
	e.forking = ""
	if d.pos != len(d.in) {
		return fmt.Errorf("%d bytes encoded, %d decoded", len(e.buf), d.pos-start)
	}
	for i, n := range scriptNames {
		if i < len(d.bound) {
			for k, dn := range d.names {
				if dn.text == d.bound[i] {
					e.names[n] = k
				}
			}
		}
	}
	return nil
}

// Put appends bytes to the operation.
func (e *Encoder) Put(b ...byte) { e.buf = append(e.buf, b...) }

// Replace replaces the operation's last byte.
func (e *Encoder) Replace(b byte) { e.buf[len(e.buf)-1] = b }

func (e *Encoder) putU32(v uint32) { e.buf = binary.LittleEndian.AppendUint32(e.buf, v) }

func (e *Encoder) putU64(v uint64) { e.buf = binary.LittleEndian.AppendUint64(e.buf, v) }

// rawByte returns the reference byte of the raw number standing for v.
func rawByte(v int64) byte {
	switch {
	case v < 0:
		return RawFDBase
	case v < 1024:
		return RawFDBase + 1
	}
	return RawFDBase + 2
}

// FD encodes an fd argument: the script name (or "" for a number) and the
// number (as a sign-extended 32-bit value).
func (e *Encoder) FD(scriptName string, num int64) {
	if i, ok := e.position(scriptName, e.d.usable()); ok && i < RawFDBase {
		e.Put(byte(i))
		return
	}
	e.Put(rawByte(num))
}

// position returns the position of the name scriptName in the list of
// indexes of d.names a decoder picks from (nil: all names).
func (e *Encoder) position(scriptName string, list []int) (int, bool) {
	i, ok := e.names[scriptName]
	if scriptName == "" || !ok {
		return 0, false
	}
	for p, k := range list {
		if k == i {
			return p, true
		}
	}
	return 0, false
}

// Epoll encodes an epoll-fd argument, as FD.
func (e *Encoder) Epoll(scriptName string, num int64) {
	if p, ok := e.position(scriptName, e.d.usableEpolls()); ok && p < 0x80 && len(e.d.usableEpolls()) > 0 {
		e.Put(byte(p))
		return
	}
	if i, ok := e.position(scriptName, e.d.usable()); ok && i < RawFDBase-0x80 {
		e.Put(0x80 | byte(i))
		return
	}
	e.FD(scriptName, num)
}

// Index returns the selector of v in tab, dflt if it is not there.
func Index[T comparable](tab []T, v T, dflt int) byte {
	for i, x := range tab {
		if x == v {
			return byte(i)
		}
	}
	return byte(dflt)
}

// Mask encodes a mask (see Decoder.Mask).
func (e *Encoder) Mask(tab []uint32, v uint32, width int) {
	for i, m := range tab {
		if m == v {
			e.Put(byte(i))
			return
		}
	}
	e.Put(0x80)
	if width == 2 {
		e.Put(byte(v), byte(v>>8))
	} else {
		e.putU32(v)
	}
}

// Data encodes epoll_data (see Decoder.Data).
func (e *Encoder) Data(v uint64) {
	if v < 0x80 {
		e.Put(byte(v))
		return
	}
	e.Put(0x80)
	e.putU64(v)
}
