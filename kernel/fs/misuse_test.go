package fs_test

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// Misuse of a File by its holder panics with a message naming the misuse,
// rather than releasing a file twice or reaching a released implementation.

func TestReferenceMisusePanics(t *testing.T) {
	released := func() *fs.File {
		f := fs.NewEventfd(0, 0)
		f.DecRef()
		return f
	}
	kerneltest.MustPanic(t, "fs: File.DecRef on a released file (a DecRef too many)", func() { released().DecRef() })
	kerneltest.MustPanic(t, "fs: File.IncRef on a released file", func() { released().IncRef() })
	kerneltest.MustPanic(t, "fs: File.Read on a released file", func() { released().Read(make([]byte, 8)) })
	kerneltest.MustPanic(t, "fs: File.Write on a released file", func() { released().Write(make([]byte, 8)) })
	kerneltest.MustPanic(t, "fs: New with a nil Impl", func() { fs.New(nil, unix.O_RDWR) })
	kerneltest.MustPanic(t, "fs.NewConnectWait: nil queue", func() { fs.NewConnectWait(nil) })

	// A file revived by IncRef would be released twice: IncRef must panic
	// before DecRef can run the implementation's Release again.
	var releases int
	f := fs.New(countingImpl{&releases}, unix.O_RDWR)
	f.DecRef()
	kerneltest.MustPanic(t, "fs: File.IncRef on a released file", f.IncRef)
	if releases != 1 {
		t.Fatalf("released %d times", releases)
	}
	if f.TryIncRef() {
		t.Fatal("TryIncRef referenced a released file")
	}
}

type countingImpl struct{ n *int }

func (c countingImpl) Read(*fs.File, []byte) (int, error)  { return 0, nil }
func (c countingImpl) Write(*fs.File, []byte) (int, error) { return 0, nil }
func (c countingImpl) Release(*fs.File)                    { *c.n++ }

func TestEventRegisterOnNonPollableFilePanics(t *testing.T) {
	f := fs.NewRegular(unix.O_RDWR)
	defer f.DecRef()
	if f.Pollable() != nil {
		t.Fatal("a regular file is pollable")
	}
	var e waiter.Entry
	e.Init(waiter.NewSleeper(), false, false)
	kerneltest.MustPanic(t, "fs: File.EventRegister on a file whose type is not Pollable", func() { f.EventRegister(&e) })
	kerneltest.MustPanic(t, "fs: File.EventUnregister on a file whose type is not Pollable", func() { f.EventUnregister(&e) })
}

type owner struct{ f *fs.File }

func (o owner) FileReleased(f *fs.File, w *fs.Watch) { f.RemoveWatch(w) }
func (o owner) WatcherFile() *fs.File                { return nil }
func (o owner) Wake(waiter.EventMask) bool           { return true }

func newWatch(f *fs.File) *fs.Watch {
	w := new(fs.Watch)
	w.Hook.Init(owner{f}, false, false)
	return w
}

func TestAddWatchMisuse(t *testing.T) {
	f := fs.NewEventfd(0, 0)
	w := newWatch(f)
	if !f.AddWatch(w) {
		t.Fatal("AddWatch on a live file failed")
	}
	kerneltest.MustPanic(t, "fs: File.AddWatch of a Watch that is already on a watch list", func() { f.AddWatch(w) })
	kerneltest.MustPanic(t, "fs: File.AddWatch of a Watch that is already on a watch list", func() { f.HookWatch(w, nil) })
	kerneltest.MustPanic(t, "fs: File.AddWatch of a Watch without an Owner", func() { f.AddWatch(&fs.Watch{}) })
	var notOwner fs.Watch
	notOwner.Hook.Init(waiter.NewSleeper(), false, false)
	kerneltest.MustPanic(t, "fs: File.AddWatch of a Watch without an Owner", func() { f.HookWatch(&notOwner, nil) })
	g := fs.NewEventfd(0, 0)
	defer g.DecRef()
	kerneltest.MustPanic(t, "fs: File.RemoveWatch of a Watch that is on another file's watch list", func() { g.RemoveWatch(w) })
	f.DecRef()
	if f.Watched() {
		t.Fatal("release left a watch")
	}
	// On a released file the watch would never be removed: refused.
	if f.AddWatch(newWatch(f)) || f.Watched() {
		t.Fatal("AddWatch on a released file linked the watch")
	}
	if late := newWatch(f); f.HookWatch(late, nil) || f.Watched() {
		t.Fatal("HookWatch on a released file linked the watch")
	}
}
