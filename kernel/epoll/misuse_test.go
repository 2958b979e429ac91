package epoll_test

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// An embedder calling epoll_ctl's operations with a released instance or
// target gets EBADF (Linux's fdget of a closed fd fails first) and leaves
// nothing behind; before, ADD succeeded and the registration leaked.

// noTrace fails t if the target is watched, the domain counts a
// registration, or the instance holds one.
func noTrace(t *testing.T, d *epoll.Domain, ep *epoll.EventPoll, target *fs.File) {
	t.Helper()
	if target.Watched() || d.Watches() != 0 || ep.Len() != 0 {
		t.Fatalf("leaked: target watched %v, domain watches %d, instance registrations %d",
			target.Watched(), d.Watches(), ep.Len())
	}
}

func TestCtlOnReleasedTargetIsEBADF(t *testing.T) {
	e := newEnv(t)
	defer e.f.DecRef()
	f, _ := kerneltest.NewFakeFile(in)
	f.DecRef()
	id := epoll.FileIdentifier{File: f, Fd: 3}
	wantErr(t, e.ep.Add(id, in, 0), unix.EBADF)
	noTrace(t, e.d, e.ep, f)
	wantErr(t, e.ep.Modify(id, in, 0), unix.EBADF)
	wantErr(t, e.ep.Delete(id), unix.EBADF)
	// EBADF comes first, as fdget does: before EINVAL for EXCLUSIVE misuse.
	wantErr(t, e.ep.Add(id, in|excl|oneshot, 0), unix.EBADF)
}

func TestCtlOnReleasedInstanceIsEBADF(t *testing.T) {
	e := newEnv(t)
	f, _ := kerneltest.NewFakeFile(in)
	defer f.DecRef()
	e.f.DecRef()
	id := epoll.FileIdentifier{File: f, Fd: 3}
	wantErr(t, e.ep.Add(id, in, 0), unix.EBADF)
	noTrace(t, e.d, e.ep, f)
	wantErr(t, e.ep.Modify(id, in, 0), unix.EBADF)
	wantErr(t, e.ep.Delete(id), unix.EBADF)
	// Before EPERM: the epfd's fdget fails first.
	wantErr(t, e.ep.Add(epoll.FileIdentifier{File: kerneltest.NewRegularFile(), Fd: 4}, in, 0), unix.EBADF)
}

func TestCtlWithNilFilePanics(t *testing.T) {
	e := newEnv(t)
	defer e.f.DecRef()
	kerneltest.MustPanic(t, "epoll: epoll_ctl with a FileIdentifier whose File is nil", func() {
		e.ep.Add(epoll.FileIdentifier{Fd: 3}, in, 0)
	})
}

// TestAddRacingReleaseLeavesNoTrace: an ADD racing the final release of its
// target or of its instance (by a caller holding no reference, which the
// syscall layer never does) either fails with EBADF or is undone by the
// release; either way nothing is left. (The window between ADD's first
// check and its AddWatch is too narrow for this test to hit reliably; it
// guards the outcome, and TestAddWatchMisuse in package fs the atomicity.)
func TestAddRacingReleaseLeavesNoTrace(t *testing.T) {
	for _, which := range []string{"target", "instance"} {
		t.Run(which, func(t *testing.T) {
			d := epoll.NewDomain()
			for i := 0; i < 2000; i++ {
				ep, epf := newEpoll(t, d)
				f, _ := kerneltest.NewFakeFile(in)
				dying := f
				if which == "instance" {
					dying = epf
				}
				var wg sync.WaitGroup
				var err error
				var ready, start atomic.Bool
				wg.Add(1)
				go func() {
					defer wg.Done()
					ready.Store(true)
					for !start.Load() {
					}
					err = ep.Add(epoll.FileIdentifier{File: f, Fd: 3}, in, 0)
				}()
				for !ready.Load() {
					runtime.Gosched()
				}
				start.Store(true)
				dying.DecRef()
				wg.Wait()
				if err != nil && !errors.Is(err, unix.EBADF) {
					t.Fatalf("ADD: %v", err)
				}
				noTrace(t, d, ep, f)
				if err := ep.CheckInvariants(); err != nil {
					t.Fatal(err)
				}
				if which == "target" {
					epf.DecRef()
				} else {
					f.DecRef()
				}
			}
		})
	}
}

func TestEventRegisterOfNonPollableTargetIsNeverReached(t *testing.T) {
	// epoll_ctl refuses the file (EPERM) before it would hook its queue;
	// hooking it anyway panics naming the misuse.
	e := newEnv(t)
	defer e.f.DecRef()
	reg := kerneltest.NewRegularFile()
	wantErr(t, e.ep.Add(epoll.FileIdentifier{File: reg, Fd: 5}, in, 0), unix.EPERM)
	var en waiter.Entry
	en.Init(waiter.NewSleeper(), false, false)
	kerneltest.MustPanic(t, "not Pollable", func() { reg.EventRegister(&en) })
}

func TestNewFileWithNilDomainPanics(t *testing.T) {
	kerneltest.MustPanic(t, "epoll: NewFile with a nil Domain", func() { epoll.NewFile(nil) })
}

func TestCtlOnZeroEventPollPanics(t *testing.T) {
	f, _ := kerneltest.NewFakeFile(in)
	defer f.DecRef()
	kerneltest.MustPanic(t, "epoll: an EventPoll not made by NewFile", func() {
		new(epoll.EventPoll).Add(epoll.FileIdentifier{File: f, Fd: 3}, in, 0)
	})
}

// Nesting checks walk one Domain's graph: adding an instance of another
// Domain panics instead of linking two graphs no lock covers together.
func TestAddOfInstanceOfAnotherDomainPanics(t *testing.T) {
	a, b := epoll.NewFile(epoll.NewDomain()), epoll.NewFile(epoll.NewDomain())
	defer a.DecRef()
	defer b.DecRef()
	ep, _ := epoll.FromFile(a)
	kerneltest.MustPanic(t, "epoll: epoll_ctl ADD of an epoll instance of another Domain", func() {
		ep.Add(epoll.FileIdentifier{File: b, Fd: 4}, in, 0)
	})
	if ep.Len() != 0 {
		t.Fatalf("the failed ADD left %d registrations", ep.Len())
	}
}
