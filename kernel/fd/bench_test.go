package fd_test

import (
	"testing"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
	"github.com/guestpoll/guestpoll/kernel/fd"
)

// BenchmarkGetFile measures the lock-free lookup of every system call:
// GetFile and the DecRef that ends the call's use of the file.
func BenchmarkGetFile(b *testing.B) {
	tb := fd.NewTable()
	defer tb.CloseAll()
	f, _ := kerneltest.NewFakeFile(0)
	n, _ := tb.Install(f, 0, false)
	b.ReportAllocs()
	for b.Loop() {
		g, err := tb.GetFile(n)
		if err != nil {
			b.Fatal(err)
		}
		g.DecRef()
	}
}

// BenchmarkGetFileParallel is BenchmarkGetFile from every P at once, on one
// file (the reference count's cache line is shared).
func BenchmarkGetFileParallel(b *testing.B) {
	tb := fd.NewTable()
	defer tb.CloseAll()
	f, _ := kerneltest.NewFakeFile(0)
	n, _ := tb.Install(f, 0, false)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			g, err := tb.GetFile(n)
			if err != nil {
				b.Error(err)
				return
			}
			g.DecRef()
		}
	})
}
