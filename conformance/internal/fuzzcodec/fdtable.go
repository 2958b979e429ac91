package fuzzcodec

import "fmt"

// fileOf returns the file an fd number holds in the simulation.
func (d *Decoder) fileOf(num int64) *file {
	if num < 0 || num > 1<<20 {
		return nil
	}
	return d.fds[int32(num)]
}

// KindOf returns the kind of file r holds, false if it holds none.
func (d *Decoder) KindOf(r Ref) (Kind, bool) {
	if f := d.fileOf(r.Num); f != nil {
		return f.kind, true
	}
	return 0, false
}

// lowestFree returns the lowest free number, as every creation takes it.
func (d *Decoder) lowestFree() int32 {
	for n := int32(0); ; n++ {
		if d.fds[n] == nil {
			return n
		}
	}
}

// Bind allocates a number for a new file of kind k and binds a fresh name
// with the given prefix to it.
func (d *Decoder) Bind(prefix string, k Kind) string { return d.bind(prefix, &file{kind: k}) }

// BindShared binds a fresh name to a new number for the file r holds (a
// dup); false, binding nothing, when r holds none.
func (d *Decoder) BindShared(prefix string, r Ref) (string, bool) {
	f := d.fileOf(r.Num)
	if f == nil {
		return "", false
	}
	return d.bind(prefix, f), true
}

func (d *Decoder) bind(prefix string, f *file) string {
	num := d.lowestFree()
	d.fds[num] = f
	d.serial++
	n := &name{text: fmt.Sprintf("%s%d", prefix, d.serial), num: num, epoll: f.kind == Epoll, proc: d.cur, serial: d.serial}
	d.cur.own(num, n)
	if n.epoll {
		d.epolls = append(d.epolls, len(d.names))
	}
	d.names = append(d.names, n)
	d.bound = append(d.bound, n.text)
	return n.text
}

// BindPair binds two names to two new files (pipe2, socketpair): the
// numbers are taken in order, so both names share one serial number. It
// returns "NAME1, NAME2".
func (d *Decoder) BindPair(p1, p2 string, k1, k2 Kind) string {
	d.serial++
	s := d.serial
	var texts [2]string
	for i, pk := range [2]struct {
		p string
		k Kind
	}{{p1, k1}, {p2, k2}} {
		num := d.lowestFree()
		d.fds[num] = &file{kind: pk.k}
		n := &name{text: fmt.Sprintf("%s%d", pk.p, s), num: num, proc: d.cur, serial: s}
		d.cur.own(num, n)
		d.names = append(d.names, n)
		d.bound = append(d.bound, n.text)
		texts[i] = n.text
	}
	return texts[0] + ", " + texts[1]
}

// DupOnto simulates a dup2/dup3 that passed its flag checks: it succeeds
// when old is open and new is a valid number below the model's limit.
func (d *Decoder) DupOnto(old, nw Ref) {
	f := d.fileOf(old.Num)
	if f == nil || nw.Num < 0 || nw.Num >= 1024 || old.Num == nw.Num {
		return
	}
	d.fds[int32(nw.Num)] = f
	d.cur.own(int32(nw.Num), d.byText(nw.Text))
}

// Close simulates a close of r.
func (d *Decoder) Close(r Ref) {
	if d.fileOf(r.Num) != nil {
		delete(d.fds, int32(r.Num))
		d.cur.own(int32(r.Num), nil)
	}
}
