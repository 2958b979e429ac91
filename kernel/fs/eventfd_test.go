package fs

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

func le(v uint64) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, v)
	return b
}

func TestEventfdMasks(t *testing.T) {
	for _, tc := range []struct {
		count uint64
		want  waiter.EventMask
	}{
		{0, 0x4},
		{5, 0x5},
		{0xfffffffffffffffd, 0x5},
		{0xfffffffffffffffe, 0x1},
		{0xffffffffffffffff, 0x9}, // only in-kernel signalling gets here
	} {
		f := NewEventfd(tc.count, 0)
		expectMask(t, "count", f, tc.want)
	}
	f := NewEventfd(0, unix.O_NONBLOCK|EFDSemaphore)
	if f.StatusFlags() != unix.O_RDWR|unix.O_NONBLOCK {
		t.Errorf("flags %#o", f.StatusFlags())
	}
	if BlockingWaitExclusive(f) {
		t.Error("eventfd waiters are not exclusive")
	}
}

func TestEventfdWrite(t *testing.T) {
	f := NewEventfd(0, unix.O_NONBLOCK)
	rec := watch(t, f)
	for _, n := range []int{0, 4, 7, 9, 16} {
		k, err := f.Write(make([]byte, n))
		mustN(t, "bad length", k, err, 0, unix.EINVAL)
	}
	k, err := f.Write(le(0xffffffffffffffff))
	mustN(t, "max value", k, err, 0, unix.EINVAL)
	rec.expect(t, "failed writes")

	k, err = f.Write(le(0))
	mustN(t, "write 0", k, err, 8, nil)
	rec.expect(t, "write 0", one(waiter.EventIn))
	expectMask(t, "after write 0", f, 0x4)

	k, err = f.Write(le(5))
	mustN(t, "write 5", k, err, 8, nil)
	rec.expect(t, "write 5", one(waiter.EventIn))

	k, err = f.Write(le(0xfffffffffffffffe - 5))
	mustN(t, "up to the limit", k, err, 8, nil)
	rec.expect(t, "up to the limit", one(waiter.EventIn))
	expectMask(t, "at the limit", f, 0x1)
	k, err = f.Write(le(1))
	mustN(t, "overflow", k, err, 0, unix.EAGAIN)
	k, err = f.Write(le(0))
	mustN(t, "zero at the limit", k, err, 8, nil)
	rec.expect(t, "overflow, then a zero", one(waiter.EventIn))
}

func TestEventfdRead(t *testing.T) {
	f := NewEventfd(0, unix.O_NONBLOCK)
	rec := watch(t, f)
	buf := make([]byte, 16)
	for _, n := range []int{0, 4, 7} {
		k, err := f.Read(buf[:n])
		mustN(t, "short buffer", k, err, 0, unix.EINVAL)
	}
	k, err := f.Read(buf)
	mustN(t, "zero counter", k, err, 0, unix.EAGAIN)
	rec.expect(t, "failed reads")

	f.Write(le(7))
	rec.take()
	k, err = f.Read(buf)
	mustN(t, "read", k, err, 8, nil)
	if v := binary.LittleEndian.Uint64(buf); v != 7 {
		t.Errorf("value %d", v)
	}
	rec.expect(t, "read", one(waiter.EventOut))
	expectMask(t, "after read", f, 0x4)

	s := NewEventfd(3, EFDSemaphore)
	srec := watch(t, s)
	for i := 0; i < 3; i++ {
		k, err = s.Read(buf[:8])
		mustN(t, "semaphore read", k, err, 8, nil)
		if v := binary.LittleEndian.Uint64(buf); v != 1 {
			t.Errorf("semaphore value %d", v)
		}
		srec.expect(t, "semaphore read", one(waiter.EventOut))
	}
	k, err = s.Read(buf[:8])
	mustN(t, "semaphore empty", k, err, 0, unix.EAGAIN)
	if c := s.impl.(EventfdInfo).Count(); c != 0 {
		t.Errorf("count %d", c)
	}
}

func TestEventfdNoAllocation(t *testing.T) {
	f := NewEventfd(0, unix.O_NONBLOCK)
	var e waiter.Entry
	e.Init(nopWaker{}, true, false)
	f.EventRegister(&e)
	in := le(3)
	out := make([]byte, 8)
	allocs := testing.AllocsPerRun(200, func() {
		f.Write(in)
		f.Read(out)
		f.Readiness(full)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per write+read", allocs)
	}
}
