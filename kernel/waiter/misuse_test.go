package waiter_test

import (
	"testing"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// Misuse of entries panics naming it instead of corrupting a queue.
func TestEntryMisusePanics(t *testing.T) {
	s := waiter.NewSleeper()
	var a, b waiter.Queue
	var e waiter.Entry
	e.Init(s, false, false)
	a.Register(&e)
	kerneltest.MustPanic(t, "waiter: entry registered twice", func() { a.Register(&e) })
	kerneltest.MustPanic(t, "waiter: Entry.Init of an entry that is on a queue", func() { e.Init(s, true, false) })
	kerneltest.MustPanic(t, "waiter: Unregister of an entry from a queue it is not on", func() { b.Unregister(&e) })
	if !a.Unregister(&e) || !a.Empty() || !b.Empty() {
		t.Fatal("the queues were changed by the refused calls")
	}
	var never waiter.Entry
	kerneltest.MustPanic(t, "waiter: Register of an entry that was never Init", func() { a.Register(&never) })
	kerneltest.MustPanic(t, "waiter: Entry.Init with a nil Waker", func() { never.Init(nil, false, false) })
}
