package fs

import (
	"bytes"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

const (
	inRd  = waiter.EventIn | waiter.EventRdNorm
	outWr = waiter.EventOut | waiter.EventWrNorm
)

func slots(f *File) int { return f.impl.(PipeInfo).SlotsUsed() }

func TestPipeFlags(t *testing.T) {
	r, w := NewPipe(unix.O_NONBLOCK | unix.O_DIRECT)
	// Measured on 6.18: F_GETFL is 04000 on the read end, 044001 on the
	// write end: packet mode belongs to the writer.
	if got := r.StatusFlags(); got != unix.O_RDONLY|unix.O_NONBLOCK {
		t.Errorf("read end flags %#o", got)
	}
	if got := w.StatusFlags(); got != unix.O_WRONLY|unix.O_NONBLOCK|unix.O_DIRECT {
		t.Errorf("write end flags %#o", got)
	}
	_, err := w.Read(make([]byte, 1))
	expectErr(t, "read on write end", err, unix.EBADF)
	_, err = r.Write([]byte{1})
	expectErr(t, "write on read end", err, unix.EBADF)
	if !BlockingWaitExclusive(r) || !BlockingWaitExclusive(w) {
		t.Error("pipe waiters must be exclusive")
	}
	if r.Pollable() == nil {
		t.Error("pipe not pollable")
	}
}

func TestPipeMasks(t *testing.T) {
	fill := func(w *File) {
		if n, err := w.Write(make([]byte, 65536)); n != 65536 || err != nil {
			t.Fatalf("fill: %d %v", n, err)
		}
	}
	for _, tc := range []struct {
		name  string
		setup func(r, w *File)
		rmask waiter.EventMask // read end; checked unless released
		wmask waiter.EventMask // write end
	}{
		{"empty", func(r, w *File) {}, 0, 0x104},
		{"data", func(r, w *File) { w.Write([]byte("x")) }, 0x41, 0x104},
		{"full", func(r, w *File) { fill(w) }, 0x41, 0},
		{"writer gone", func(r, w *File) { w.DecRef() }, 0x10, 0},
		{"writer gone with data", func(r, w *File) { w.Write([]byte("x")); w.DecRef() }, 0x51, 0},
		{"reader gone", func(r, w *File) { r.DecRef() }, 0, 0x10c},
		{"reader gone, full", func(r, w *File) { fill(w); r.DecRef() }, 0, 0x8},
		{"full, read 1 byte", func(r, w *File) { fill(w); r.Read(make([]byte, 1)) }, 0x41, 0},
		{"full, read a page", func(r, w *File) { fill(w); r.Read(make([]byte, 4096)) }, 0x41, 0x104},
		{"drained", func(r, w *File) { w.Write([]byte("abc")); r.Read(make([]byte, 10)) }, 0, 0x104},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, w := NewPipe(unix.O_NONBLOCK)
			tc.setup(r, w)
			if !r.Released() {
				expectMask(t, "read end", r, tc.rmask)
				checkInv(t, r)
			}
			if !w.Released() {
				expectMask(t, "write end", w, tc.wmask)
				checkInv(t, w)
			}
		})
	}
}

