package epoll

import (
	"unsafe"

	"github.com/guestpoll/guestpoll/kernel/fs"
)

// interestSet holds an instance's registrations keyed by (file, fd number):
// a hash table chained through item.hnext. It costs one pointer in the item
// and about one bucket pointer per registration, where a Go map would add
// some 40 bytes per entry; memory per registration is one of the targets
// of docs/performance.md. Guarded by EventPoll.mu.
type interestSet struct {
	buckets []*item // len is 0 or a power of two
	n       int     // registrations
}

// minBuckets is the table size at the first insert.
const minBuckets = 4

// hashID mixes the file's address and the fd number. The address only
// feeds the hash (Go's collector does not move heap objects, so it is
// stable while the file is alive, which it is while registered); it is
// never turned back into a pointer.
func hashID(file *fs.File, fd int32) uint64 {
	h := uint64(uintptr(unsafe.Pointer(file)))>>4 ^ uint64(uint32(fd))*0x9e3779b97f4a7c15
	h ^= h >> 31
	h *= 0xbf58476d1ce4e5b9
	return h ^ h>>29
}

func (s *interestSet) bucket(file *fs.File, fd int32) **item {
	return &s.buckets[hashID(file, fd)&uint64(len(s.buckets)-1)]
}

// find returns the registration of (file, fd), or nil.
func (s *interestSet) find(file *fs.File, fd int32) *item {
	if s.n == 0 {
		return nil
	}
	for it := *s.bucket(file, fd); it != nil; it = it.hnext {
		if it.file == file && it.fd == fd {
			return it
		}
	}
	return nil
}

// insert adds it, which must not be present; the table doubles when it
// holds as many registrations as buckets.
func (s *interestSet) insert(it *item) {
	if s.n >= len(s.buckets) {
		s.grow()
	}
	b := s.bucket(it.file, it.fd)
	it.hnext = *b
	*b = it
	s.n++
}

func (s *interestSet) grow() {
	old := s.buckets
	s.buckets = make([]*item, max(minBuckets, 2*len(old)))
	for _, it := range old {
		for it != nil {
			next := it.hnext
			b := s.bucket(it.file, it.fd)
			it.hnext = *b
			*b = it
			it = next
		}
	}
}

// remove takes it out; it must be present.
func (s *interestSet) remove(it *item) {
	for p := s.bucket(it.file, it.fd); *p != nil; p = &(*p).hnext {
		if *p == it {
			*p = it.hnext
			it.hnext = nil
			s.n--
			return
		}
	}
}

// forEach calls fn for every registration; fn may remove the one it is
// given, nothing else.
func (s *interestSet) forEach(fn func(it *item)) {
	for _, it := range s.buckets {
		for it != nil {
			next := it.hnext
			fn(it)
			it = next
		}
	}
}
