package fs

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// watchOwner is a registration that counts its wakeups and removes itself
// when its file is released.
type watchOwner struct {
	f        *File
	wakes    int
	released int
}

func (o *watchOwner) Wake(waiter.EventMask) bool     { o.wakes++; return true }
func (o *watchOwner) FileReleased(f *File, w *Watch) { o.released++; f.RemoveWatch(w) }
func (o *watchOwner) WatcherFile() *File             { return nil }

// oneQueue is a pollable type that is not a HookQueuer: its file keeps a
// watch lock of its own.
type oneQueue struct{ q waiter.Queue }

func (o *oneQueue) Read(*File, []byte) (int, error)                    { return 0, unix.EAGAIN }
func (o *oneQueue) Write(*File, []byte) (int, error)                   { return 0, unix.EAGAIN }
func (o *oneQueue) Release(*File)                                      {}
func (o *oneQueue) Readiness(*File, waiter.EventMask) waiter.EventMask { return 0 }
func (o *oneQueue) EventRegister(_ *File, e *waiter.Entry)             { o.q.Register(e) }
func (o *oneQueue) EventUnregister(_ *File, e *waiter.Entry)           { o.q.Unregister(e) }

func newOwnedWatch(f *File) (*Watch, *watchOwner) {
	o := &watchOwner{f: f}
	w := new(Watch)
	w.Hook.Init(o, false, false)
	return w, o
}

// TestHookWatch: HookWatch links the watch and hooks its entry, RemoveWatch
// undoes both, and the final release removes a hooked watch, for a type
// whose watch list shares its hook queue's lock (eventfd, a pipe's read
// end) and for one that keeps a lock of its own.
func TestHookWatch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		open   func() (f *File, poke func(), done func())
		shared bool
	}{
		{"eventfd", func() (*File, func(), func()) {
			f := NewEventfd(0, unix.O_NONBLOCK)
			return f, func() { f.Write([]byte{1, 0, 0, 0, 0, 0, 0, 0}) }, func() {}
		}, true},
		{"pipe", func() (*File, func(), func()) {
			r, w := NewPipe(unix.O_NONBLOCK)
			return r, func() { w.Write([]byte{1}) }, w.DecRef
		}, true},
		{"own lock", func() (*File, func(), func()) {
			impl := &oneQueue{}
			return New(impl, unix.O_RDWR), func() { impl.q.Notify(waiter.EventIn) }, func() {}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, poke, done := tc.open()
			defer done()
			var hookQ *waiter.Queue
			switch impl := f.impl.(type) {
			case *eventfd:
				hookQ = &impl.queue
			case *pipeEnd:
				hookQ = impl.queue()
			case *oneQueue:
				hookQ = &impl.q
			}
			hooked := func(w *Watch) bool { return hookQ.Linked(&w.Hook) }
			if got := f.watchQ != &f.ownWatchQ; got != tc.shared || f.hookOnWatchQ != tc.shared {
				t.Fatalf("watch lock is the hook queue's: %v, want %v", got, tc.shared)
			}
			w, o := newOwnedWatch(f)
			if !f.HookWatch(w, nil) || !f.Watched() {
				t.Fatal("HookWatch on a live file did not link the watch")
			}
			poke()
			if o.wakes == 0 {
				t.Fatal("the hooked entry was not woken")
			}
			f.RemoveWatch(w)
			o.wakes = 0
			poke()
			if f.Watched() || o.wakes != 0 {
				t.Fatalf("after RemoveWatch: watched %v, %d wakeups", f.Watched(), o.wakes)
			}
			f.RemoveWatch(w) // on no list: nothing happens

			w, o = newOwnedWatch(f)
			if !f.HookWatch(w, nil) {
				t.Fatal("HookWatch after RemoveWatch failed")
			}
			f.DecRef()
			if o.released != 1 || f.Watched() || hooked(w) {
				t.Fatalf("release: FileReleased %d times, watched %v, hooked %v", o.released, f.Watched(), hooked(w))
			}
			late, _ := newOwnedWatch(f)
			if f.HookWatch(late, nil) || f.Watched() || hooked(late) {
				t.Fatal("HookWatch on a released file linked or hooked the watch")
			}
		})
	}
}
