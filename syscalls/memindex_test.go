package syscalls

import (
	"bytes"
	"sync"
	"testing"
)

// TestGuestMemoryIndexFollowsChanges: the lockless copies see every Map,
// Unmap, first write and restore: pages in two 2 MiB regions (two leaves
// of the index), a copy across the boundary, an Unmap that frees pages
// (EFAULT, then zeros once mapped again, the other pages intact), and a
// memory restored from its saved state.
func TestGuestMemoryIndexFollowsChanges(t *testing.T) {
	const base = 0x40000000
	const boundary = base + 1<<leafShift
	m := NewGuestMemory()
	if err := m.Map(base, 4<<20); err != nil {
		t.Fatal(err)
	}
	data := []byte("across the boundary of two leaves")
	at := []uint64{base + 10, boundary - 5, base + 3<<20}
	for _, a := range at {
		if err := m.CopyOut(a, data); err != nil {
			t.Fatalf("CopyOut %#x: %v", a, err)
		}
	}
	check := func(m *GuestMemory, a uint64, want []byte) {
		t.Helper()
		got := make([]byte, len(want))
		if err := m.CopyIn(a, got); err != nil || !bytes.Equal(got, want) {
			t.Errorf("CopyIn %#x: %q, %v; want %q", a, got, err, want)
		}
	}
	for _, a := range at {
		check(m, a, data)
	}
	if n := m.TouchedPages(); n != 4 {
		t.Errorf("%d pages touched, want 4", n)
	}
	// Unmap the page before the boundary: the copies fault there, and
	// read zeros once it is mapped again; the rest is intact.
	if err := m.Unmap(boundary-PageSize, PageSize); err != nil {
		t.Fatal(err)
	}
	if err := m.CopyIn(boundary-5, make([]byte, 1)); err == nil {
		t.Error("CopyIn of an unmapped page succeeded")
	}
	if err := m.CopyOut(boundary-5, []byte{1}); err == nil {
		t.Error("CopyOut to an unmapped page succeeded")
	}
	if err := m.Map(boundary-PageSize, PageSize); err != nil {
		t.Fatal(err)
	}
	check(m, boundary-5, make([]byte, 5))
	check(m, boundary, data[5:])
	check(m, at[0], data)
	check(m, at[2], data)
	// A restored memory's copies see the saved contents.
	st := m.SaveState()
	r, err := RestoreMemory(&st)
	if err != nil {
		t.Fatal(err)
	}
	check(r, at[0], data)
	check(r, boundary, data[5:])
	if err := r.CopyIn(base+4<<20, make([]byte, 1)); err == nil {
		t.Error("CopyIn past the restored mapping succeeded")
	}
}

// TestGuestMemoryCopiesDuringMapChanges: tasks copying to and from their
// own pages while another maps and unmaps a range next to them never
// fault and read what they wrote (run with -race: the lockless index
// races with nothing).
func TestGuestMemoryCopiesDuringMapChanges(t *testing.T) {
	const base = 0x50000000
	m := NewGuestMemory()
	if err := m.Map(base, 8*PageSize); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	mapper := make(chan struct{})
	go func() {
		defer close(mapper)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			a := base + 4*PageSize + uint64(i%4)*PageSize
			_ = m.CopyOut(a, []byte{byte(i)})
			_ = m.Unmap(a, PageSize)
			_ = m.Map(a, PageSize)
		}
	}()
	var copiers sync.WaitGroup
	for g := 0; g < 4; g++ {
		copiers.Add(1)
		go func(g int) {
			defer copiers.Done()
			a := base + uint64(g)*PageSize + 8
			got := make([]byte, 8)
			for i := 0; i < 2000; i++ {
				want := []byte{byte(g), byte(i), 1, 2, 3, 4, 5, 6}
				if err := m.CopyOut(a, want); err != nil {
					t.Errorf("task %d: CopyOut: %v", g, err)
					return
				}
				if err := m.CopyIn(a, got); err != nil || !bytes.Equal(got, want) {
					t.Errorf("task %d: CopyIn: %v, %v", g, got, err)
					return
				}
			}
		}(g)
	}
	copiers.Wait()
	close(stop)
	<-mapper
}
