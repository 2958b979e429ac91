package epoll

import (
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// The instance keeps the item of its last removed registration for the
// next ADD (EventPoll.spare). These tests check that reusing it is safe
// against the one reader that may still hold it without the instance's
// lock: a final release of the old target that found the watch before a
// DEL took it (item.FileReleased).

func spareEnv(t *testing.T) (*EventPoll, func(fd int32) FileIdentifier) {
	t.Helper()
	epf := NewFile(NewDomain())
	t.Cleanup(epf.DecRef)
	ep, _ := FromFile(epf)
	return ep, func(fd int32) FileIdentifier {
		f := fs.NewEventfd(0, unix.O_NONBLOCK)
		t.Cleanup(func() {
			if !f.Released() {
				f.DecRef()
			}
		})
		return FileIdentifier{File: f, Fd: fd}
	}
}

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestStaleReleaseSparesReusedItem: a release of f that found the item
// on f's watch list before a DEL removed it, and calls FileReleased after
// an ADD of g reused the item, leaves g's registration alone.
func TestStaleReleaseSparesReusedItem(t *testing.T) {
	ep, open := spareEnv(t)
	f, g := open(1), open(2)
	mustNil(t, ep.Add(f, waiter.EventIn, 1))
	ep.mu.Lock()
	it := ep.interest.find(f.File, f.Fd)
	ep.mu.Unlock()
	mustNil(t, ep.Delete(f))
	mustNil(t, ep.Add(g, waiter.EventIn, 2))
	ep.mu.Lock()
	reused := ep.interest.find(g.File, g.Fd) == it
	ep.mu.Unlock()
	if !reused {
		t.Fatal("the ADD after a DEL did not reuse the removed item")
	}
	it.FileReleased(f.File, &it.watch) // the stale release of f
	if ep.Len() != 1 || !g.File.Watched() {
		t.Fatalf("the stale release of the old target removed the new registration (%d left)", ep.Len())
	}
	mustNil(t, ep.CheckInvariants())
}

// TestAddAfterRemovalAllocatesNothing: an ADD after a DEL, or after the
// target's final release removed a registration, reuses its item.
func TestAddAfterRemovalAllocatesNothing(t *testing.T) {
	ep, open := spareEnv(t)
	id := open(3)
	mustNil(t, ep.Add(id, waiter.EventIn, 0))
	mustNil(t, ep.Delete(id))
	if n := testing.AllocsPerRun(100, func() {
		mustNil(t, ep.Add(id, waiter.EventIn, 0))
		mustNil(t, ep.Delete(id))
	}); n != 0 {
		t.Errorf("ADD+DEL after a DEL allocates %v", n)
	}
	closing := open(4)
	mustNil(t, ep.Add(closing, waiter.EventIn, 0))
	closing.File.DecRef() // the release removes it and spares its item
	ep.mu.Lock()
	spared := ep.spare != nil && ep.spare.file == nil
	ep.mu.Unlock()
	if !spared || ep.Len() != 0 {
		t.Fatalf("the release of the target left no spare item (%d registrations)", ep.Len())
	}
	mustNil(t, ep.CheckInvariants())
}

// TestSpareUnderConcurrentReleases: each target is released while a DEL
// of it runs, and another goroutine adds and deletes registrations that
// reuse the spared items (run with -race: a reused item must not be
// written while a release reads it, and a late release must not remove
// the registration that reused its item).
func TestSpareUnderConcurrentReleases(t *testing.T) {
	ep, open := spareEnv(t)
	keep := open(7)
	mustNil(t, ep.Add(keep, waiter.EventIn, 7))
	churn := open(8)
	for round := range 300 {
		id := FileIdentifier{File: fs.NewEventfd(0, unix.O_NONBLOCK), Fd: int32(round)}
		mustNil(t, ep.Add(id, waiter.EventIn, 1))
		var wg sync.WaitGroup
		wg.Add(3)
		go func() {
			defer wg.Done()
			id.File.DecRef()
		}()
		go func() {
			defer wg.Done()
			// The release may get there first: EBADF (released) or ENOENT.
			if err := ep.Delete(id); err != nil && err != unix.EBADF && err != unix.ENOENT {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			for range 4 {
				if err := ep.Add(churn, waiter.EventIn, 8); err != nil {
					t.Error(err)
					return
				}
				if err := ep.Delete(churn); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		wg.Wait()
		if ep.Len() != 1 {
			t.Fatalf("round %d: %d registrations left, want the one kept", round, ep.Len())
		}
	}
	mustNil(t, ep.CheckInvariants())
}
