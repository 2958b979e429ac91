package syscalls

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSocketpairOrder checks __sys_socketpair's order, as Linux 6.x gives
// it: flag bits, then EMFILE, then the copy-out of both numbers (EFAULT,
// the first one already stored), and only then family, type and protocol,
// with the numbers already written to the guest.
func TestSocketpairOrder(t *testing.T) {
	x := newTT(t, AMD64)
	sv := uint64(memBase + 0x800)
	fill := func() { x.putU32(sv, 0xdeadbeef, 0xdeadbeef) }
	stored := func() [2]uint32 {
		b := x.get(sv, 8)
		return [2]uint32{binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:])}
	}
	for _, c := range []struct {
		name           string
		dom, typ, prot uintptr
		want           unix.Errno
	}{
		{"family 99", 99, unix.SOCK_STREAM, 0, unix.EAFNOSUPPORT},
		{"type 15", unix.AF_UNIX, 15, 0, unix.EINVAL},
		{"protocol 5", unix.AF_UNIX, unix.SOCK_STREAM, 5, unix.EPROTONOSUPPORT},
	} {
		fill()
		if _, e := x.call(sysSocketpair, c.dom, c.typ, c.prot, uintptr(sv)); e != c.want {
			t.Errorf("%s: %s, want %s", c.name, sx(e), sx(c.want))
		}
		if got := stored(); got != [2]uint32{0, 1} {
			t.Errorf("%s: guest holds %v, want the reserved numbers [0 1]", c.name, got)
		}
	}
	// A fault beats a bad type; a bad flag bit beats the fault.
	if _, e := x.call(sysSocketpair, unix.AF_UNIX, 15, 0, hole); e != unix.EFAULT {
		t.Errorf("type 15 at a hole: %s, want EFAULT", sx(e))
	}
	if _, e := x.call(sysSocketpair, unix.AF_UNIX, unix.SOCK_STREAM|0x100000, 0, hole); e != unix.EINVAL {
		t.Errorf("flag bit at a hole: %s, want EINVAL", sx(e))
	}
	// A vector straddling the end of memory: the first number is stored.
	x.putU32(memEnd-4, 0xdeadbeef)
	if _, e := x.call(sysSocketpair, unix.AF_UNIX, unix.SOCK_STREAM, 0, memEnd-4); e != unix.EFAULT {
		t.Errorf("straddling vector: %s, want EFAULT", sx(e))
	}
	if got := binary.LittleEndian.Uint32(x.get(memEnd-4, 4)); got != 0 {
		t.Errorf("straddling vector: first slot holds %#x, want 0", got)
	}
	if n := x.t.fds.Len(); n != 0 {
		t.Fatalf("%d fds open after failed calls", n)
	}
	// At the limit EMFILE beats both a bad type and a fault, but not a bad
	// flag bit.
	x.setNofile(1)
	for _, c := range []struct {
		name string
		typ  uintptr
		vec  uint64
		want unix.Errno
	}{
		{"type 15", 15, sv, unix.EMFILE},
		{"fault", unix.SOCK_STREAM, hole, unix.EMFILE},
		{"flag bit", unix.SOCK_STREAM | 0x100000, hole, unix.EINVAL},
	} {
		if _, e := x.call(sysSocketpair, unix.AF_UNIX, c.typ, 0, uintptr(c.vec)); e != c.want {
			t.Errorf("limit 1, %s: %s, want %s", c.name, sx(e), sx(c.want))
		}
	}
	if n := x.t.fds.Len(); n != 0 {
		t.Fatalf("%d fds open after failed calls", n)
	}
}

// TestPipe2FaultInstallsNothing: pipe2 reserves its numbers and installs
// them only after the copy-out, so a fault leaves the table untouched and
// the next pipe gets the same numbers.
func TestPipe2FaultInstallsNothing(t *testing.T) {
	x := newTT(t, AMD64)
	if _, e := x.call(sysPipe2, memEnd-4, 0); e != unix.EFAULT {
		t.Fatalf("pipe2 straddling the end of memory: %s, want EFAULT", sx(e))
	}
	if n := x.t.fds.Len(); n != 0 {
		t.Fatalf("%d fds open after a faulting pipe2", n)
	}
	sv := uint64(memBase + 0x800)
	x.must(sysPipe2, uintptr(sv), 0)
	b := x.get(sv, 8)
	if r, w := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:]); r != 0 || w != 1 {
		t.Fatalf("pipe2 after a fault gave %d, %d; want 0, 1", r, w)
	}
}

// TestCloseRangeUnshare: with CLOSE_RANGE_UNSHARE a task whose table is
// shared closes the range in a copy of its own, so its siblings keep the
// fds; a task that is the table's only user closes them in place.
func TestCloseRangeUnshare(t *testing.T) {
	x := newTT(t, AMD64)
	sib := x.sibling()
	r, w := x.pipe()
	const closeRangeUnshare = 2
	x.must(sysCloseRange, w, w, closeRangeUnshare)
	if _, _, err := x.t.FDTable().Get(int32(w)); err == nil {
		t.Error("the write end is still open in the caller's table")
	}
	if f, _, err := sib.FDTable().Get(int32(w)); err != nil {
		t.Errorf("the sibling lost the write end: %v", err)
	} else {
		f.DecRef()
	}
	if x.t.FDTable() == sib.FDTable() {
		t.Fatal("the caller still shares its sibling's table")
	}
	// Alone on its private table, the caller closes in place.
	tbl := x.t.FDTable()
	x.must(sysCloseRange, r, r, closeRangeUnshare)
	if x.t.FDTable() != tbl {
		t.Error("a table's only user got a copy")
	}
	// A private table is closed when its last task exits.
	x.eventfd(0, 0)
	if tbl.Len() != 1 {
		t.Fatalf("private table holds %d fds, want 1", tbl.Len())
	}
	x.t.Exit()
	if tbl.Len() != 0 {
		t.Errorf("a private table kept %d fds after its last task exited", tbl.Len())
	}
}
