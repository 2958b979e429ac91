package epoll_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

const (
	in      = waiter.EventIn
	out     = waiter.EventOut
	hup     = waiter.EventHUp
	errBit  = waiter.EventErr
	et      = waiter.EventET
	oneshot = waiter.EventOneshot
	excl    = waiter.EventExclusive
)

type env struct {
	t  *testing.T
	d  *epoll.Domain
	ep *epoll.EventPoll
	f  *fs.File
}

func newEnv(t *testing.T) *env {
	d := epoll.NewDomain()
	f := epoll.NewFile(d)
	ep, _ := epoll.FromFile(f)
	e := &env{t: t, d: d, ep: ep, f: f}
	t.Cleanup(func() {
		if err := ep.CheckInvariants(); err != nil {
			t.Errorf("invariants: %v", err)
		}
	})
	return e
}

func newEpoll(t *testing.T, d *epoll.Domain) (*epoll.EventPoll, *fs.File) {
	f := epoll.NewFile(d)
	ep, _ := epoll.FromFile(f)
	return ep, f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("got error %v, want %v", got, want)
	}
}

// harvest reads up to max events.
func harvest(ep *epoll.EventPoll, max int) []epoll.Event {
	buf := make([]epoll.Event, max)
	n, _ := ep.ReadEvents(buf, max, nil)
	return buf[:n]
}

