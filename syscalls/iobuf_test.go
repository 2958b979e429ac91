package syscalls

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// TestIOBufLazy checks the staging buffer's sizes: none until a staged
// transfer, the task's array for small ones, then powers of two up to
// ioBufSize, never shrinking, and always at least what a transfer needs.
func TestIOBufLazy(t *testing.T) {
	x := newTT(t, AMD64)
	if x.t.ioBuf != nil {
		t.Fatalf("a new task has a %d-byte I/O buffer", len(x.t.ioBuf))
	}
	for _, c := range []struct{ need, want uint64 }{
		{0, 0}, {8, stageSmallSize}, {16, stageSmallSize}, {4, stageSmallSize},
		{17, 32}, {100, 128}, {64, 128}, {4096, 4096}, {4097, 8192},
		{1 << 20, ioBufSize}, {8, ioBufSize},
	} {
		x.t.growIOBuf(c.need)
		if got := uint64(len(x.t.ioBuf)); got != c.want {
			t.Errorf("after need %d: %d bytes, want %d", c.need, got, c.want)
		}
	}
}

// TestStagedSizes writes and reads an eventfd (a staged type) with counts
// around the buffer's sizes: the results are the ones of a full buffer
// (as on Linux 6.18: a write of anything but 8 bytes is EINVAL, a read of
// fewer than 8 is EINVAL and of more reads 8), and values go through
// intact.
func TestStagedSizes(t *testing.T) {
	x := newTT(t, AMD64)
	efd, e := x.call(sysEventfd2, 0, unix.EFD_NONBLOCK)
	if e != 0 {
		t.Fatal(e)
	}
	for _, count := range []uintptr{7, 8, 9, 16, 17, 100, 4096, memSize} {
		x.putU64(memBase, uint64(count))
		n, e := x.call(sysWrite, efd, memBase, count)
		if count != 8 && e != unix.EINVAL {
			t.Errorf("write of %d: %d %v, want EINVAL", count, n, e)
		}
		if count != 8 {
			x.writeU64(efd, uint64(count))
		}
		x.putU64(memBase, 0)
		n, e = x.call(sysRead, efd, memBase, count)
		if count < 8 {
			if e != unix.EINVAL {
				t.Errorf("read of %d: %d %v, want EINVAL", count, n, e)
			}
			x.call(sysRead, efd, memBase, 8)
			continue
		}
		if n != 8 || e != 0 {
			t.Fatalf("read of %d: %d %v", count, n, e)
		}
		if v := binary.LittleEndian.Uint64(x.get(memBase, 8)); v != uint64(count) {
			t.Errorf("read of %d: value %d", count, v)
		}
	}
}
