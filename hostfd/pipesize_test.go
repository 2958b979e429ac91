package hostfd

import (
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

type keyCounter struct {
	n    atomic.Int32
	keys atomic.Uint32
}

func (k *keyCounter) Wake(key waiter.EventMask) bool {
	k.n.Add(1)
	k.keys.Store(uint32(key))
	return true
}

// TestHostPipeSize: F_SETPIPE_SZ through either end resizes the host pipe
// and wakes the write end's queue once with key 0 (pipe_resize_ring);
// a refused size wakes nobody.
func TestHostPipeSize(t *testing.T) {
	b := newBridge(t, 1)
	r, w, err := b.Pipe(unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer r.DecRef()
	defer w.DecRef()
	var kc keyCounter
	var e waiter.Entry
	e.Init(&kc, false, false)
	w.EventRegister(&e)
	defer w.EventUnregister(&e)
	if got := w.Impl().(fs.PipeSizer).PipeSize(); got != 65536 {
		t.Fatalf("default size %d", got)
	}
	for _, f := range []*fs.File{r, w} {
		before := kc.n.Load()
		n, err := f.Impl().(fs.PipeSizer).SetPipeSize(5000)
		if n != 8192 || err != nil {
			t.Fatalf("F_SETPIPE_SZ 5000: %d %v", n, err)
		}
		if kc.n.Load() != before+1 || kc.keys.Load() != 0 {
			t.Errorf("resize through %v: %d wakeups (key %#x), want one with key 0", f, kc.n.Load()-before, kc.keys.Load())
		}
	}
	before := kc.n.Load()
	if _, err := w.Impl().(fs.PipeSizer).SetPipeSize(1<<31 + 1); err != unix.EINVAL {
		t.Errorf("F_SETPIPE_SZ 2^31+1: %v", err)
	}
	if kc.n.Load() != before {
		t.Error("a refused resize woke the writer")
	}
}
