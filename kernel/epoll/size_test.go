package epoll

import (
	"testing"
	"unsafe"
)

// TestItemSize: an item is what one registration allocates; it must fit
// the 128-byte size class (docs/performance.md's memory target).
func TestItemSize(t *testing.T) {
	if s := unsafe.Sizeof(item{}); s > 128 {
		t.Errorf("item is %d bytes, want at most 128", s)
	}
}

// TestReadyListInFirstCacheLine: every harvest copies and clears the ready
// list as one 16-byte access; inside the first 64 bytes of an EventPoll
// (whose 192-byte size class keeps it 64-byte aligned) that access never
// crosses a cache line or, for the one slot in 42 that straddles a page,
// a page (docs/performance.md, round 7).
func TestReadyListInFirstCacheLine(t *testing.T) {
	var ep EventPoll
	if end := unsafe.Offsetof(ep.ready) + unsafe.Sizeof(ep.ready); end > 64 {
		t.Errorf("ready list ends at byte %d of EventPoll, want at most 64", end)
	}
}
