package fd_test

import (
	"testing"
	"time"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
	"github.com/guestpoll/guestpoll/kernel/fd"
)

// A DecRef too many on an installed file used to make the next lookup spin
// forever (GetFile retried a file it could not reference). The tables of
// these tests are left corrupt on purpose and never closed.

func TestGetFileOfReleasedInstalledFilePanics(t *testing.T) {
	tb := fd.NewTable()
	f, _ := kerneltest.NewFakeFile(0)
	n, _ := tb.Install(f, 0, false)
	f.DecRef() // the table's reference: one too many
	kerneltest.MustPanic(t, "fd: fd 0 holds a released file: a DecRef too many", func() { tb.GetFile(n) })
}

func TestLockedLookupsOfReleasedInstalledFilePanic(t *testing.T) {
	for _, c := range []struct {
		name string
		op   func(tb *fd.Table, n int32)
	}{
		{"Get", func(tb *fd.Table, n int32) { tb.Get(n) }},
		{"Dup", func(tb *fd.Table, n int32) { tb.Dup(n, false) }},
		{"Dup2", func(tb *fd.Table, n int32) { tb.Dup2(n, n+1, false, false) }},
		{"Fork", func(tb *fd.Table, n int32) { tb.Fork() }},
		{"Close", func(tb *fd.Table, n int32) { tb.Close(n) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			tb := fd.NewTable()
			f, _ := kerneltest.NewFakeFile(0)
			n, _ := tb.Install(f, 0, false)
			f.DecRef()
			want := "fd: fd 0 holds a released file: a DecRef too many"
			if c.name == "Close" {
				want = "fs: File.DecRef on a released file (a DecRef too many)"
			}
			kerneltest.MustPanic(t, want, func() { c.op(tb, n) })
			// The panic left the table unlocked.
			done := make(chan int)
			go func() { done <- tb.Len() }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("the table is still locked after the panic")
			}
		})
	}
}

func TestInstallOfReleasedOrNilFilePanics(t *testing.T) {
	tb := fd.NewTable()
	defer tb.CloseAll()
	f, _ := kerneltest.NewFakeFile(0)
	f.DecRef()
	kerneltest.MustPanic(t, "fd: Table.Install of a released file", func() { tb.Install(f, 0, false) })
	kerneltest.MustPanic(t, "fd: Table.Install of a nil file", func() { tb.Install(nil, 0, false) })
	n, err := tb.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	kerneltest.MustPanic(t, "fd: Table.InstallReserved of a released file", func() { tb.InstallReserved(n, f, false) })
	tb.Unreserve(n)
	if err := tb.CheckInvariants(); err != nil || tb.Len() != 0 {
		t.Fatalf("after refused installs: %v, %d open", err, tb.Len())
	}
}
