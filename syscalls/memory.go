package syscalls

import (
	"sort"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Memory is a guest address space as the syscall layer sees it. CopyIn and
// CopyOut fail with unix.EFAULT when any byte of the range is not mapped;
// CopyOut may have written the bytes before the first unmapped one (as a
// Linux copy_to_user that faults midway does).
type Memory interface {
	CopyIn(addr uint64, dst []byte) error
	CopyOut(addr uint64, src []byte) error
}

// PageSize is GuestMemory's page size.
const PageSize = 4096

// UserTopAMD64 is the end of the x86-64 user address space with 4-level
// paging (TASK_SIZE_MAX); UserTopARM64 the end with 48-bit VAs. epoll_wait's
// access_ok range check uses the task's.
const (
	UserTopAMD64 = 0x7ffffffff000
	UserTopARM64 = 1 << 48
)

type mapping struct{ start, end uint64 } // [start, end), page aligned

// GuestMemory is an in-process Memory: a set of mapped page-aligned ranges
// whose 4 KiB pages are allocated lazily on first write, so a huge mapping
// costs nothing until touched (untouched pages read as zeros). It is safe
// for concurrent use by several tasks.
//
// mu guards the mappings and the page table (which pages exist), not the
// bytes in the pages: Map, Unmap and allocating a page on first write hold
// it for writing, and keep a lockless index of both up to date
// (memIndex). CopyIn, and CopyOut into pages that exist, read that index
// and take no lock, as Linux's user copies take none: a copy that races
// an Unmap either sees the range unmapped (EFAULT) or copies to or from
// the pages it found, which the Unmap then drops, as if the copy had
// finished first. Copies that touch the same bytes at once are not
// ordered with each other, as guest accesses to one page from two CPUs
// are not on real hardware (and the race detector reports them, as it
// should: the guest has a data race).
type GuestMemory struct {
	mu sync.RWMutex
	// +checklocks:mu
	maps []mapping // sorted, non-overlapping
	// +checklocks:mu
	pages map[uint64]*[PageSize]byte // the map, not the pages' contents
	// index mirrors maps and pages for CopyIn and CopyOut (memindex.go).
	index atomic.Pointer[memIndex]
}

// NewGuestMemory returns an empty address space.
func NewGuestMemory() *GuestMemory {
	m := &GuestMemory{pages: make(map[uint64]*[PageSize]byte)}
	m.index.Store(&memIndex{})
	return m
}

func pageRange(addr, size uint64) (uint64, uint64, bool) {
	start := addr &^ (PageSize - 1)
	end := addr + size
	if end < addr {
		return 0, 0, false
	}
	end = (end + PageSize - 1) &^ (PageSize - 1)
	if end == 0 && size != 0 { // wrapped at the top of the space
		return 0, 0, false
	}
	return start, end, true
}

// Map makes [addr, addr+size) accessible (rounded out to pages). Mapping
// over an existing mapping keeps its contents.
func (m *GuestMemory) Map(addr, size uint64) error {
	start, end, ok := pageRange(addr, size)
	if !ok || size == 0 {
		return unix.EINVAL
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removeLocked(start, end, false)
	m.maps = append(m.maps, mapping{start, end})
	maps := m.maps
	sort.Slice(maps, func(i, j int) bool { return maps[i].start < maps[j].start })
	// Merge adjacent ranges.
	out := m.maps[:0]
	for _, r := range m.maps {
		if n := len(out); n > 0 && out[n-1].end == r.start {
			out[n-1].end = r.end
			continue
		}
		out = append(out, r)
	}
	m.maps = out
	m.publishMapsLocked()
	return nil
}

// Unmap removes [addr, addr+size) (rounded out to pages) and frees its
// pages.
func (m *GuestMemory) Unmap(addr, size uint64) error {
	start, end, ok := pageRange(addr, size)
	if !ok || size == 0 {
		return unix.EINVAL
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removeLocked(start, end, true)
	m.publishMapsLocked()
	return nil
}

// removeLocked unmaps [start, end), freeing its pages if free is set; the
// caller publishes the new mappings (publishMapsLocked).
//
// +checklocks:m.mu
func (m *GuestMemory) removeLocked(start, end uint64, free bool) {
	var out []mapping
	for _, r := range m.maps {
		if r.end <= start || r.start >= end {
			out = append(out, r)
			continue
		}
		if r.start < start {
			out = append(out, mapping{r.start, start})
		}
		if r.end > end {
			out = append(out, mapping{end, r.end})
		}
	}
	m.maps = out
	if free {
		if uint64(len(m.pages)) < (end-start)/PageSize {
			for p := range m.pages {
				if p >= start && p < end {
					m.freePageLocked(p)
				}
			}
		} else {
			for p := start; p < end; p += PageSize {
				m.freePageLocked(p)
			}
		}
	}
}

// mappedLocked reports whether the page at p is mapped.
//
// +checklocksread:m.mu
func (m *GuestMemory) mappedLocked(p uint64) bool { return mappedIn(m.maps, p) }

// Mapped reports whether every byte of [addr, addr+size) is mapped.
func (m *GuestMemory) Mapped(addr, size uint64) bool {
	if size == 0 {
		return true
	}
	start, end, ok := pageRange(addr, size)
	if !ok {
		return false
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	for p := start; p < end; p += PageSize {
		if !m.mappedLocked(p) {
			return false
		}
	}
	return true
}

// CopyIn implements Memory. It takes no lock (see memIndex).
func (m *GuestMemory) CopyIn(addr uint64, dst []byte) error {
	if addr+uint64(len(dst)) < addr {
		return unix.EFAULT
	}
	x := m.index.Load()
	for len(dst) > 0 {
		p := addr &^ (PageSize - 1)
		if !mappedIn(x.maps, p) {
			return unix.EFAULT
		}
		off := addr - p
		n := min(uint64(len(dst)), PageSize-off)
		if pg := x.page(p); pg != nil {
			copy(dst[:n], pg[off:off+n])
		} else {
			clear(dst[:n])
		}
		dst = dst[n:]
		addr += n
	}
	return nil
}

// CopyOut implements Memory. Copies into pages that exist take no lock
// (the common case: a task's event and I/O buffers are written again and
// again; see memIndex); at the first page that does not, the rest is
// copied by copyOutAlloc under the write lock.
func (m *GuestMemory) CopyOut(addr uint64, src []byte) error {
	if addr+uint64(len(src)) < addr {
		return unix.EFAULT
	}
	x := m.index.Load()
	for len(src) > 0 {
		p := addr &^ (PageSize - 1)
		if !mappedIn(x.maps, p) {
			return unix.EFAULT
		}
		pg := x.page(p)
		if pg == nil {
			break
		}
		off := addr - p
		n := min(uint64(len(src)), PageSize-off)
		copy(pg[off:off+n], src[:n])
		src = src[n:]
		addr += n
	}
	if len(src) == 0 {
		return nil
	}
	return m.copyOutAlloc(addr, src)
}

// copyOutAlloc is CopyOut under the write lock, allocating missing pages.
// The mappings may have changed since CopyOut's lockless part; the
// result is then the one of a copy that an Unmap or Map overtook midway.
func (m *GuestMemory) copyOutAlloc(addr uint64, src []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(src) > 0 {
		p := addr &^ (PageSize - 1)
		if !m.mappedLocked(p) {
			return unix.EFAULT
		}
		off := addr - p
		n := min(uint64(len(src)), PageSize-off)
		pg := m.pages[p]
		if pg == nil {
			pg = new([PageSize]byte)
			m.setPageLocked(p, pg)
		}
		copy(pg[off:off+n], src[:n])
		src = src[n:]
		addr += n
	}
	return nil
}

// TouchedPages returns how many pages hold data (for tests).
func (m *GuestMemory) TouchedPages() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.pages)
}