func TestPipeSlotAccounting(t *testing.T) {
	t.Run("65536 one-byte writes", func(t *testing.T) {
		r, w := NewPipe(unix.O_NONBLOCK)
		for i := 0; i < 65536; i++ {
			if n, err := w.Write([]byte{byte(i)}); n != 1 || err != nil {
				t.Fatalf("write %d: %d %v", i, n, err)
			}
		}
		n, err := w.Write([]byte{0})
		mustN(t, "65537th", n, err, 0, unix.EAGAIN)
		if s := slots(w); s != 16 {
			t.Errorf("slots %d", s)
		}
		got := make([]byte, 70000)
		n, _ = r.Read(got)
		if n != 65536 {
			t.Fatalf("read %d", n)
		}
		for i := 0; i < n; i++ {
			if got[i] != byte(i) {
				t.Fatalf("byte %d = %d", i, got[i])
			}
		}
		checkInv(t, r)
	})
	t.Run("4097-byte writes", func(t *testing.T) {
		_, w := NewPipe(unix.O_NONBLOCK)
		buf := make([]byte, 4097)
		total := 0
		for i := 0; i < 10; i++ {
			n, err := w.Write(buf)
			mustN(t, "full write", n, err, 4097, nil)
			total += n
		}
		n, err := w.Write(buf)
		mustN(t, "11th write", n, err, 4096, nil)
		total += n
		if total != 45066 {
			t.Errorf("total %d, want 45066", total)
		}
		n, err = w.Write(buf)
		mustN(t, "12th write", n, err, 0, unix.EAGAIN)
		checkInv(t, w)
	})
	t.Run("15 pages + 10 bytes", func(t *testing.T) {
		_, w := NewPipe(unix.O_NONBLOCK)
		n, err := w.Write(make([]byte, 15*4096+10))
		mustN(t, "first", n, err, 15*4096+10, nil)
		n, err = w.Write(make([]byte, 4096))
		mustN(t, "4096", n, err, 0, unix.EAGAIN)
		n, err = w.Write(make([]byte, 4086))
		mustN(t, "4086", n, err, 4086, nil)
		n, err = w.Write(make([]byte, 1))
		mustN(t, "1 more", n, err, 0, unix.EAGAIN)
	})
	t.Run("100000-byte write", func(t *testing.T) {
		_, w := NewPipe(unix.O_NONBLOCK)
		n, err := w.Write(make([]byte, 100000))
		mustN(t, "write", n, err, 65536, nil)
	})
	t.Run("atomic small writes", func(t *testing.T) {
		_, w := NewPipe(unix.O_NONBLOCK)
		w.Write(make([]byte, 15*4096+4000))
		// 97 bytes do not fit after 4000 and no slot is free: all or
		// nothing for a write of at most PIPE_BUF.
		n, err := w.Write(make([]byte, 97))
		mustN(t, "97", n, err, 0, unix.EAGAIN)
		n, err = w.Write(make([]byte, 96))
		mustN(t, "96", n, err, 96, nil)
	})
	t.Run("merge room counts the reader's offset", func(t *testing.T) {
		r, w := NewPipe(unix.O_NONBLOCK)
		w.Write(make([]byte, 4096))
		r.Read(make([]byte, 4000))
		w.Write(make([]byte, 100)) // 4000+96+100 > 4096: a fresh slot
		if s := slots(w); s != 2 {
			t.Errorf("slots %d, want 2", s)
		}
		w.Write(make([]byte, 100)) // merges into the new slot
		if s := slots(w); s != 2 {
			t.Errorf("slots %d, want 2", s)
		}
		checkInv(t, r)
	})
	t.Run("data order across merge", func(t *testing.T) {
		r, w := NewPipe(unix.O_NONBLOCK)
		w.Write([]byte("ab"))
		src := bytes.Repeat([]byte("0123456789"), 500) // 5000 bytes: 904 merged, then a page
		w.Write(src)
		got := make([]byte, 6000)
		n, _ := r.Read(got)
		if want := append([]byte("ab"), src...); !bytes.Equal(got[:n], want) {
			t.Errorf("data mismatch (%d bytes)", n)
		}
	})
}

func TestPipePacketMode(t *testing.T) {
	t.Run("16 one-byte writes fill", func(t *testing.T) {
		_, w := NewPipe(unix.O_NONBLOCK | unix.O_DIRECT)
		for i := 0; i < 16; i++ {
			n, err := w.Write([]byte{1})
			mustN(t, "write", n, err, 1, nil)
		}
		n, err := w.Write([]byte{1})
		mustN(t, "17th", n, err, 0, unix.EAGAIN)
		expectMask(t, "write end", w, 0)
	})
	t.Run("partial packet read discards the rest", func(t *testing.T) {
		r, w := NewPipe(unix.O_NONBLOCK | unix.O_DIRECT)
		w.Write([]byte("0123456789"))
		w.Write([]byte("abcdefghij"))
		buf := make([]byte, 3)
		n, _ := r.Read(buf)
		if n != 3 || string(buf) != "012" {
			t.Errorf("first read %d %q", n, buf)
		}
		big := make([]byte, 100)
		n, _ = r.Read(big)
		if string(big[:n]) != "abcdefghij" {
			t.Errorf("second read %q", big[:n])
		}
		n, err := r.Read(big)
		mustN(t, "empty", n, err, 0, unix.EAGAIN)
	})
	t.Run("5000 bytes become 4096 + 904", func(t *testing.T) {
		r, w := NewPipe(unix.O_NONBLOCK | unix.O_DIRECT)
		w.Write(make([]byte, 5000))
		if s := slots(w); s != 2 {
			t.Errorf("slots %d", s)
		}
		big := make([]byte, 10000)
		n, _ := r.Read(big)
		if n != 4096 {
			t.Errorf("first packet %d", n)
		}
		n, _ = r.Read(big)
		if n != 904 {
			t.Errorf("second packet %d", n)
		}
	})
	t.Run("a normal write merges into a normal slot, never a packet", func(t *testing.T) {
		r, w := NewPipe(unix.O_NONBLOCK)
		w.Write([]byte("abc")) // normal slot
		w.SetStatusFlags(unix.O_NONBLOCK | unix.O_DIRECT)
		w.Write([]byte("def")) // merges: the last slot is mergeable
		if s := slots(w); s != 1 {
			t.Errorf("slots %d, want 1", s)
		}
		w.Write([]byte("ghi")) // last slot is still the normal one: merges
		w.Write(make([]byte, 4096))
		w.Write([]byte("jkl")) // last slot is a packet now: fresh slot
		if s := slots(w); s != 3 {
			t.Errorf("slots %d, want 3", s)
		}
		w.SetStatusFlags(unix.O_NONBLOCK)
		w.Write([]byte("mno")) // last slot is a packet: no merge
		if s := slots(w); s != 4 {
			t.Errorf("slots %d, want 4", s)
		}
		// A read goes through normal slots and stops after a packet.
		big := make([]byte, 10000)
		n, _ := r.Read(big)
		if n != 9+4096 {
			t.Errorf("read %d, want %d", n, 9+4096)
		}
		n, _ = r.Read(big)
		if string(big[:n]) != "jkl" {
			t.Errorf("read %q", big[:n])
		}
		checkInv(t, r)
	})
}

