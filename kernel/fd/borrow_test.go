package fd_test

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
	"github.com/guestpoll/guestpoll/kernel/fd"
)

// borrowRef borrows n, whose file the tables hold tables references on,
// and reports whether a reference was taken, checking that the file's
// count moved accordingly and dropping the reference.
func borrowRef(t *testing.T, tb *fd.Table, n int32, tables int64) bool {
	t.Helper()
	f, ref, err := tb.Borrow(n)
	if err != nil {
		t.Fatalf("Borrow(%d): %v", n, err)
	}
	if want := map[bool]int64{false: tables, true: tables + 1}[ref]; f.Refs() != want {
		t.Fatalf("Borrow(%d) with ref=%v: the file has %d references, want %d", n, ref, f.Refs(), want)
	}
	if ref {
		f.DecRef()
	}
	return ref
}

// A lookup takes no reference only in a task-owned table that at most one
// task uses (Linux's __fget_light for a files_struct with count 1).
func TestBorrowTakesNoReferenceOnlyWhenTaskOwnedAndUnshared(t *testing.T) {
	tb := fd.NewTable()
	defer tb.CloseAll()
	f, _ := kerneltest.NewFakeFile(0)
	n, _ := tb.Install(f, 0, false)
	tb.Attach()
	if !borrowRef(t, tb, n, 1) {
		t.Fatal("a table without SetTaskOwned lent a file without a reference")
	}
	tb.SetTaskOwned()
	if borrowRef(t, tb, n, 1) {
		t.Fatal("a task-owned table with one task took a reference")
	}
	tb.Attach() // a second task shares it: another thread may close n
	if !borrowRef(t, tb, n, 1) {
		t.Fatal("a task-owned table shared by two tasks lent a file without a reference")
	}
	tb.Detach()
	if borrowRef(t, tb, n, 1) {
		t.Fatal("back to one task: a reference was taken")
	}
	tb.Detach()
}

// The copy that Unshare gives a task of a shared task-owned table is
// task-owned, and its only task borrows without references.
func TestBorrowAfterUnshare(t *testing.T) {
	tb := fd.NewTable()
	defer tb.CloseAll()
	f, _ := kerneltest.NewFakeFile(0)
	n, _ := tb.Install(f, 0, false)
	tb.SetTaskOwned()
	tb.Attach()
	tb.Attach()
	own := tb.Unshare()
	if own == tb {
		t.Fatal("Unshare of a shared table kept it")
	}
	if borrowRef(t, own, n, 2) {
		t.Fatal("the unshared copy of a task-owned table took a reference")
	}
	own.Detach() // its last task: closes it
	tb.Detach()
}

func TestBorrowErrors(t *testing.T) {
	for _, owned := range []bool{false, true} {
		tb := fd.NewTable()
		if owned {
			tb.SetTaskOwned()
		}
		f, _ := kerneltest.NewFakeFile(0)
		n, _ := tb.Install(f, 0, false)
		for _, bad := range []int32{-1, n + 1, 1 << 20} {
			if g, ref, err := tb.Borrow(bad); !errors.Is(err, unix.EBADF) || g != nil || ref {
				t.Errorf("owned=%v: Borrow(%d) = %v, %v, %v; want EBADF", owned, bad, g, ref, err)
			}
		}
		tb.Close(n)
		if _, _, err := tb.Borrow(n); !errors.Is(err, unix.EBADF) {
			t.Errorf("owned=%v: Borrow of a closed fd: %v, want EBADF", owned, err)
		}
	}
}

// A released file still installed (a DecRef too many) panics naming the
// misuse rather than lending a dead file.
func TestBorrowReleasedInstalledPanics(t *testing.T) {
	tb := fd.NewTable()
	tb.SetTaskOwned()
	f, _ := kerneltest.NewFakeFile(0)
	n, _ := tb.Install(f, 0, false)
	f.DecRef()
	kerneltest.MustPanic(t, "fd: fd 0 holds a released file: a DecRef too many", func() { tb.Borrow(n) })
}

func TestBorrowAllocatesNothing(t *testing.T) {
	tb := fd.NewTable()
	defer tb.CloseAll()
	tb.SetTaskOwned()
	f, _ := kerneltest.NewFakeFile(0)
	n, _ := tb.Install(f, 0, false)
	if a := testing.AllocsPerRun(100, func() { tb.Borrow(n) }); a != 0 {
		t.Fatalf("Borrow allocates %v times", a)
	}
}
