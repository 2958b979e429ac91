package waiter_test

import (
	"fmt"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// hook is a Waker that prints its name and the key it was woken with, and
// reports that it took the wakeup.
type hook struct{ name string }

func (h hook) Wake(key waiter.EventMask) bool {
	fmt.Printf("%s woken: %v\n", h.name, key)
	return true
}

// A queue with one plain entry (an epoll registration) and two exclusive ones
// (tasks blocked in a wake-one wait). Notify calls every plain entry and then
// exclusive entries in order until one takes the wakeup: the first exclusive
// waiter wakes, the second does not. NotifyAll wakes everyone.
func Example() {
	var q waiter.Queue
	var plain, first, second waiter.Entry
	plain.Init(hook{"plain"}, false, false)
	first.Init(hook{"exclusive 1"}, true, false)
	second.Init(hook{"exclusive 2"}, true, false)
	q.Register(&first) // exclusive entries go to the tail, in order
	q.Register(&second)
	q.Register(&plain) // a plain entry goes to the head

	fmt.Println("Notify:")
	q.Notify(waiter.ReadableEvents)
	fmt.Println("NotifyAll:")
	q.NotifyAll(waiter.EventHUp)

	q.Unregister(&plain)
	q.Unregister(&first)
	q.Unregister(&second)
	fmt.Println("empty:", q.Empty())
	// Output:
	// Notify:
	// plain woken: IN|RDNORM
	// exclusive 1 woken: IN|RDNORM
	// NotifyAll:
	// plain woken: HUP
	// exclusive 1 woken: HUP
	// exclusive 2 woken: HUP
	// empty: true
}
