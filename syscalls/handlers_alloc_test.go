package syscalls

import (
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// doorbell is a pollable file type whose rings a handler waits for.
type doorbell struct {
	mu    sync.Mutex
	rings int
	queue waiter.Queue
}

func (d *doorbell) Read(*fs.File, []byte) (int, error)  { return 0, unix.EINVAL }
func (d *doorbell) Write(*fs.File, []byte) (int, error) { return 0, unix.EINVAL }
func (d *doorbell) Release(*fs.File)                    {}

func (d *doorbell) Readiness(*fs.File, waiter.EventMask) waiter.EventMask {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.rings > 0 {
		return waiter.EventIn
	}
	return 0
}

func (d *doorbell) EventRegister(_ *fs.File, e *waiter.Entry)   { d.queue.Register(e) }
func (d *doorbell) EventUnregister(_ *fs.File, e *waiter.Entry) { d.queue.Unregister(e) }

func (d *doorbell) ring() {
	d.mu.Lock()
	d.rings++
	d.mu.Unlock()
	d.queue.Notify(waiter.EventIn)
}

func (d *doorbell) answer() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.rings == 0 {
		return false
	}
	d.rings--
	return true
}

// waitBell serves "wait for a ring on fd" through Task.Block, with a Ready
// closure, as an exclusive waiter.
func waitBell(t *Task, a [6]uintptr) (uintptr, unix.Errno) {
	f, e := t.getFile(int32(a[0]))
	if e != 0 {
		return 0, e
	}
	defer f.DecRef()
	d := f.Impl().(*doorbell)
	for !d.answer() {
		answered := false
		if e := t.Block(f, Wait{Exclusive: true, Ready: func() bool { answered = d.answer(); return answered }}); e != 0 {
			return 0, e
		}
		if answered {
			break
		}
	}
	return 1, 0
}

// TestHandlerBlockAllocs: an embedder's syscall that blocks through
// Task.Block until another goroutine wakes it allocates nothing.
func TestHandlerBlockAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts need a non-race build")
	}
	x := newTT(t, AMD64)
	x.k.RegisterSyscall(AMD64, 400, waitBell)
	d := &doorbell{}
	n, err := x.t.fds.Install(fs.New(d, unix.O_RDWR), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	kick := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range kick {
			d.ring()
		}
	}()
	defer func() { close(kick); <-done }()
	args := [6]uintptr{uintptr(n)}
	roundTrip := func() {
		kick <- struct{}{}
		if r, e := x.t.Syscall(400, args); r != 1 || e != 0 {
			t.Fatal(r, e)
		}
	}
	for i := 0; i < 100; i++ {
		roundTrip()
	}
	if n := testing.AllocsPerRun(500, roundTrip); n != 0 {
		t.Errorf("allocs per blocking handler round trip: %v", n)
	}
}
