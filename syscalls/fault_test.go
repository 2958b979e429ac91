package syscalls

import (
	"bytes"
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// The expectations below are what Linux 6.x returns for the same calls
// (checked with a host program: a buffer whose tail runs into an unmapped
// page). The hole starts at memEnd; at(k) is k mapped bytes before it.

func at(k int) uintptr { return uintptr(memEnd - k) }

func (x *tt) socketpair(typ int) (uintptr, uintptr) {
	const sv = memBase + 0x800
	x.must(sysSocketpair, unix.AF_UNIX, uintptr(typ|unix.SOCK_NONBLOCK), 0, sv)
	b := x.get(sv, 8)
	return uintptr(binary.LittleEndian.Uint32(b)), uintptr(binary.LittleEndian.Uint32(b[4:]))
}

// writeN writes n bytes from a mapped scratch area.
func (x *tt) writeN(fd uintptr, n int) {
	x.tb.Helper()
	if got := x.must(sysWrite, fd, memBase, uintptr(n)); got != uintptr(n) {
		x.tb.Fatalf("write %d: wrote %d", n, got)
	}
}

// drain reads everything readable from a non-blocking fd into scratch
// memory and returns the byte count.
func (x *tt) drain(fd uintptr) int {
	total := 0
	for {
		n, e := x.call(sysRead, fd, memBase, 4096)
		if e != 0 || n == 0 {
			return total
		}
		total += int(n)
	}
}

func TestPipeFaults(t *testing.T) {
	for _, c := range []struct {
		pre, n, mapped int
		want           int // -1: EFAULT
		left           int
	}{
		{0, 100, 50, -1, 0},
		{10, 100, 50, -1, 10},        // the merge faults: nothing of it stays
		{10, 8192, 4096, 4096, 4106}, // a page, then a faulting page
		{10, 8202, 4101, 10, 20},     // merged 10, then the first page faults
		{0, 8192, 6000, 4096, 4096},
		{0, 12288, 8292, 8192, 8192},
	} {
		x := newTT(t, AMD64)
		r, w := x.pipe()
		x.must(sysFcntl, w, unix.F_SETFL, unix.O_NONBLOCK)
		x.must(sysFcntl, r, unix.F_SETFL, unix.O_NONBLOCK)
		if c.pre > 0 {
			x.writeN(w, c.pre)
		}
		n, e := x.call(sysWrite, w, at(c.mapped), uintptr(c.n))
		if got := resultOf(n, e); got != c.want {
			t.Errorf("write %d after %d with %d mapped: %d (%s), want %d", c.n, c.pre, c.mapped, got, sx(e), c.want)
		}
		if left := x.drain(r); left != c.left {
			t.Errorf("write %d after %d with %d mapped: pipe holds %d, want %d", c.n, c.pre, c.mapped, left, c.left)
		}
	}
	for _, c := range []struct {
		writes    []int
		n, mapped int
		want      int
		left      int
	}{
		{[]int{100}, 100, 50, -1, 100},
		{[]int{3000, 3000, 3000}, 9000, 5000, 3000, 6000},
		{[]int{3000, 3000, 3000}, 9000, 6000, 6000, 3000},
		{[]int{8192}, 8192, 6000, 4096, 4096},
		{[]int{100, 100}, 200, 150, -1, 200}, // merged into one slot
	} {
		x := newTT(t, AMD64)
		r, w := x.pipe()
		x.must(sysFcntl, r, unix.F_SETFL, unix.O_NONBLOCK)
		for _, n := range c.writes {
			x.writeN(w, n)
		}
		n, e := x.call(sysRead, r, at(c.mapped), uintptr(c.n))
		if got := resultOf(n, e); got != c.want {
			t.Errorf("read %d of %v with %d mapped: %d (%s), want %d", c.n, c.writes, c.mapped, got, sx(e), c.want)
		}
		if left := x.drain(r); left != c.left {
			t.Errorf("read %d of %v with %d mapped: %d left, want %d", c.n, c.writes, c.mapped, left, c.left)
		}
	}
}

func TestSocketFaults(t *testing.T) {
	type rc struct {
		writes    []int
		n, mapped int
		want      int
		left      int
	}
	for _, c := range []struct {
		typ   int
		reads []rc
	}{
		{unix.SOCK_STREAM, []rc{
			{[]int{100}, 100, 50, -1, 100},
			{[]int{3000, 3000, 3000}, 9000, 5000, 3000, 6000},
			{[]int{100, 100}, 200, 150, 100, 100}, // skb by skb
			{[]int{8192}, 8192, 6000, -1, 8192},
		}},
		// A datagram is dequeued before it is copied: a fault loses it.
		{unix.SOCK_SEQPACKET, []rc{
			{[]int{100}, 100, 50, -1, 0},
			{[]int{3000, 3000, 3000}, 9000, 5000, 3000, 6000},
			{[]int{100, 100}, 200, 150, 100, 100},
			{[]int{8192}, 8192, 6000, -1, 0},
		}},
		{unix.SOCK_DGRAM, []rc{
			{[]int{100}, 100, 50, -1, 0},
			{[]int{3000, 3000, 3000}, 9000, 5000, 3000, 6000},
			{[]int{8192}, 8192, 6000, -1, 0},
		}},
	} {
		for _, r := range c.reads {
			x := newTT(t, AMD64)
			a, b := x.socketpair(c.typ)
			for _, n := range r.writes {
				x.writeN(a, n)
			}
			n, e := x.call(sysRead, b, at(r.mapped), uintptr(r.n))
			if got := resultOf(n, e); got != r.want {
				t.Errorf("type %d: read %d of %v with %d mapped: %d (%s), want %d", c.typ, r.n, r.writes, r.mapped, got, sx(e), r.want)
			}
			if left := x.drain(b); left != r.left {
				t.Errorf("type %d: read %d of %v with %d mapped: %d left, want %d", c.typ, r.n, r.writes, r.mapped, left, r.left)
			}
		}
		for _, w := range []struct{ n, mapped int }{{100, 50}, {8192, 4096}, {12000, 8000}} {
			x := newTT(t, AMD64)
			a, b := x.socketpair(c.typ)
			if n, e := x.call(sysWrite, a, at(w.mapped), uintptr(w.n)); e != unix.EFAULT {
				t.Errorf("type %d: write %d with %d mapped: %d (%s), want EFAULT", c.typ, w.n, w.mapped, n, sx(e))
			}
			if left := x.drain(b); left != 0 {
				t.Errorf("type %d: write %d with %d mapped: %d bytes arrived", c.typ, w.n, w.mapped, left)
			}
		}
	}
}

// TestBigTransfers: reads and writes are not cut into the task's staging
// buffer: a stream read takes everything queued, a datagram moves whole.
func TestBigTransfers(t *testing.T) {
	x := newTT(t, AMD64)
	const big = 0x100000
	if err := x.mem.Map(big, 1<<20); err != nil {
		t.Fatal(err)
	}
	a, b := x.socketpair(unix.SOCK_STREAM)
	queued := 0
	for {
		n, e := x.call(sysWrite, a, big, 50000)
		if e != 0 {
			break
		}
		queued += int(n)
	}
	if queued < 200000 {
		t.Fatalf("only %d bytes fit in a stream socket", queued)
	}
	if n, e := x.call(sysRead, b, big, 1<<20); e != 0 || int(n) != queued {
		t.Errorf("read(1 MiB) of %d queued = %d, %s", queued, n, sx(e))
	}
	a, b = x.socketpair(unix.SOCK_DGRAM)
	msg := bytes.Repeat([]byte("0123456789"), 15000)
	x.put(big, msg)
	if n, e := x.call(sysWrite, a, big, uintptr(len(msg))); e != 0 || int(n) != len(msg) {
		t.Fatalf("dgram write of %d = %d, %s", len(msg), n, sx(e))
	}
	x.put(big, make([]byte, len(msg)))
	if n, e := x.call(sysRead, b, big, 1<<20); e != 0 || int(n) != len(msg) {
		t.Fatalf("dgram read = %d, %s; want one %d-byte datagram", n, sx(e), len(msg))
	}
	if !bytes.Equal(x.get(big, len(msg)), msg) {
		t.Error("dgram contents differ")
	}
	if n, e := x.call(sysWrite, a, big, 300000); e != unix.EMSGSIZE {
		t.Errorf("dgram write of 300000 = %d, %s; want EMSGSIZE", n, sx(e))
	}
	// A huge pipe write merges its length modulo a page first: 70000 on a
	// pipe holding 10 bytes merges 368, then 15 pages fill the pipe.
	r, w := x.pipe()
	x.must(sysFcntl, w, unix.F_SETFL, unix.O_NONBLOCK)
	x.writeN(w, 10)
	if n, e := x.call(sysWrite, w, big, 70000); e != 0 || n != 368+15*4096 {
		t.Errorf("pipe write of 70000 after 10 bytes = %d, %s; want %d", n, sx(e), 368+15*4096)
	}
	_ = r
}

// TestEventfdStagedIO: an eventfd touches only its 8-byte value: the bytes
// after it may be unmapped, and a wrong count is EINVAL before any fault.
func TestEventfdStagedIO(t *testing.T) {
	x := newTT(t, AMD64)
	efd := x.eventfd(0, unix.EFD_NONBLOCK)
	if _, e := x.call(sysWrite, efd, hole, 9); e != unix.EINVAL {
		t.Errorf("write 9 bytes at a hole: %s, want EINVAL", sx(e))
	}
	if _, e := x.call(sysWrite, efd, hole, 8); e != unix.EFAULT {
		t.Errorf("write 8 bytes at a hole: %s, want EFAULT", sx(e))
	}
	x.putU64(memEnd-8, 5)
	if n, e := x.call(sysRead, efd, memEnd-8, 100); e != unix.EAGAIN {
		t.Errorf("read of an empty eventfd: %d, %s", n, sx(e))
	}
	x.writeU64(efd, 5)
	if n, e := x.call(sysRead, efd, memEnd-8, 100); e != 0 || n != 8 {
		t.Errorf("read into 8 mapped bytes of 100: %d, %s; want 8", n, sx(e))
	}
	x.writeU64(efd, 7)
	if _, e := x.call(sysRead, efd, memEnd-4, 8); e != unix.EFAULT {
		t.Errorf("read straddling the hole: %s, want EFAULT", sx(e))
	}
	if _, e := x.call(sysRead, efd, memBase, 8); e != unix.EAGAIN {
		t.Errorf("the faulting read still consumed the counter (Linux loses it): %s", sx(e))
	}
}

// resultOf folds a syscall result into one number: the count, or -1 for
// EFAULT (other errnos as -errno).
func resultOf(n uintptr, e unix.Errno) int {
	switch e {
	case 0:
		return int(n)
	case unix.EFAULT:
		return -1
	}
	return -int(e)
}

// TestTimerfdWrite: a timerfd has no write operation: EINVAL before the
// buffer is looked at, even a kernel address.
func TestTimerfdWrite(t *testing.T) {
	x := newTT(t, AMD64)
	tfd := x.must(sysTimerfdCreate, unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK)
	for _, p := range []uintptr{hole, memBase, 0xffffffffffff0000} {
		if _, e := x.call(sysWrite, tfd, p, 8); e != unix.EINVAL {
			t.Errorf("write(timerfd, %#x, 8) = %s, want EINVAL", p, sx(e))
		}
	}
	if _, e := x.call(sysRead, tfd, 0xffffffffffff0000, 8); e != unix.EFAULT {
		t.Errorf("read(timerfd, kernel address) = %s, want EFAULT", sx(e))
	}
}

// TestGuestMemoryCopyOut: copies that start in a page that exists and run
// into one that does not yet (or into a hole) write what Linux's
// copy_to_user would, and concurrent copies into different pages are
// fine under the read lock.
func TestGuestMemoryCopyOut(t *testing.T) {
	const base = 0x10000
	m := NewGuestMemory()
	if err := m.Map(base, 3*PageSize); err != nil {
		t.Fatal(err)
	}
	if err := m.CopyOut(base+PageSize-4, []byte{1, 2, 3, 4}); err != nil || m.TouchedPages() != 1 {
		t.Fatalf("first page: %v, %d pages", err, m.TouchedPages())
	}
	// From the existing page into a missing one.
	if err := m.CopyOut(base+PageSize-2, []byte{5, 6, 7, 8}); err != nil || m.TouchedPages() != 2 {
		t.Fatalf("into a new page: %v, %d pages", err, m.TouchedPages())
	}
	// From an existing page into the hole: the mapped bytes are written.
	if err := m.CopyOut(base+2*PageSize, []byte{0}); err != nil || m.TouchedPages() != 3 {
		t.Fatalf("third page: %v, %d pages", err, m.TouchedPages())
	}
	if err := m.CopyOut(base+3*PageSize-2, []byte{9, 9, 9, 9}); err != unix.EFAULT {
		t.Fatalf("into the hole: %v", err)
	}
	got := make([]byte, 6)
	if err := m.CopyIn(base+PageSize-4, got); err != nil || !bytes.Equal(got, []byte{1, 2, 5, 6, 7, 8}) {
		t.Fatalf("read back %v %v", got, err)
	}
	if err := m.CopyIn(base+3*PageSize-2, got[:2]); err != nil || !bytes.Equal(got[:2], []byte{9, 9}) {
		t.Fatalf("before the hole: %v %v", got[:2], err)
	}
	done := make(chan struct{})
	for k := range 2 {
		go func() {
			defer func() { done <- struct{}{} }()
			b := []byte{byte(k), byte(k)}
			for range 1000 {
				if err := m.CopyOut(base+uint64(k)*PageSize+8, b); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	<-done
	<-done
}
