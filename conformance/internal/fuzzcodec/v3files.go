package fuzzcodec

// listenerName is a name a listen_socket bound, with its file: connect
// names a listener by the name, which stays valid after a close.
type listenerName struct {
	text string
	f    *file
}

// BindListener binds a fresh name to a new listening socket of the given
// type and backlog (listen_socket that cannot fail).
func (d *Decoder) BindListener(sockType, backlog int) string {
	f := &file{kind: Listener, sockType: sockType, backlog: backlog}
	text := d.bind("l", f)
	d.listeners = append(d.listeners, listenerName{text, f})
	return text
}

// Listeners returns the names listen_socket bound.
func (d *Decoder) Listeners() []string {
	var out []string
	for _, l := range d.listeners {
		out = append(out, l.text)
	}
	return out
}

// ConnectSucceeds reports whether a non-blocking connect of a socket of
// type sockType to the listener named l succeeds: the listener is open
// in some process, listens for that type, has not shut its read side
// and has room in its accept queue (AF_UNIX refuses once more than
// backlog connections wait, unix_recvq_full). It then queues one.
func (d *Decoder) ConnectSucceeds(l string, sockType int) bool {
	for _, ln := range d.listeners {
		if ln.text != l {
			continue
		}
		f := ln.f
		if !d.open(f) || f.refused || f.sockType != sockType || f.queue > f.backlog {
			return false
		}
		f.queue++
		return true
	}
	return false
}

// Accept reports whether accept4 on r takes a connection: r holds a
// listener with one waiting. It then dequeues it.
func (d *Decoder) Accept(r Ref) bool {
	f := d.fileOf(r.Num)
	if f == nil || f.kind != Listener || f.queue == 0 {
		return false
	}
	f.queue--
	return true
}

// Shutdown simulates shutdown(r, how) for the listeners: shutting the
// read side (how SHUT_RD or SHUT_RDWR) makes them refuse connections.
func (d *Decoder) Shutdown(r Ref, how string) {
	if f := d.fileOf(r.Num); f != nil && f.kind == Listener && (how == "RD" || how == "RDWR") {
		f.refused = true
	}
}

// BindFifo binds a fresh name to a new end of FIFO fifo.
func (d *Decoder) BindFifo(fifo string, readEnd bool) string {
	return d.bind("f", &file{kind: Fifo, fifo: fifo, readEnd: readEnd})
}

// FifoHasReader reports whether some process holds a reading end of
// FIFO fifo (a non-blocking open for writing fails with ENXIO without).
func (d *Decoder) FifoHasReader(fifo string) bool {
	found := false
	d.holders(func(f *file) { found = found || f.kind == Fifo && f.fifo == fifo && f.readEnd })
	return found
}

// namesOf returns the indexes in list whose names hold a file of kind k
// in the table of the process decoding.
func (d *Decoder) namesOf(k Kind, list []int) []int {
	var out []int
	for _, i := range list {
		if f := d.fileOf(int64(d.names[i].num)); f != nil && f.kind == k {
			out = append(out, i)
		}
	}
	return out
}

// FDOf decodes an fd argument that favours files of kind k: with the top
// bit clear, one of the names holding such a file (if any); with it set,
// any name; or a raw number (as Epoll for epoll instances).
func (d *Decoder) FDOf(k Kind) Ref {
	b := int(d.Byte())
	names := d.usable()
	if b >= RawFDBase || len(names) == 0 {
		return d.raw(b)
	}
	if of := d.namesOf(k, names); b&0x80 == 0 && len(of) > 0 {
		n := d.names[of[b%len(of)]]
		return Ref{n.text, int64(n.num)}
	}
	n := d.names[names[(b&0x7f)%len(names)]]
	return Ref{n.text, int64(n.num)}
}

// FDOf encodes an fd argument for Decoder.FDOf.
func (e *Encoder) FDOf(k Kind, scriptName string, num int64) {
	names := e.d.usable()
	if p, ok := e.position(scriptName, e.d.namesOf(k, names)); ok && p < 0x80 {
		e.Put(byte(p))
		return
	}
	if i, ok := e.position(scriptName, names); ok && i < RawFDBase-0x80 {
		e.Put(0x80 | byte(i))
		return
	}
	e.Put(rawByte(num))
}

// DecodedName returns the name the decoder bound for the script's name,
// "" if none.
func (e *Encoder) DecodedName(scriptName string) string {
	if i, ok := e.names[scriptName]; ok {
		return e.d.names[i].text
	}
	return ""
}
