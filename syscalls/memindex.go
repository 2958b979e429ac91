package syscalls

import (
	"maps"
	"slices"
	"sort"
	"sync/atomic"
)

// memIndex is GuestMemory's lockless index: what CopyIn and CopyOut read,
// so that the copies of every read and write take no lock (as Linux's
// copy_from_user and copy_to_user take none, the MMU's page tables being
// the index). It mirrors GuestMemory's maps and pages, which stay the
// state of record under GuestMemory.mu: every change to them under mu
// updates the index before mu is released.
//
// An index is never changed once published, except for its leaves'
// slots: Map and Unmap publish a new index with a new copy of the
// mappings, and a page in a 2 MiB region without a leaf publishes one
// with a new leaf map; a page allocated or freed in a region that has a
// leaf is stored into its slot atomically.
type memIndex struct {
	maps   []mapping            // sorted, non-overlapping; never changed
	leaves map[uint64]*pageLeaf // by addr >> leafShift; never changed
}

// leafShift: a leaf holds the pages of one 2 MiB region.
const leafShift = 21

// pageLeaf is the pages of one region, by (addr >> 12) % 512; nil for a
// page never written (it reads as zeros) or freed.
type pageLeaf [1 << (leafShift - 12)]atomic.Pointer[[PageSize]byte]

func pageSlot(p uint64) uint64 { return p / PageSize % (1 << (leafShift - 12)) }

// mappedIn reports whether the page at p is in one of maps (sorted).
func mappedIn(maps []mapping, p uint64) bool {
	i := sort.Search(len(maps), func(i int) bool { return maps[i].end > p })
	return i < len(maps) && maps[i].start <= p
}

// page returns the page at p, nil if it was never written.
func (x *memIndex) page(p uint64) *[PageSize]byte {
	if leaf := x.leaves[p>>leafShift]; leaf != nil {
		return leaf[pageSlot(p)].Load()
	}
	return nil
}

// publishMapsLocked publishes an index with the current mappings.
//
// +checklocks:m.mu
func (m *GuestMemory) publishMapsLocked() {
	old := m.index.Load()
	m.index.Store(&memIndex{maps: slices.Clone(m.maps), leaves: old.leaves})
}

// setPageLocked makes pg the page at p, in the pages and in the index.
//
// +checklocks:m.mu
func (m *GuestMemory) setPageLocked(p uint64, pg *[PageSize]byte) {
	m.pages[p] = pg
	x := m.index.Load()
	leaf := x.leaves[p>>leafShift]
	if leaf == nil {
		leaf = new(pageLeaf)
		leaves := maps.Clone(x.leaves)
		if leaves == nil {
			leaves = make(map[uint64]*pageLeaf)
		}
		leaves[p>>leafShift] = leaf
		m.index.Store(&memIndex{maps: x.maps, leaves: leaves})
	}
	leaf[pageSlot(p)].Store(pg)
}

// freePageLocked drops the page at p, from the pages and from the index.
// A copy that loaded it from the index before goes on copying to or from
// it, as if it had finished before the Unmap.
//
// +checklocks:m.mu
func (m *GuestMemory) freePageLocked(p uint64) {
	delete(m.pages, p)
	if leaf := m.index.Load().leaves[p>>leafShift]; leaf != nil {
		leaf[pageSlot(p)].Store(nil)
	}
}
