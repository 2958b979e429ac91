package peers

import (
	"testing"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// modelRoundTrip: two goroutines ping-pong through two eventfds, each
// watched level-triggered by its own instance (kernel/epoll's
// BenchmarkWakeupRoundTrip).
func modelRoundTrip(testing.TB) (roundTrip, stop func()) {
	return kerneltest.ModelRoundTrip(waiter.EventIn)
}
