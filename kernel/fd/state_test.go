package fd_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
)

// savedTable is a table with gaps, a file behind two fds, FD_CLOEXEC on
// some and a lowered RLIMIT_NOFILE, with the files it holds (in index
// order) and their index function.
func savedTable(t *testing.T) (*fd.Table, []*fs.File, func(*fs.File) int32) {
	t.Helper()
	tb := fd.NewTable()
	if err := tb.SetLimit(300, 4096); err != nil {
		t.Fatal(err)
	}
	var files []*fs.File
	index := map[*fs.File]int32{}
	for i := range 3 {
		f, _ := kerneltest.NewFakeFile(0)
		if _, err := tb.Install(f, int32(10*i), i == 1); err != nil {
			t.Fatal(err)
		}
		index[f] = int32(len(files))
		files = append(files, f) // the table holds the reference
	}
	if _, err := tb.DupFrom(10, 200, true); err != nil {
		t.Fatal(err)
	}
	return tb, files, func(f *fs.File) int32 { return index[f] }
}

// TestTableStateRoundTrip: a saved table restores with the same fds,
// flags, limits and lowest free number, taking a reference per fd, and
// saves the same again.
func TestTableStateRoundTrip(t *testing.T) {
	tb, files, index := savedTable(t)
	defer tb.CloseAll()
	st, err := tb.Save(index)
	if err != nil {
		t.Fatal(err)
	}
	want := fd.TableState{Soft: 300, Hard: 4096, Slots: []fd.SlotState{
		{Fd: 0, File: 0}, {Fd: 10, File: 1, Cloexec: true}, {Fd: 20, File: 2}, {Fd: 200, File: 1, Cloexec: true},
	}}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Fatalf("saved state (-want +got):\n%s", diff)
	}
	refs := make([]int64, len(files))
	for i, f := range files {
		refs[i] = f.Refs()
	}
	tb2, err := fd.RestoreTable(&st, files)
	if err != nil {
		t.Fatal(err)
	}
	defer tb2.CloseAll()
	for i, f := range files {
		if got := f.Refs() - refs[i]; got != int64(cmpCount(st, int32(i))) {
			t.Errorf("file %d: %d references taken, want one per fd", i, got)
		}
	}
	st2, err := tb2.Save(index)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, st2); diff != "" {
		t.Fatalf("restored table saves differently:\n%s", diff)
	}
	f, _ := kerneltest.NewFakeFile(0)
	if n, err := tb2.Install(f, 0, false); err != nil || n != 1 {
		t.Fatalf("lowest free after restore: %d %v, want 1", n, err)
	}
	if got, err := tb2.GetFile(200); err != nil || got != files[1] {
		t.Fatalf("fd 200: %v %v", got, err)
	} else {
		got.DecRef()
	}
}

func cmpCount(st fd.TableState, file int32) int {
	n := 0
	for _, s := range st.Slots {
		if s.File == file {
			n++
		}
	}
	return n
}

// TestTableSaveRefusesReserved: a number reserved by a call in progress
// makes Save fail.
func TestTableSaveRefusesReserved(t *testing.T) {
	tb, _, index := savedTable(t)
	defer tb.CloseAll()
	n, err := tb.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Save(index); !errors.Is(err, fd.ErrReserved) {
		t.Fatalf("got %v", err)
	}
	tb.Unreserve(n)
	if _, err := tb.Save(index); err != nil {
		t.Fatal(err)
	}
}

// TestTableStateValidate: limits, fd order and range, and file indices
// are checked, by Validate and by RestoreTable.
func TestTableStateValidate(t *testing.T) {
	files := []*fs.File{nil, nil}
	slot := func(fdn, file int32) fd.SlotState { return fd.SlotState{Fd: fdn, File: file} }
	for _, c := range []struct {
		st   fd.TableState
		want string
	}{
		{fd.TableState{Soft: 10, Hard: 5}, "RLIMIT_NOFILE"},
		{fd.TableState{Soft: 10, Hard: fd.NrOpen + 1}, "RLIMIT_NOFILE"},
		{fd.TableState{Hard: 10, Slots: []fd.SlotState{slot(3, 0), slot(3, 1)}}, "out of order"},
		{fd.TableState{Hard: 10, Slots: []fd.SlotState{slot(fd.NrOpen, 0)}}, "out of order or range"},
		{fd.TableState{Hard: 10, Slots: []fd.SlotState{slot(-1, 0)}}, "out of order"},
		{fd.TableState{Hard: 10, Slots: []fd.SlotState{slot(0, 2)}}, "file 2 out of range"},
	} {
		if err := c.st.Validate(len(files)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want an error mentioning %q", c.st, err, c.want)
		}
		if _, err := fd.RestoreTable(&c.st, files); err == nil {
			t.Errorf("%+v: RestoreTable accepted it", c.st)
		}
	}
}