func wantEvents(t *testing.T, ep *epoll.EventPoll, max int, want ...epoll.Event) {
	t.Helper()
	got := harvest(ep, max)
	if want == nil {
		want = []epoll.Event{}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
}

func ev(m waiter.EventMask, data uint64) epoll.Event { return epoll.Event{Events: m, Data: data} }

func TestAddReadyIsQueuedInAddOrder(t *testing.T) {
	e := newEnv(t)
	var files []*fs.File
	for i := 0; i < 3; i++ {
		f, _ := kerneltest.NewFakeFile(in)
		files = append(files, f)
	}
	for _, i := range []int{2, 0, 1} {
		must(t, e.ep.Add(epoll.FileIdentifier{File: files[i], Fd: int32(i)}, in, uint64(i)))
	}
	wantEvents(t, e.ep, 8, ev(in, 2), ev(in, 0), ev(in, 1))
}

func TestRoundRobinLevelTriggered(t *testing.T) {
	// docs/semantics.md#ready-order: ready [2,0,1], maxevents 2 → 2,0 then 1,2 then 0,1,
	// then (max 1) 2, then (max 3) 0,1,2.
	e := newEnv(t)
	for _, i := range []int{2, 0, 1} {
		f, _ := kerneltest.NewFakeFile(in)
		must(t, e.ep.Add(epoll.FileIdentifier{File: f, Fd: int32(i)}, in, uint64(i)))
	}
	wantEvents(t, e.ep, 2, ev(in, 2), ev(in, 0))
	wantEvents(t, e.ep, 2, ev(in, 1), ev(in, 2))
	wantEvents(t, e.ep, 2, ev(in, 0), ev(in, 1))
	wantEvents(t, e.ep, 1, ev(in, 2))
	wantEvents(t, e.ep, 3, ev(in, 0), ev(in, 1), ev(in, 2))
}

func TestWakeupAfterHarvestGoesBehindRequeued(t *testing.T) {
	// From [A,B,C] deliver A,B; then D becomes ready → C, A, B, D.
	e := newEnv(t)
	for i := 0; i < 3; i++ {
		f, _ := kerneltest.NewFakeFile(in)
		must(t, e.ep.Add(epoll.FileIdentifier{File: f, Fd: int32(i)}, in, uint64(i)))
	}
	fd, ffd := kerneltest.NewFakeFile(0)
	must(t, e.ep.Add(epoll.FileIdentifier{File: fd, Fd: 3}, in, 3))
	wantEvents(t, e.ep, 2, ev(in, 0), ev(in, 1))
	ffd.Signal(in, in)
	wantEvents(t, e.ep, 8, ev(in, 2), ev(in, 0), ev(in, 1), ev(in, 3))
}

func TestStaleEntryDroppedAndDoesNotUseASlot(t *testing.T) {
	e := newEnv(t)
	a, fa := kerneltest.NewFakeFile(in)
	b, _ := kerneltest.NewFakeFile(in)
	must(t, e.ep.Add(epoll.FileIdentifier{File: a, Fd: 1}, in, 1))
	must(t, e.ep.Add(epoll.FileIdentifier{File: b, Fd: 2}, in, 2))
	fa.Set(0)
	wantEvents(t, e.ep, 1, ev(in, 2))
	// a is gone from the ready list until its next wakeup.
	fa.Set(in)
	wantEvents(t, e.ep, 8, ev(in, 2))
	fa.Signal(in, in)
	wantEvents(t, e.ep, 8, ev(in, 2), ev(in, 1))
}

func TestEdgeTriggeredRequeuedOnEveryWakeup(t *testing.T) {
	e := newEnv(t)
	f, ff := kerneltest.NewFakeFile(0)
	must(t, e.ep.Add(epoll.FileIdentifier{File: f, Fd: 1}, in|et, 7))
	wantEvents(t, e.ep, 8)
	ff.Signal(in, in)
	wantEvents(t, e.ep, 8, ev(in, 7))
	wantEvents(t, e.ep, 8)
	// Still readable, never drained: a new wakeup re-queues it.
	ff.Signal(in, in)
	wantEvents(t, e.ep, 8, ev(in, 7))
	// Wakeup for an event not in the interest: ignored.
	ff.Signal(in|out, out)
	wantEvents(t, e.ep, 8)
	// Key 0 means all events.
	ff.Signal(in|out, 0)
	wantEvents(t, e.ep, 8, ev(in, 7))
}

func TestEdgeTriggeredReportsWholeCurrentLevel(t *testing.T) {
	e := newEnv(t)
	f, ff := kerneltest.NewFakeFile(out)
	must(t, e.ep.Add(epoll.FileIdentifier{File: f, Fd: 1}, in|out|et, 1))
	wantEvents(t, e.ep, 8, ev(out, 1))
	ff.Signal(in|out, in)
	wantEvents(t, e.ep, 8, ev(in|out, 1))
}

func TestWakeThenDrainBeforeWaitReportsNothing(t *testing.T) {
	e := newEnv(t)
	f, ff := kerneltest.NewFakeFile(0)
	must(t, e.ep.Add(epoll.FileIdentifier{File: f, Fd: 1}, in|et, 1))
	ff.Signal(in, in)
	ff.Set(0)
	wantEvents(t, e.ep, 8)
}

func TestOneshotDisarmsIncludingHupAndModRearms(t *testing.T) {
	e := newEnv(t)
	f, ff := kerneltest.NewFakeFile(in)
	id := epoll.FileIdentifier{File: f, Fd: 1}
	must(t, e.ep.Add(id, in|oneshot, 1))
	wantEvents(t, e.ep, 8, ev(in, 1))
	if got := e.ep.Interests()[0].Events; got != oneshot {
		t.Fatalf("disarmed interest %v, want ONESHOT only", got)
	}
	ff.Signal(in|hup, 0)
	wantEvents(t, e.ep, 8)
	must(t, e.ep.Modify(id, in|oneshot, 2))
	wantEvents(t, e.ep, 8, ev(in|hup, 2))
	wantEvents(t, e.ep, 8)
}

func TestOneshotQueuedButNotHarvestedIsStillArmed(t *testing.T) {
	e := newEnv(t)
	f, ff := kerneltest.NewFakeFile(0)
	must(t, e.ep.Add(epoll.FileIdentifier{File: f, Fd: 1}, in|oneshot, 1))
	ff.Signal(in, in)
	ff.Signal(in, in)
	wantEvents(t, e.ep, 8, ev(in, 1))
}

func TestInterestAlwaysHasErrHupAndZeroInterestReportsHup(t *testing.T) {
	e := newEnv(t)
	f, ff := kerneltest.NewFakeFile(in | out)
	id := epoll.FileIdentifier{File: f, Fd: 1}
	must(t, e.ep.Add(id, 0, 5))
	if got := e.ep.Interests()[0].Events; got != errBit|hup {
		t.Fatalf("stored %v, want ERR|HUP", got)
	}
	wantEvents(t, e.ep, 8)
	ff.Signal(in|hup, 0)
	wantEvents(t, e.ep, 8, ev(hup, 5))
}

func TestModKeepsQueuedPositionAndUsesNewData(t *testing.T) {
	e := newEnv(t)
	a, _ := kerneltest.NewFakeFile(in)
	b, _ := kerneltest.NewFakeFile(in)
	ida := epoll.FileIdentifier{File: a, Fd: 1}
	must(t, e.ep.Add(ida, in, 1))
	must(t, e.ep.Add(epoll.FileIdentifier{File: b, Fd: 2}, in, 2))
	must(t, e.ep.Modify(ida, in, 41))
	wantEvents(t, e.ep, 8, ev(in, 41), ev(in, 2))
}

func TestModToNonMatchingInterestIsNotReported(t *testing.T) {
	e := newEnv(t)
	a, _ := kerneltest.NewFakeFile(in)
	id := epoll.FileIdentifier{File: a, Fd: 1}
	must(t, e.ep.Add(id, in, 1))
	must(t, e.ep.Modify(id, out, 1))
	wantEvents(t, e.ep, 8)
}

func TestModRearmsEdgeTriggered(t *testing.T) {
	e := newEnv(t)
	f, _ := kerneltest.NewFakeFile(in)
	id := epoll.FileIdentifier{File: f, Fd: 1}
	must(t, e.ep.Add(id, in|et, 1))
	wantEvents(t, e.ep, 8, ev(in, 1))
	wantEvents(t, e.ep, 8)
	must(t, e.ep.Modify(id, in|et, 1))
	wantEvents(t, e.ep, 8, ev(in, 1))
}

func TestCtlErrors(t *testing.T) {
	e := newEnv(t)
	f, _ := kerneltest.NewFakeFile(0)
	other, _ := newEpoll(t, e.d)
	id := epoll.FileIdentifier{File: f, Fd: 3}
	reg := kerneltest.NewRegularFile()
	for _, tc := range []struct {
		name string
		op   func() error
		want error
	}{
		{"mod unregistered", func() error { return e.ep.Modify(id, in, 0) }, unix.ENOENT},
		{"del unregistered", func() error { return e.ep.Delete(id) }, unix.ENOENT},
		{"mod exclusive unregistered", func() error { return e.ep.Modify(id, in|excl, 0) }, unix.EINVAL},
		{"add self", func() error { return e.ep.Add(epoll.FileIdentifier{File: e.f, Fd: 4}, in, 0) }, unix.EINVAL},
		{"add regular", func() error { return e.ep.Add(epoll.FileIdentifier{File: reg, Fd: 5}, in, 0) }, unix.EPERM},
		{"del regular", func() error { return e.ep.Delete(epoll.FileIdentifier{File: reg, Fd: 5}) }, unix.EPERM},
		{"exclusive with rdhup", func() error { return e.ep.Add(id, in|excl|waiter.EventRdHUp, 0) }, unix.EINVAL},
		{"exclusive with oneshot", func() error { return e.ep.Add(id, in|excl|oneshot, 0) }, unix.EINVAL},
		{"exclusive with unknown bit", func() error { return e.ep.Add(id, in|excl|1<<16, 0) }, unix.EINVAL},
		{"exclusive epoll target", func() error {
			return e.ep.Add(epoll.FileIdentifier{File: other.File(), Fd: 6}, in|excl, 0)
		}, unix.EINVAL},
		{"add", func() error { return e.ep.Add(id, in, 0) }, nil},
		{"add again", func() error { return e.ep.Add(id, in, 0) }, unix.EEXIST},
		{"exclusive beats eexist", func() error { return e.ep.Add(id, in|excl|waiter.EventRdHUp, 0) }, unix.EINVAL},
		{"same file other fd", func() error { return e.ep.Add(epoll.FileIdentifier{File: f, Fd: 9}, in, 0) }, nil},
		{"del", func() error { return e.ep.Delete(id) }, nil},
		{"add exclusive", func() error { return e.ep.Add(id, in|excl|et|waiter.EventWakeup, 0) }, nil},
		{"mod exclusive entry", func() error { return e.ep.Modify(id, in, 0) }, unix.EINVAL},
	} {
		if got := tc.op(); !errors.Is(got, tc.want) && !(got == nil && tc.want == nil) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestWakeupStrippedUnlessKept(t *testing.T) {
	e := newEnv(t)
	f, _ := kerneltest.NewFakeFile(0)
	must(t, e.ep.Add(epoll.FileIdentifier{File: f, Fd: 1}, in|waiter.EventWakeup|1<<20, 0))
	if got := e.ep.Interests()[0].Events; got != in|errBit|hup|1<<20 {
		t.Fatalf("stored %v", got)
	}
	e.d.SetKeepWakeup(true)
	g, _ := kerneltest.NewFakeFile(0)
	must(t, e.ep.Add(epoll.FileIdentifier{File: g, Fd: 2}, in|waiter.EventWakeup, 0))
	if got := e.ep.Interests()[1].Events; got != in|errBit|hup|waiter.EventWakeup {
		t.Fatalf("stored %v", got)
	}
}

func TestTwoFdsOfOneFileLaterHookCalledFirst(t *testing.T) {
	// Non-exclusive hooks are inserted at the head of the target's queue,
	// so the later registration is queued first on a wakeup.
	e := newEnv(t)
	f, ff := kerneltest.NewFakeFile(0)
	must(t, e.ep.Add(epoll.FileIdentifier{File: f, Fd: 1}, in, 1))
	must(t, e.ep.Add(epoll.FileIdentifier{File: f, Fd: 2}, in, 2))
	ff.Signal(in, in)
	wantEvents(t, e.ep, 8, ev(in, 2), ev(in, 1))
}

func TestFinalReleaseRemovesRegistrationsButCloseOfOneRefDoesNot(t *testing.T) {
	e := newEnv(t)
	f, ff := kerneltest.NewFakeFile(in)
	f.IncRef() // a dup
	must(t, e.ep.Add(epoll.FileIdentifier{File: f, Fd: 1}, in, 1))
	f.DecRef() // close one fd
	wantEvents(t, e.ep, 8, ev(in, 1))
	if e.d.Watches() != 1 {
		t.Fatalf("watches %d", e.d.Watches())
	}
	f.DecRef() // the last one
	if !ff.Released() || e.ep.Len() != 0 || e.d.Watches() != 0 {
		t.Fatalf("released=%v len=%d watches=%d", ff.Released(), e.ep.Len(), e.d.Watches())
	}
	wantEvents(t, e.ep, 8)
}

func TestDeleteWhileQueuedLosesEvent(t *testing.T) {
	e := newEnv(t)
	f, _ := kerneltest.NewFakeFile(in)
	id := epoll.FileIdentifier{File: f, Fd: 1}
	must(t, e.ep.Add(id, in, 1))
	must(t, e.ep.Delete(id))
	wantEvents(t, e.ep, 8)
	if e.d.Watches() != 0 {
		t.Fatal("watch not given back")
	}
}

func TestMaxUserWatches(t *testing.T) {
	e := newEnv(t)
	e.d.SetMaxUserWatches(2)
	f, _ := kerneltest.NewFakeFile(0)
	must(t, e.ep.Add(epoll.FileIdentifier{File: f, Fd: 1}, in, 0))
	must(t, e.ep.Add(epoll.FileIdentifier{File: f, Fd: 2}, in, 0))
	wantErr(t, e.ep.Add(epoll.FileIdentifier{File: f, Fd: 2}, in, 0), unix.EEXIST)
	wantErr(t, e.ep.Add(epoll.FileIdentifier{File: f, Fd: 3}, in, 0), unix.ENOSPC)
	must(t, e.ep.Delete(epoll.FileIdentifier{File: f, Fd: 1}))
	must(t, e.ep.Add(epoll.FileIdentifier{File: f, Fd: 3}, in, 0))
	if e.ep.Len() != 2 {
		t.Fatal("failed ADD left a trace")
	}
}

// shortWriter accepts only n events, then faults.
type shortWriter struct {
	n   int
	got []epoll.Event
}

func (w *shortWriter) WriteEvents(evs []epoll.Event) (int, error) {
	k := min(w.n, len(evs))
	w.n -= k
	w.got = append(w.got, evs[:k]...)
	if k < len(evs) {
		return k, unix.EFAULT
	}
	return k, nil
}

func TestPartialCopyPutsEventsBack(t *testing.T) {
	// One writable slot, three ready (the middle one ONESHOT, the last ET):
	// returns 1; the next harvest gets the two untouched ones then the LT
	// one just delivered.
	e := newEnv(t)
	a, _ := kerneltest.NewFakeFile(in)
	b, _ := kerneltest.NewFakeFile(in)
	c, _ := kerneltest.NewFakeFile(in)
	must(t, e.ep.Add(epoll.FileIdentifier{File: a, Fd: 1}, in, 1))
	must(t, e.ep.Add(epoll.FileIdentifier{File: b, Fd: 2}, in|oneshot, 2))
	must(t, e.ep.Add(epoll.FileIdentifier{File: c, Fd: 3}, in|et, 3))
	w := &shortWriter{n: 1}
	n, err := e.ep.ReadEvents(make([]epoll.Event, 8), 8, w)
	if n != 1 || err != nil {
		t.Fatalf("got %d, %v", n, err)
	}
	wantEvents(t, e.ep, 8, ev(in, 2), ev(in, 3), ev(in, 1))
	w = &shortWriter{n: 0}
	if n, err := e.ep.ReadEvents(make([]epoll.Event, 8), 8, w); n != 0 || !errors.Is(err, unix.EFAULT) {
		t.Fatalf("got %d, %v; want EFAULT", n, err)
	}
	wantEvents(t, e.ep, 8, ev(in, 1))
}

func TestChunkedHarvestMatchesOneShot(t *testing.T) {
	e := newEnv(t)
	var want []epoll.Event
	for i := 0; i < 20; i++ {
		f, _ := kerneltest.NewFakeFile(in)
		must(t, e.ep.Add(epoll.FileIdentifier{File: f, Fd: int32(i)}, in, uint64(i)))
		if i < 13 {
			want = append(want, ev(in, uint64(i)))
		}
	}
	w := &shortWriter{n: 1 << 30}
	n, err := e.ep.ReadEvents(make([]epoll.Event, 4), 13, w)
	if n != 13 || err != nil {
		t.Fatalf("got %d, %v", n, err)
	}
	if diff := cmp.Diff(want, w.got); diff != "" {
		t.Fatal(diff)
	}
	// Undelivered 13..19 first, then the re-queued 0..12.
	got := harvest(e.ep, 20)
	if got[0].Data != 13 || got[7].Data != 0 {
		t.Fatalf("order after chunked harvest: %v", got)
	}
}

// committingWriter accepts every event and then answers CommitEvents with
// refuse (nil: commit).
type committingWriter struct {
	shortWriter
	refuse  error
	commits []int
}

func (w *committingWriter) CommitEvents(n int) error {
	w.commits = append(w.commits, n)
	return w.refuse
}

func TestRefusedCommitPutsWholeHarvestBack(t *testing.T) {
	// 10 ready (LT, ONESHOT, ET in turn) over chunks of 4, one not ready
	// any more: a refused commit leaves all of them queued, in order,
	// ONESHOT still armed; an accepted one consumes them as ReadEvents
	// without a committer does.
	for _, refuse := range []bool{true, false} {
		e := newEnv(t)
		var want []epoll.Event
		for i := 0; i < 10; i++ {
			f, q := kerneltest.NewFakeFile(in)
			mode := []waiter.EventMask{0, oneshot, et}[i%3]
			must(t, e.ep.Add(epoll.FileIdentifier{File: f, Fd: int32(i)}, in|mode, uint64(i)))
			if i == 5 {
				q.Set(0)
				continue
			}
			want = append(want, ev(in, uint64(i)))
		}
		w := &committingWriter{shortWriter: shortWriter{n: 1 << 30}}
		if refuse {
			w.refuse = unix.EINTR
		}
		n, err := e.ep.ReadEvents(make([]epoll.Event, 4), 16, w)
		if diff := cmp.Diff(want, w.got); diff != "" {
			t.Fatalf("written (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]int{9}, w.commits); diff != "" {
			t.Fatalf("commits (-want +got):\n%s", diff)
		}
		if refuse {
			if n != 0 || !errors.Is(err, unix.EINTR) {
				t.Fatalf("refused: got %d, %v; want 0, EINTR", n, err)
			}
			// Everything again, in the same order: nothing was consumed.
			wantEvents(t, e.ep, 16, want...)
		} else if n != 9 || err != nil {
			t.Fatalf("committed: got %d, %v; want 9, nil", n, err)
		}
		// Consumed once: only the level-triggered ones come back.
		wantEvents(t, e.ep, 16, ev(in, 0), ev(in, 3), ev(in, 6), ev(in, 9))
	}
}

func TestCommitSeesPartialCountAndNoCommitForNothing(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 3; i++ {
		f, _ := kerneltest.NewFakeFile(in)
		must(t, e.ep.Add(epoll.FileIdentifier{File: f, Fd: int32(i)}, in|oneshot, uint64(i)))
	}
	// A fault after 2 events: the commit is asked for those 2.
	w := &committingWriter{shortWriter: shortWriter{n: 2}}
	if n, err := e.ep.ReadEvents(make([]epoll.Event, 8), 8, w); n != 2 || err != nil {
		t.Fatalf("got %d, %v; want 2, nil", n, err)
	}
	if diff := cmp.Diff([]int{2}, w.commits); diff != "" {
		t.Fatalf("commits (-want +got):\n%s", diff)
	}
	// A fault on the first event: no commit, EFAULT, still queued.
	w = &committingWriter{shortWriter: shortWriter{n: 0}}
	if n, err := e.ep.ReadEvents(make([]epoll.Event, 8), 8, w); n != 0 || !errors.Is(err, unix.EFAULT) {
		t.Fatalf("got %d, %v; want 0, EFAULT", n, err)
	}
	if len(w.commits) != 0 {
		t.Fatalf("commit called for an empty harvest: %v", w.commits)
	}
	wantEvents(t, e.ep, 8, ev(in, 2))
}

func TestExclusiveWakesFirstInstanceOnly(t *testing.T) {
	// One file in four instances, all EXCLUSIVE, a waiter on each: one
	// wakeup queues the first instance's item only.
	d := epoll.NewDomain()
	f, ff := kerneltest.NewFakeFile(0)
	var eps []*epoll.EventPoll
	var threads []*kerneltest.Thread
	results := make(chan int, 4)
	for i := 0; i < 4; i++ {
		ep, _ := newEpoll(t, d)
		must(t, ep.Add(epoll.FileIdentifier{File: f, Fd: 3}, in|excl, uint64(i)))
		eps = append(eps, ep)
		th := kerneltest.NewThread()
		threads = append(threads, th)
		go func(i int) {
			n, _ := ep.Wait(th, make([]epoll.Event, 8), 8, nil, time.Time{}, false)
			if n > 0 {
				results <- i
			} else {
				results <- -1
			}
		}(i)
	}
	waitForWaiters(t, eps)
	ff.Signal(in, in)
	if got := <-results; got != 0 {
		t.Fatalf("woken instance %d, want 0", got)
	}
	for i := 1; i < 4; i++ {
		if eps[i].EventsAvailable() {
			t.Errorf("instance %d queued the event", i)
		}
		threads[i].Interrupt()
	}
	for i := 1; i < 4; i++ {
		if got := <-results; got != -1 {
			t.Errorf("instance %d returned events", got)
		}
	}
}

func TestExclusiveWithoutWaitersQueuesEverywhere(t *testing.T) {
	d := epoll.NewDomain()
	f, ff := kerneltest.NewFakeFile(0)
	var eps []*epoll.EventPoll
	for i := 0; i < 3; i++ {
		ep, _ := newEpoll(t, d)
		must(t, ep.Add(epoll.FileIdentifier{File: f, Fd: 3}, in|excl, uint64(i)))
		eps = append(eps, ep)
	}
	ff.Signal(in, in)
	for i, ep := range eps {
		wantEvents(t, ep, 8, ev(in, uint64(i)))
	}
}

// waitForWaiters waits until every instance has a thread blocked in Wait.
func waitForWaiters(t *testing.T, eps []*epoll.EventPoll) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, ep := range eps {
		for !ep.HasWaiters() {
			if time.Now().After(deadline) {
				t.Fatal("waiters never blocked")
			}
			time.Sleep(time.Millisecond)
		}
	}
}

func TestWaitLevelTriggeredWakesAllWaitersEdgeTriggeredOne(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags waiter.EventMask
		woken int
	}{{"LT", 0, 4}, {"ET", et, 1}, {"ONESHOT", oneshot, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			f, ff := kerneltest.NewFakeFile(0)
			must(t, e.ep.Add(epoll.FileIdentifier{File: f, Fd: 1}, in|tc.flags, 1))
			results := make(chan int, 4)
			var threads []*kerneltest.Thread
			for i := 0; i < 4; i++ {
				th := kerneltest.NewThread()
				threads = append(threads, th)
				go func() {
					n, err := e.ep.Wait(th, make([]epoll.Event, 8), 8, nil, time.Now().Add(300*time.Millisecond), false)
					if err != nil {
						n = -1
					}
					results <- n
				}()
			}
			waitForWaiters(t, []*epoll.EventPoll{e.ep})
			time.Sleep(20 * time.Millisecond)
			ff.Signal(in, in)
			woken := 0
			for i := 0; i < 4; i++ {
				if <-results == 1 {
					woken++
				}
			}
			if woken != tc.woken {
				t.Fatalf("%d threads returned the event, want %d", woken, tc.woken)
			}
		})
	}
}

func TestWaitTimeoutAndStaleWakeupDoesNotReturnEarly(t *testing.T) {
	e := newEnv(t)
	f, ff := kerneltest.NewFakeFile(0)
	must(t, e.ep.Add(epoll.FileIdentifier{File: f, Fd: 1}, in, 1))
	th := kerneltest.NewThread()
	go func() {
		time.Sleep(20 * time.Millisecond)
		ff.Signal(0, in) // a wakeup whose level is gone by harvest time
	}()
	start := time.Now()
	n, err := e.ep.Wait(th, make([]epoll.Event, 8), 8, nil, start.Add(100*time.Millisecond), false)
	if n != 0 || err != nil || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("got %d %v after %v", n, err, time.Since(start))
	}
}

