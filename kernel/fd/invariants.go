package fd

import (
	"fmt"

	"github.com/guestpoll/guestpoll/kernel/fs"
)

// CheckInvariants verifies the table's internal consistency; fuzzers and
// tests call it between operations. It returns the first violation.
//
//   - the open count equals the number of installed numbers;
//   - no number below lowestFree is free;
//   - every installed file is alive and holds at least one reference per
//     number it is installed at (other holders may add more);
//   - the lookup array (GetFile's) holds exactly the installed files.
func (t *Table) CheckInvariants() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	open := 0
	slots := map[*fs.File]int64{}
	for i, s := range t.slots {
		if s.file != nil && s.reserved {
			return fmt.Errorf("fd: %d is both installed and reserved", i)
		}
		if !s.busy() && int32(i) < t.lowestFree {
			return fmt.Errorf("fd: %d is free but below lowestFree %d", i, t.lowestFree)
		}
		if s.file == nil {
			continue
		}
		open++
		slots[s.file]++
		if s.file.Released() {
			return fmt.Errorf("fd: %d holds a released file", i)
		}
	}
	if arr := t.lookup.Load(); arr != nil || len(t.slots) > 0 {
		var n int
		if arr != nil {
			n = len(*arr)
		}
		for i := 0; i < max(n, len(t.slots)); i++ {
			var want, got *fs.File
			if i < len(t.slots) {
				want = t.slots[i].file
			}
			if i < n {
				got = (*arr)[i].Load()
			}
			if got != want {
				return fmt.Errorf("fd: the lookup array disagrees with the table at %d", i)
			}
		}
	}
	if open != t.open {
		return fmt.Errorf("fd: open count %d, but %d numbers are installed", t.open, open)
	}
	for f, n := range slots {
		if r := f.Refs(); r < n {
			return fmt.Errorf("fd: a file installed at %d numbers has only %d references", n, r)
		}
	}
	return nil
}
