package fd

import (
	"errors"
	"fmt"

	"github.com/guestpoll/guestpoll/kernel/fs"
)

// Checkpoint state of fd tables (package checkpoint owns the object graph
// and the byte format). Files are named by their index in the caller's
// list of saved files.

// TableState is one fd table.
type TableState struct {
	Slots      []SlotState // ascending Fd
	Soft, Hard uint64      // RLIMIT_NOFILE
	Private    bool        // made by Unshare: closed when its last task detaches
}

// SlotState is one open fd.
type SlotState struct {
	Fd      int32
	File    int32
	Cloexec bool
}

// ErrReserved is returned by Save when a number is reserved: a pipe2 or
// socketpair is between choosing its numbers and installing its files.
var ErrReserved = errors.New("fd: a number is reserved by a call in progress") // +checklocksignore: not guarded (the tool guesses it is, being read under Table.mu).

// Save describes t. index returns the saved index of a file.
func (t *Table) Save(index func(*fs.File) int32) (TableState, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := TableState{Soft: t.limit, Hard: t.maxLimit, Private: t.private}
	st.Slots = make([]SlotState, 0, t.open)
	for i, s := range t.slots {
		if s.reserved {
			return TableState{}, ErrReserved
		}
		if s.file != nil {
			st.Slots = append(st.Slots, SlotState{Fd: int32(i), File: index(s.file), Cloexec: s.cloexec})
		}
	}
	return st, nil
}

// Validate checks st against nFiles saved files.
func (st *TableState) Validate(nFiles int) error {
	if st.Soft > st.Hard || st.Hard > NrOpen {
		return fmt.Errorf("fd: RLIMIT_NOFILE %d/%d", st.Soft, st.Hard)
	}
	last := int32(-1)
	for _, s := range st.Slots {
		if s.Fd <= last || s.Fd >= NrOpen {
			return fmt.Errorf("fd: fd %d out of order or range", s.Fd)
		}
		if s.File < 0 || int(s.File) >= nFiles {
			return fmt.Errorf("fd: fd %d: file %d out of range", s.Fd, s.File)
		}
		last = s.Fd
	}
	return nil
}

// RestoreTable builds a table from a validated st: each fd takes a new
// reference on its file in files.
//
// +checklocksignore: builds t before anything else can see it.
func RestoreTable(st *TableState, files []*fs.File) (*Table, error) {
	if err := st.Validate(len(files)); err != nil {
		return nil, err
	}
	t := NewTable()
	t.limit, t.maxLimit, t.private = st.Soft, st.Hard, st.Private
	if n := len(st.Slots); n > 0 {
		t.slots = make([]slot, st.Slots[n-1].Fd+1)
	}
	for _, s := range st.Slots {
		f := files[s.File]
		f.IncRef()
		t.slots[s.Fd] = slot{file: f, cloexec: s.Cloexec}
		t.open++
	}
	for int(t.lowestFree) < len(t.slots) && t.slots[t.lowestFree].file != nil {
		t.lowestFree++
	}
	t.publishAllLocked()
	return t, nil
}
