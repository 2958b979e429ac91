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
