package epoll_test

import (
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkSyncFloor measures what the primitives of the model's
// synchronisation cost on this machine (issue 17): op=mutex-pair, an
// uncontended sync.Mutex Lock + Unlock; op=atomic-add, one atomic
// read-modify-write (LOCK XADD); op=atomic-store, one sequentially
// consistent store (XCHG). The round trip made of nothing but the model's
// synchronisation is BenchmarkWakeupRoundTrip/impl=floor
// (kerneltest.BenchSyncFloorRoundTrip), run beside the model's so that
// the same run shows how close the model is to it.
func BenchmarkSyncFloor(b *testing.B) {
	b.Run("op=mutex-pair", func(b *testing.B) {
		var mu sync.Mutex
		for b.Loop() {
			mu.Lock()
			mu.Unlock()
		}
	})
	b.Run("op=atomic-add", func(b *testing.B) {
		var n atomic.Int64
		for b.Loop() {
			n.Add(1)
		}
	})
	b.Run("op=atomic-store", func(b *testing.B) {
		var n atomic.Int64
		for i := int64(0); b.Loop(); i++ {
			n.Store(i)
		}
	})
}
