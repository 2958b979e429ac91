package fs_test

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// BenchmarkEventfdWriteRead: an 8-byte write then an 8-byte read of an
// eventfd that an epoll-like hook watches, on the model's File (no syscall
// layer) and on the host.
func BenchmarkEventfdWriteRead(b *testing.B) {
	b.Run("impl=model", func(b *testing.B) {
		f := fs.NewEventfd(0, unix.O_NONBLOCK)
		defer f.DecRef()
		var e waiter.Entry
		e.Init(takeAll{}, false, false)
		f.EventRegister(&e)
		defer f.EventUnregister(&e)
		in, out := []byte{1, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 8)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.Write(in); err != nil {
				b.Fatal(err)
			}
			if _, err := f.Read(out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=host", kerneltest.BenchHostEventfdWriteRead)
}

type takeAll struct{}

func (takeAll) Wake(waiter.EventMask) bool { return true }
