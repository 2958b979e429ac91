package fs

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// TestPipeSetSize replays what Linux 6.18 returns for F_SETPIPE_SZ and how
// the write end's readiness follows the slot count (recorded with a C
// program on the host, whose tasks lack CAP_SYS_RESOURCE).
func TestPipeSetSize(t *testing.T) {
	r, w := NewPipe(unix.O_NONBLOCK)
	defer r.DecRef()
	defer w.DecRef()
	ps := w.impl.(PipeSizer)
	set := func(size uint32, want int, wantErr error) {
		t.Helper()
		n, err := ps.SetPipeSize(size)
		mustN(t, "F_SETPIPE_SZ", n, err, want, wantErr)
	}
	if got := r.impl.(PipeSizer).PipeSize(); got != 65536 {
		t.Fatalf("default size %d", got)
	}
	set(0, 4096, nil)
	set(1, 4096, nil)
	set(5000, 8192, nil)
	set(1<<20, 1<<20, nil)
	set(1<<20+1, 0, unix.EPERM)
	set(1<<31, 0, unix.EPERM)
	set(1<<31+1, 0, unix.EINVAL)
	set(^uint32(0), 0, unix.EINVAL)
	set(12288, 16384, nil)
	set(4096, 4096, nil)

	one := []byte{0}
	n, err := w.Write(one)
	mustN(t, "write 1", n, err, 1, nil)
	n, err = w.Write(one)
	mustN(t, "write 1 merges", n, err, 1, nil)
	expectMask(t, "one slot in use of one", w, 0)
	n, err = w.Write(make([]byte, 4096))
	mustN(t, "write a page to a full ring", n, err, 0, unix.EAGAIN)
	rec := watch(t, w)
	set(8192, 8192, nil)
	rec.expect(t, "resize wakes writers", one0())
	expectMask(t, "room again", w, waiter.EventOut|waiter.EventWrNorm)
	n, err = w.Write(make([]byte, 4096))
	mustN(t, "second slot", n, err, 4096, nil)
	set(4096, 0, unix.EBUSY)
	n, err = r.Read(make([]byte, 5000))
	mustN(t, "drain", n, err, 4098, nil)
	set(4096, 4096, nil)
	checkInv(t, r, w)
}

func one0() note { return note{key: 0} }
