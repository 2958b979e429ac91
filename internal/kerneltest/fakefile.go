package kerneltest

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// FakeFile is a pollable file type whose readiness is whatever the test set
// and whose queue is notified only when the test says so.
type FakeFile struct {
	mu sync.Mutex
	// +checklocks:mu
	mask     waiter.EventMask
	q        waiter.Queue
	released atomic.Bool
}

// NewFakeFile returns a fake pollable file (one reference) and its
// implementation.
func NewFakeFile(mask waiter.EventMask) (*fs.File, *FakeFile) {
	ff := &FakeFile{mask: mask}
	return fs.New(ff, unix.O_RDWR), ff
}

// Set replaces the readiness mask without waking anyone.
func (ff *FakeFile) Set(mask waiter.EventMask) {
	ff.mu.Lock()
	ff.mask = mask
	ff.mu.Unlock()
}

// Signal sets the mask and notifies the queue with key (wake one exclusive).
func (ff *FakeFile) Signal(mask, key waiter.EventMask) {
	ff.Set(mask)
	ff.q.Notify(key)
}

// SignalAll sets the mask and notifies every entry with key.
func (ff *FakeFile) SignalAll(mask, key waiter.EventMask) {
	ff.Set(mask)
	ff.q.NotifyAll(key)
}

// Released reports whether the file's last reference went.
func (ff *FakeFile) Released() bool { return ff.released.Load() }

// Queue exposes the file's wait queue.
func (ff *FakeFile) Queue() *waiter.Queue { return &ff.q }

func (ff *FakeFile) Readiness(*fs.File, waiter.EventMask) waiter.EventMask {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	return ff.mask
}

func (ff *FakeFile) EventRegister(_ *fs.File, e *waiter.Entry)   { ff.q.Register(e) }
func (ff *FakeFile) EventUnregister(_ *fs.File, e *waiter.Entry) { ff.q.Unregister(e) }
func (ff *FakeFile) Read(*fs.File, []byte) (int, error)          { return 0, unix.EAGAIN }
func (ff *FakeFile) Write(*fs.File, []byte) (int, error)         { return 0, unix.EAGAIN }
func (ff *FakeFile) Release(*fs.File)                            { ff.released.Store(true) }

// RegularFile is a file type with no poll operations.
type RegularFile struct{}

// NewRegularFile returns a non-pollable file.
func NewRegularFile() *fs.File { return fs.New(RegularFile{}, unix.O_RDWR) }

func (RegularFile) Read(*fs.File, []byte) (int, error)  { return 0, nil }
func (RegularFile) Write(*fs.File, []byte) (int, error) { return 0, nil }
func (RegularFile) Release(*fs.File)                    {}
