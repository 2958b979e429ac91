package fuzzcodec

import "testing"

// TestPrimitivesRoundTrip encodes masks, data and fd references and
// decodes them back: each decodes to what was encoded, reading exactly
// the bytes written.
func TestPrimitivesRoundTrip(t *testing.T) {
	tab := []uint32{1, 4, 5}
	e := NewEncoder()
	e.Begin()
	e.Mask(tab, 4, 4)          // a table entry
	e.Mask(tab, 0x12345678, 4) // raw, 4 bytes
	e.Mask(tab, 0xabcd, 2)     // raw, 2 bytes
	e.Data(7)
	e.Data(1 << 40)
	e.FD("", -1)
	e.FD("", 999)
	e.FD("", 1<<20)
	err := e.Finish(nil, func(d *Decoder) {
		d.BeginOp()
		if got := d.Mask(tab, 4); got != 4 {
			t.Errorf("mask from the table: got %#x", got)
		}
		if got := d.Mask(tab, 4); got != 0x12345678 {
			t.Errorf("raw 4-byte mask: got %#x", got)
		}
		if got := d.Mask(tab, 2); got != 0xabcd {
			t.Errorf("raw 2-byte mask: got %#x", got)
		}
		if got := d.Data(); got != 7 {
			t.Errorf("small data: got %d", got)
		}
		if got := d.Data(); got != 1<<40 {
			t.Errorf("raw data: got %d", got)
		}
		for _, want := range []string{"-1", "999", "2147483647"} {
			if got := d.FD(); got.Text != want {
				t.Errorf("raw fd: got %q, want %q", got.Text, want)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNamesAndSimulation binds names through the encoder's decoder and
// checks that the encoder refers to them, and that the simulated fd table
// follows creations, dups and closes.
func TestNamesAndSimulation(t *testing.T) {
	e := NewEncoder()
	var ep, pipe Ref
	step := func(names []string, encode func(), decode func(d *Decoder)) {
		t.Helper()
		e.Begin()
		encode()
		if err := e.Finish(names, func(d *Decoder) { d.BeginOp(); decode(d) }); err != nil {
			t.Fatal(err)
		}
	}
	step([]string{"myep"}, func() {}, func(d *Decoder) {
		d.Emit("%s = epoll_create1 0", d.Bind("ep", Epoll))
	})
	step([]string{"r", "w"}, func() {}, func(d *Decoder) {
		d.Emit("%s = pipe2 NONBLOCK", d.BindPair("r", "w", PipeRead, PipeWrite))
	})
	step(nil, func() { e.Epoll("myep", 0); e.FD("w", 0) }, func(d *Decoder) {
		ep, pipe = d.Epoll(), d.FD()
		if k, ok := d.KindOf(pipe); !ok || k != PipeWrite {
			t.Errorf("w holds kind %d (%v), want the pipe's write end", k, ok)
		}
		d.Close(pipe)
		if _, ok := d.KindOf(pipe); ok {
			t.Errorf("w still open after its close")
		}
		if name, ok := d.BindShared("d", ep); !ok || name != "d3" {
			t.Errorf("dup of the epoll instance bound %q (%v), want d3", name, ok)
		}
	})
	if ep.Text != "ep1" || pipe.Text != "w2" {
		t.Errorf("the encoder's references decode to %q and %q, want ep1 and w2", ep.Text, pipe.Text)
	}
	if ep.Num != 0 || pipe.Num != 2 {
		t.Errorf("numbers %d and %d, want 0 and 2 (lowest free first)", ep.Num, pipe.Num)
	}
}