func TestWaitNonblockingIgnoresPendingSignal(t *testing.T) {
	e := newEnv(t)
	th := kerneltest.NewThread()
	th.Interrupt()
	if n, err := e.ep.Wait(th, make([]epoll.Event, 8), 8, nil, time.Time{}, true); n != 0 || err != nil {
		t.Fatalf("got %d %v", n, err)
	}
	if _, err := e.ep.Wait(th, make([]epoll.Event, 8), 8, nil, time.Time{}, false); !errors.Is(err, unix.EINTR) {
		t.Fatalf("got %v, want EINTR", err)
	}
	// Ready events win over a pending signal.
	f, _ := kerneltest.NewFakeFile(in)
	must(t, e.ep.Add(epoll.FileIdentifier{File: f, Fd: 1}, in, 1))
	if n, err := e.ep.Wait(th, make([]epoll.Event, 8), 8, nil, time.Time{}, false); n != 1 || err != nil {
		t.Fatalf("got %d %v", n, err)
	}
}

func TestAddOfReadyFileWakesBlockedWaiter(t *testing.T) {
	e := newEnv(t)
	th := kerneltest.NewThread()
	done := make(chan int)
	go func() {
		n, _ := e.ep.Wait(th, make([]epoll.Event, 8), 8, nil, time.Time{}, false)
		done <- n
	}()
	waitForWaiters(t, []*epoll.EventPoll{e.ep})
	f, _ := kerneltest.NewFakeFile(in)
	must(t, e.ep.Add(epoll.FileIdentifier{File: f, Fd: 1}, in, 1))
	select {
	case n := <-done:
		if n != 1 {
			t.Fatalf("got %d", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not woken by ADD")
	}
}

func TestEpollFileReadinessAndPruning(t *testing.T) {
	e := newEnv(t)
	f, ff := kerneltest.NewFakeFile(in)
	must(t, e.ep.Add(epoll.FileIdentifier{File: f, Fd: 1}, in|et, 1))
	if got := e.f.Readiness(^waiter.EventMask(0)); got != in|waiter.EventRdNorm {
		t.Fatalf("readiness %v", got)
	}
	wantEvents(t, e.ep, 8, ev(in, 1))
	// Harvested ET entry: the epoll is not readable although f is.
	if got := e.f.Readiness(^waiter.EventMask(0)); got != 0 {
		t.Fatalf("readiness after ET harvest %v", got)
	}
	ff.Signal(in, in)
	ff.Set(0)
	if got := e.f.Readiness(^waiter.EventMask(0)); got != 0 {
		t.Fatalf("readiness of stale entry %v", got)
	}
	if e.ep.EventsAvailable() {
		t.Fatal("stale entry not pruned by the readiness check")
	}
}

func TestNestedPropagation(t *testing.T) {
	d := epoll.NewDomain()
	outer, _ := newEpoll(t, d)
	inner, innerFile := newEpoll(t, d)
	f, ff := kerneltest.NewFakeFile(0)
	must(t, inner.Add(epoll.FileIdentifier{File: f, Fd: 1}, in, 1))
	must(t, outer.Add(epoll.FileIdentifier{File: innerFile, Fd: 2}, in|out|waiter.EventRdNorm|et, 2))
	wantEvents(t, outer, 8)
	ff.Signal(in, in)
	wantEvents(t, outer, 8, ev(in|waiter.EventRdNorm, 2))
	// Each accepted callback inside the inner re-queues the ET outer entry.
	ff.Signal(in, in)
	wantEvents(t, outer, 8, ev(in|waiter.EventRdNorm, 2))
	wantEvents(t, outer, 8)
	// Inner released: auto-removed from outer.
	innerFile.DecRef()
	if outer.Len() != 0 {
		t.Fatal("released inner still registered")
	}
}

func TestNestedOutOnlyNeverFires(t *testing.T) {
	d := epoll.NewDomain()
	outer, _ := newEpoll(t, d)
	inner, innerFile := newEpoll(t, d)
	f, ff := kerneltest.NewFakeFile(0)
	must(t, inner.Add(epoll.FileIdentifier{File: f, Fd: 1}, in, 1))
	must(t, outer.Add(epoll.FileIdentifier{File: innerFile, Fd: 2}, out, 2))
	ff.Signal(in, in)
	wantEvents(t, outer, 8)
}

func chain(t *testing.T, d *epoll.Domain, n int) []*epoll.EventPoll {
	var eps []*epoll.EventPoll
	for i := 0; i < n; i++ {
		ep, _ := newEpoll(t, d)
		eps = append(eps, ep)
		if i > 0 {
			must(t, eps[i-1].Add(epoll.FileIdentifier{File: ep.File(), Fd: int32(100 + i)}, in, 0))
		}
	}
	return eps
}

func TestLoopAndDepthLimits(t *testing.T) {
	d := epoll.NewDomain()
	// Five instances in a chain are fine, a sixth is ELOOP, both top-down
	// and bottom-up.
	eps := chain(t, d, 5)
	sixth, _ := newEpoll(t, d)
	wantErr(t, eps[4].Add(epoll.FileIdentifier{File: sixth.File(), Fd: 1}, in, 0), unix.ELOOP)
	top, _ := newEpoll(t, d)
	wantErr(t, top.Add(epoll.FileIdentifier{File: eps[0].File(), Fd: 1}, in, 0), unix.ELOOP)
	// Cycles, direct and indirect.
	a := chain(t, d, 3)
	wantErr(t, a[2].Add(epoll.FileIdentifier{File: a[0].File(), Fd: 1}, in, 0), unix.ELOOP)
	wantErr(t, a[1].Add(epoll.FileIdentifier{File: a[0].File(), Fd: 1}, in, 0), unix.ELOOP)
	// Re-ADD of a contained epoll under the same key: EEXIST after the loop
	// check passes; under another fd: a second entry.
	wantErr(t, a[0].Add(epoll.FileIdentifier{File: a[1].File(), Fd: 101}, in, 0), unix.EEXIST)
	must(t, a[0].Add(epoll.FileIdentifier{File: a[1].File(), Fd: 7}, in, 0))
	// Two 3-chains joined make 6 levels: ELOOP; 2+2 is fine.
	b := chain(t, d, 3)
	wantErr(t, a[2].Add(epoll.FileIdentifier{File: b[0].File(), Fd: 1}, in, 0), unix.ELOOP)
	c, dd := chain(t, d, 2), chain(t, d, 2)
	must(t, c[1].Add(epoll.FileIdentifier{File: dd[0].File(), Fd: 1}, in, 0))
}

func TestReversePathLimit(t *testing.T) {
	// A file in inner_i, each inner in one outer: the 501st link of an inner
	// into the outer is EINVAL.
	d := epoll.NewDomain()
	outer, _ := newEpoll(t, d)
	f, _ := kerneltest.NewFakeFile(0)
	for i := 0; i < 501; i++ {
		inner, _ := newEpoll(t, d)
		must(t, inner.Add(epoll.FileIdentifier{File: f, Fd: 3}, in, 0))
		err := outer.Add(epoll.FileIdentifier{File: inner.File(), Fd: int32(10 + i)}, in, 0)
		if i < 500 {
			must(t, err)
		} else {
			wantErr(t, err, unix.EINVAL)
		}
	}
	if outer.Len() != 500 {
		t.Fatalf("failed ADD left a trace: %d", outer.Len())
	}
	// Adding the file into a new inner already inside the outer fails too.
	inner, _ := newEpoll(t, d)
	must(t, outer.Add(epoll.FileIdentifier{File: inner.File(), Fd: 5}, in, 0))
	wantErr(t, inner.Add(epoll.FileIdentifier{File: f, Fd: 3}, in, 0), unix.EINVAL)
	if err := outer.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

// TestWatchersCount: an instance's count of the registrations that watch
// it (which Add reads instead of its watch list) follows ADD, DEL, a
// failed ADD and the watcher's release.
func TestWatchersCount(t *testing.T) {
	d := epoll.NewDomain()
	inner, innerFile := newEpoll(t, d)
	outer1, _ := newEpoll(t, d)
	outer2, outer2File := newEpoll(t, d)
	check := func(step string) {
		t.Helper()
		for _, ep := range []*epoll.EventPoll{inner, outer1, outer2} {
			if err := ep.CheckInvariants(); err != nil {
				t.Fatalf("%s: %v", step, err)
			}
		}
	}
	id := epoll.FileIdentifier{File: innerFile, Fd: 7}
	must(t, outer1.Add(id, in, 0))
	must(t, outer2.Add(id, in, 0))
	check("two ADDs")
	// A cycle is refused after nothing was inserted; the count stays.
	wantErr(t, inner.Add(epoll.FileIdentifier{File: outer1.File(), Fd: 8}, in, 0), unix.ELOOP)
	check("ELOOP")
	must(t, outer1.Delete(id))
	check("DEL")
	outer2File.DecRef()
	check("watcher released")
	f, _ := kerneltest.NewFakeFile(in)
	defer f.DecRef()
	must(t, inner.Add(epoll.FileIdentifier{File: f, Fd: 3}, in, 0))
	check("ADD into the unwatched instance")
}

func TestEpollReleaseRemovesEverything(t *testing.T) {
	d := epoll.NewDomain()
	ep, f := newEpoll(t, d)
	var files []*fs.File
	for i := 0; i < 10; i++ {
		tf, _ := kerneltest.NewFakeFile(in)
		files = append(files, tf)
		must(t, ep.Add(epoll.FileIdentifier{File: tf, Fd: int32(i)}, in, 0))
	}
	f.DecRef()
	if d.Watches() != 0 {
		t.Fatalf("%d watches left", d.Watches())
	}
	for _, tf := range files {
		if tf.Watched() {
			t.Fatal("target still watched")
		}
		tf.DecRef()
	}
}

func ExampleEventPoll() {
	d := epoll.NewDomain()
	epFile := epoll.NewFile(d)
	defer epFile.DecRef()
	ep, _ := epoll.FromFile(epFile)

	f, ff := kerneltest.NewFakeFile(0)
	defer f.DecRef()
	_ = ep.Add(epoll.FileIdentifier{File: f, Fd: 4}, waiter.EventIn|waiter.EventET, 42)
	ff.Signal(waiter.EventIn, waiter.EventIn)

	events := make([]epoll.Event, 8)
	n, _ := ep.ReadEvents(events, len(events), nil)
	fmt.Println(n, events[0].Events, events[0].Data)
	// Output: 1 IN 42
}