func TestPipeErrors(t *testing.T) {
	r, w := NewPipe(unix.O_NONBLOCK)
	n, err := r.Read(make([]byte, 1))
	mustN(t, "empty read", n, err, 0, unix.EAGAIN)
	n, err = r.Read(nil)
	mustN(t, "null read", n, err, 0, nil)
	n, err = w.Write(nil)
	mustN(t, "null write", n, err, 0, nil)
	w.Write([]byte("hi"))
	w.DecRef()
	buf := make([]byte, 10)
	n, err = r.Read(buf)
	mustN(t, "read after writer closed", n, err, 2, nil)
	n, err = r.Read(buf)
	mustN(t, "EOF", n, err, 0, nil)

	r, w = NewPipe(unix.O_NONBLOCK)
	r.DecRef()
	n, err = w.Write([]byte("x"))
	mustN(t, "no readers", n, err, 0, unix.EPIPE)
	n, err = w.Write(nil)
	mustN(t, "null write, no readers", n, err, 0, nil)
}

func TestPipeWakeups(t *testing.T) {
	t.Run("before any poll: only writes to an empty pipe", func(t *testing.T) {
		r, w := NewPipe(unix.O_NONBLOCK)
		rr := watch(t, r)
		w.Write([]byte("a"))
		rr.expect(t, "write to empty", one(inRd))
		w.Write([]byte("b"))
		rr.expect(t, "write to non-empty")
		r.Read(make([]byte, 10))
		w.Write([]byte("c"))
		rr.expect(t, "write to empty again", one(inRd))
	})
	t.Run("after a poll: every write", func(t *testing.T) {
		r, w := NewPipe(unix.O_NONBLOCK)
		rr := watch(t, r)
		ww := watch(t, w)
		r.Readiness(full)
		for i := 0; i < 3; i++ {
			w.Write([]byte("a"))
			rr.expect(t, "write", one(inRd))
		}
		w.Write(nil)
		rr.expect(t, "zero-length write")
		ww.expect(t, "writer queue")
	})
	t.Run("polling the write end counts too", func(t *testing.T) {
		r, w := NewPipe(unix.O_NONBLOCK)
		rr := watch(t, r)
		w.Readiness(full)
		w.Write([]byte("a"))
		w.Write([]byte("a"))
		rr.expect(t, "writes", one(inRd), one(inRd))
	})
	t.Run("EAGAIN write on a polled full pipe wakes readers", func(t *testing.T) {
		// Measured on 6.18: an ET IN entry fires on a failed write.
		r, w := NewPipe(unix.O_NONBLOCK)
		rr := watch(t, r)
		w.Write(make([]byte, 65536))
		rr.expect(t, "fill", one(inRd))
		n, err := w.Write([]byte("x"))
		mustN(t, "write to full", n, err, 0, unix.EAGAIN)
		rr.expect(t, "unpolled EAGAIN")
		r.Readiness(full)
		n, err = w.Write([]byte("x"))
		mustN(t, "write to full", n, err, 0, unix.EAGAIN)
		rr.expect(t, "polled EAGAIN", one(inRd))
	})
	t.Run("reads wake writers only when freeing a slot of a full pipe", func(t *testing.T) {
		r, w := NewPipe(unix.O_NONBLOCK)
		ww := watch(t, w)
		w.Write(make([]byte, 8192))
		r.Read(make([]byte, 4096))
		ww.expect(t, "read from non-full pipe")
		w.Write(make([]byte, 65536-4096))
		r.Read(nil)
		ww.expect(t, "zero-length read of full pipe")
		r.Read(make([]byte, 1))
		// Measured on 6.18 (a blocked epoll_wait thread is not woken):
		// still full, no wakeup.
		ww.expect(t, "1 byte from full pipe")
		r.Read(make([]byte, 4095))
		ww.expect(t, "slot freed", one(outWr))
		r.Read(make([]byte, 4096))
		ww.expect(t, "read from non-full pipe again")
		w.Write(make([]byte, 2*4096))
		r.Read(make([]byte, 3*4096))
		ww.expect(t, "three slots freed, from full", one(outWr))
	})
	t.Run("release", func(t *testing.T) {
		r, w := NewPipe(unix.O_NONBLOCK)
		rr := watch(t, r)
		ww := watch(t, w)
		w.DecRef()
		rr.expect(t, "writer closed: reader queue", all(0))
		ww.expect(t, "writer closed: writer queue", all(0))
		r.DecRef()
		rr.expect(t, "both closed")
		ww.expect(t, "both closed")

		r, w = NewPipe(unix.O_NONBLOCK)
		rr = watch(t, r)
		ww = watch(t, w)
		r.DecRef()
		rr.expect(t, "reader closed: reader queue", all(0))
		ww.expect(t, "reader closed: writer queue", all(0))
		w.DecRef()
		ww.expect(t, "both closed")
	})
	t.Run("dup keeps the end open", func(t *testing.T) {
		r, w := NewPipe(unix.O_NONBLOCK)
		rr := watch(t, r)
		w.IncRef()
		w.DecRef()
		rr.expect(t, "one of two refs dropped")
		expectMask(t, "read end", r, 0)
		w.DecRef()
		rr.expect(t, "last ref", all(0))
	})
}

