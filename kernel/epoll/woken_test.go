package epoll_test

import (
	"testing"
	"time"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
	"github.com/guestpoll/guestpoll/kernel/epoll"
)

// Wakeups leave items on the lock-free woken list until a holder of the
// instance's lock drains it into the ready list. These tests catch every
// operation that must drain it first.

// A DEL of an item a wakeup queued (and nobody drained yet) loses the
// event, as a DEL of a queued item does in Linux.
func TestDeleteOfWokenItemLosesEvent(t *testing.T) {
	e := newEnv(t)
	f, ff := kerneltest.NewFakeFile(0)
	id := epoll.FileIdentifier{File: f, Fd: 1}
	must(t, e.ep.Add(id, in, 1))
	ff.Signal(in, in) // queued by the wakeup only
	must(t, e.ep.Delete(id))
	wantEvents(t, e.ep, 8)
}

// A MOD that queues its item puts it behind items woken before it, in
// Linux's order (the wakeup added to the ready list first).
func TestModAfterWakeupKeepsWakeupOrder(t *testing.T) {
	e := newEnv(t)
	fa, fua := kerneltest.NewFakeFile(0)
	fb, fub := kerneltest.NewFakeFile(0)
	must(t, e.ep.Add(epoll.FileIdentifier{File: fa, Fd: 1}, in, 1))
	must(t, e.ep.Add(epoll.FileIdentifier{File: fb, Fd: 2}, in, 2))
	fua.Signal(in, in) // A woken first
	fub.Set(in)        // B ready without a wakeup; the MOD queues it
	must(t, e.ep.Modify(epoll.FileIdentifier{File: fb, Fd: 2}, in, 2))
	wantEvents(t, e.ep, 8, ev(in, 1), ev(in, 2))
}

// A MOD of a woken item leaves it queued (not twice), and a non-blocking
// wait, which looks at the events-available mirror first, still sees it.
func TestModOfWokenItemStaysAvailable(t *testing.T) {
	e := newEnv(t)
	f, ff := kerneltest.NewFakeFile(0)
	id := epoll.FileIdentifier{File: f, Fd: 1}
	must(t, e.ep.Add(id, in, 1))
	ff.Signal(in, in)
	must(t, e.ep.Modify(id, in, 7))
	if !e.ep.EventsAvailable() {
		t.Fatal("EventsAvailable is false with an item queued")
	}
	buf := make([]epoll.Event, 8)
	n, err := e.ep.Wait(kerneltest.NewThread(), buf, len(buf), nil, time.Time{}, true)
	if err != nil || n != 1 || buf[0] != ev(in, 7) {
		t.Fatalf("Wait = %d, %v, %v; want one event with data 7", n, err, buf[:n])
	}
}
