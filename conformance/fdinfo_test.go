package conformance

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseFdinfo(t *testing.T) {
	// The kernel's format (fs/eventpoll.c), entries in tree order, with a
	// stale entry sharing a number with a live one.
	text := "pos:\t0\nflags:\t02000002\nmnt_id:\t16\nino:\t1057\n" +
		"tfd:        9 events:       19 data:               6f  pos:0 ino:70b8 sdev:f\n" +
		"tfd:        5 events: 80000019 data: ffffffffffffffff  pos:0 ino:70b8 sdev:f\n" +
		"tfd:        9 events:       1c data:                2  pos:0 ino:70b9 sdev:f\n" +
		"tfd:       12 events: 40000000 data:                0  pos:0 ino:3 sdev:10\n"
	got, err := ParseFdinfo(text)
	if err != nil {
		t.Fatal(err)
	}
	want := []RawFdinfoEntry{
		{TFD: 5, Mask: 0x80000019, Data: 1<<64 - 1},
		{TFD: 9, Mask: 0x19, Data: 0x6f},
		{TFD: 9, Mask: 0x1c, Data: 2},
		{TFD: 12, Mask: 0x40000000, Data: 0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	// A file that is not an epoll: no entries.
	if got, err := ParseFdinfo("pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1\n"); err != nil || len(got) != 0 {
		t.Errorf("non-epoll fdinfo = %v, %v", got, err)
	}
	for _, bad := range []string{"tfd: x events: 1 data: 1", "tfd: 1 events: 1", "tfd: 1 events: zz data: 1", "tfd: 1 flags: 1 data: 1"} {
		if _, err := ParseFdinfo(bad); err == nil {
			t.Errorf("ParseFdinfo(%q) succeeded", bad)
		}
	}
}

// TestFdinfoNamingRule walks through the rule: the name bound to the
// number and still open, else the name most recently bound to it, else the
// number.
func TestFdinfoNamingRule(t *testing.T) {
	n := newFdNames()
	check := func(step string, fd int32, want string) {
		t.Helper()
		if got := n.tfdName(fd); got != want {
			t.Errorf("after %s: fd %d named %q, want %q", step, fd, got, want)
		}
	}
	check("nothing", 5, "5")
	n.bind("r", 5)
	check("r = 5", 5, "r")
	n.handOut(5) // close r
	check("close r", 5, "r")
	n.bind("s", 5) // a new name gets the number
	check("s = 5", 5, "s")
	n.handOut(5) // close s
	n.handOut(5) // an unnamed creation gets 5
	check("unnamed reuse", 5, "s")
	n.bind("r", 5) // r bound again
	check("r again", 5, "r")
	if n.names["s"].open || !n.names["r"].open {
		t.Errorf("open states: s %v, r %v", n.names["s"].open, n.names["r"].open)
	}
	// Rebinding r to another number leaves 5 to its most recent name.
	n.bind("r", 7)
	check("r = 7", 5, "r")
	check("r = 7", 7, "r")
	n.bind("q", 5)
	check("q = 5", 5, "q")
	got := n.nameEntries([]RawFdinfoEntry{{TFD: 5, Mask: 1, Data: 2}, {TFD: 7, Mask: 4}, {TFD: 8}})
	want := []FdinfoEntry{{"q", 1, 2}, {"r", 4, 0}, {"8", 0, 0}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}