func TestPipeBlockingRounds(t *testing.T) {
	t.Run("resumed reader wakes the next reader if data is left", func(t *testing.T) {
		r, w := NewPipe(0)
		rio := r.impl.(BlockingIO)
		rr := watch(t, r)
		n, err := rio.ReadRound(r, NewByteSequence(make([]byte, 4)), IORound{WillSleep: true})
		mustN(t, "would sleep", n, err, 0, unix.EAGAIN)
		w.Write([]byte("abcdef"))
		rr.expect(t, "write", one(inRd))
		n, err = rio.ReadRound(r, NewByteSequence(make([]byte, 4)), IORound{Resumed: true, WillSleep: true})
		mustN(t, "resumed", n, err, 4, nil)
		rr.expect(t, "data left", one(inRd))
		n, err = rio.ReadRound(r, NewByteSequence(make([]byte, 4)), IORound{Resumed: true, WillSleep: true})
		mustN(t, "resumed, drains", n, err, 2, nil)
		rr.expect(t, "nothing left")
	})
	t.Run("writer about to sleep ignores poll_usage", func(t *testing.T) {
		r, w := NewPipe(0)
		wio := w.impl.(BlockingIO)
		rr := watch(t, r)
		ww := watch(t, w)
		r.Readiness(full)
		w.Write([]byte("x"))
		rr.expect(t, "first write", one(inRd))
		src := NewByteSequence(make([]byte, 70000))
		n, err := wio.WriteRound(w, src, IORound{WillSleep: true})
		// 70000 % 4096 = 368 bytes merge into the first slot, then 15
		// fresh pages fill the pipe.
		mustN(t, "fills and sleeps", n, err, 368+15*4096, unix.EAGAIN)
		rr.expect(t, "pipe was not empty: no wakeup before sleeping")
		r.Read(make([]byte, 4096)) // 369 bytes of the first slot, 3727 of the next
		ww.expect(t, "reader freed a slot", one(outWr))
		n, err = wio.WriteRound(w, src, IORound{Resumed: true, WillSleep: true})
		mustN(t, "resumed", n, err, 4096, unix.EAGAIN)
		rr.expect(t, "still not empty when resumed")
		r.Read(make([]byte, 65536))
		ww.expect(t, "drained", one(outWr))
		n, err = wio.WriteRound(w, src, IORound{Resumed: true, WillSleep: true})
		mustN(t, "finishes", n, err, 70000-368-16*4096, nil)
		rr.expect(t, "end of call: resumed on an empty pipe", one(inRd))
		ww.expect(t, "space left: next writer", one(outWr))
	})
	t.Run("writer that starts on an empty pipe wakes readers before sleeping", func(t *testing.T) {
		r, w := NewPipe(0)
		wio := w.impl.(BlockingIO)
		rr := watch(t, r)
		n, err := wio.WriteRound(w, NewByteSequence(make([]byte, 70000)), IORound{WillSleep: true})
		mustN(t, "fills", n, err, 65536, unix.EAGAIN)
		rr.expect(t, "before sleeping", one(inRd))
	})
	t.Run("resumed write does not merge", func(t *testing.T) {
		_, w := NewPipe(0)
		wio := w.impl.(BlockingIO)
		w.Write([]byte("a"))
		n, err := wio.WriteRound(w, NewByteSequence([]byte("b")), IORound{Resumed: true, WillSleep: true})
		mustN(t, "resumed", n, err, 1, nil)
		if s := slots(w); s != 2 {
			t.Errorf("slots %d, want 2", s)
		}
	})
	t.Run("interrupted writer's last round", func(t *testing.T) {
		r, w := NewPipe(0)
		wio := w.impl.(BlockingIO)
		rr := watch(t, r)
		r.Readiness(full)
		w.Write(make([]byte, 65536))
		rr.take()
		n, err := wio.WriteRound(w, NewByteSequence([]byte("x")), IORound{Resumed: true})
		mustN(t, "last round", n, err, 0, unix.EAGAIN)
		rr.expect(t, "end-of-call wakeup (polled)", one(inRd))
	})
}

type nopWaker struct{}

func (nopWaker) Wake(waiter.EventMask) bool { return true }

func TestPipeNoAllocation(t *testing.T) {
	r, w := NewPipe(unix.O_NONBLOCK)
	var e1, e2 waiter.Entry
	e1.Init(nopWaker{}, false, false)
	e2.Init(nopWaker{}, true, false)
	r.EventRegister(&e1)
	w.EventRegister(&e2)
	r.Readiness(full)
	src := make([]byte, 100)
	dst := make([]byte, 100)
	w.Write(make([]byte, 65536)) // allocates the pages once
	r.Read(make([]byte, 65536))
	// The syscall layer's path: rounds over a sequence it reuses.
	rio, wio := r.impl.(BlockingIO), w.impl.(BlockingIO)
	var in, out ByteSequence
	allocs := testing.AllocsPerRun(200, func() {
		in.Reset(src)
		wio.WriteRound(w, &in, IORound{})
		out.Reset(dst)
		rio.ReadRound(r, &out, IORound{})
		in.Reset(nil)
		wio.WriteRound(w, &in, IORound{})
		r.Readiness(full)
		w.Readiness(full)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per write+read", allocs)
	}
}

func TestPipeConcurrent(t *testing.T) {
	r, w := NewPipe(unix.O_NONBLOCK)
	const total = 1 << 20
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		buf := make([]byte, 3000)
		for i := range buf {
			buf[i] = byte(i)
		}
		sent := 0
		for sent < total {
			n := min(len(buf), total-sent)
			k, err := w.Write(buf[:n])
			if err == nil {
				sent += k
			}
			w.Readiness(full)
		}
	}()
	var got int
	go func() {
		defer wg.Done()
		buf := make([]byte, 5000)
		for got < total {
			n, err := r.Read(buf)
			if err == nil {
				got += n
			}
			if err := CheckInvariants(r); err != nil {
				panic(err)
			}
		}
	}()
	wg.Wait()
	if got != total {
		t.Errorf("read %d", got)
	}
}

func TestPipeInfo(t *testing.T) {
	r, w := NewPipe(unix.O_NONBLOCK)
	w.Write(make([]byte, 5000))
	info := r.impl.(PipeInfo)
	if info.PipeSize() != 65536 || info.Buffered() != 5000 || info.SlotsUsed() != 2 {
		t.Errorf("size %d buffered %d slots %d", info.PipeSize(), info.Buffered(), info.SlotsUsed())
	}
}
