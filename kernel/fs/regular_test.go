package fs

import (
	"bytes"
	"math"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRegularNotPollable(t *testing.T) {
	f := NewRegular(0)
	if f.Pollable() != nil {
		t.Error("regular file is pollable")
	}
	if f.Readiness(full) != 0 {
		t.Error("regular file has readiness")
	}
	if f.StatusFlags() != unix.O_RDWR {
		t.Errorf("flags %#o", f.StatusFlags())
	}
	if BlockingWaitExclusive(f) {
		t.Error("exclusive")
	}
}

func TestRegularReadWrite(t *testing.T) {
	f := NewRegular(0)
	buf := make([]byte, 100)
	n, err := f.Read(buf)
	mustN(t, "empty", n, err, 0, nil)
	n, err = f.Write([]byte("hello world"))
	mustN(t, "write", n, err, 11, nil)
	n, err = f.Read(buf)
	mustN(t, "at end", n, err, 0, nil)
	sk := f.impl.(Seeker)
	if pos, err := sk.Seek(f, 6, unix.SEEK_SET); pos != 6 || err != nil {
		t.Fatalf("seek %d %v", pos, err)
	}
	n, _ = f.Read(buf)
	if string(buf[:n]) != "world" {
		t.Errorf("read %q", buf[:n])
	}
	sk.Seek(f, 0, unix.SEEK_SET)
	f.Write([]byte("J"))
	if pos, _ := sk.Seek(f, 0, unix.SEEK_CUR); pos != 1 {
		t.Errorf("pos %d", pos)
	}
	pio := f.impl.(PositionalIO)
	n, _ = pio.ReadAt(f, buf, 0)
	if string(buf[:n]) != "Jello world" {
		t.Errorf("pread %q", buf[:n])
	}
	if pos, _ := sk.Seek(f, 0, unix.SEEK_CUR); pos != 1 {
		t.Errorf("pread moved the offset to %d", pos)
	}
	// A sparse write: the hole reads as zeros.
	pio.WriteAt(f, []byte("!"), 10000)
	n, _ = pio.ReadAt(f, buf, 9990)
	if want := append(make([]byte, 10), '!'); !bytes.Equal(buf[:n], want) {
		t.Errorf("hole %q", buf[:n])
	}
	_, err = pio.ReadAt(f, buf, -1)
	expectErr(t, "negative pread", err, unix.EINVAL)
	_, err = pio.WriteAt(f, buf, -1)
	expectErr(t, "negative pwrite", err, unix.EINVAL)

	for _, tc := range []struct {
		off    int64
		whence int
		pos    int64
		err    error
	}{
		{-1, unix.SEEK_SET, 0, unix.EINVAL},
		{-2, unix.SEEK_END, 9999, nil},
		{0, unix.SEEK_END, 10001, nil},
		{5, unix.SEEK_DATA, 5, nil},
		{5, unix.SEEK_HOLE, 10001, nil},
		{10001, unix.SEEK_DATA, 0, unix.ENXIO},
		{-1, unix.SEEK_HOLE, 0, unix.ENXIO},
		{0, 7, 0, unix.EINVAL},
		{math.MaxInt64, unix.SEEK_END, 0, unix.EOVERFLOW},
	} {
		pos, err := sk.Seek(f, tc.off, tc.whence)
		expectErr(t, "seek", err, tc.err)
		if err == nil && pos != tc.pos {
			t.Errorf("seek(%d, %d) = %d, want %d", tc.off, tc.whence, pos, tc.pos)
		}
	}

	tr := f.impl.(Truncater)
	tr.Truncate(f, 3)
	n, _ = pio.ReadAt(f, buf, 0)
	if string(buf[:n]) != "Jel" {
		t.Errorf("after truncate %q", buf[:n])
	}
	tr.Truncate(f, 6)
	n, _ = pio.ReadAt(f, buf, 0)
	if !bytes.Equal(buf[:n], []byte("Jel\x00\x00\x00")) {
		t.Errorf("after extend %q", buf[:n])
	}
	expectErr(t, "negative truncate", tr.Truncate(f, -1), unix.EINVAL)
	_, err = pio.WriteAt(f, []byte("x"), math.MaxInt64)
	expectErr(t, "beyond the maximum size", err, unix.EFBIG)
}

func TestRegularAppend(t *testing.T) {
	f := NewRegular(unix.O_APPEND)
	f.Write([]byte("abc"))
	f.impl.(Seeker).Seek(f, 0, unix.SEEK_SET)
	f.Write([]byte("def"))
	f.impl.(PositionalIO).WriteAt(f, []byte("g"), 0)
	buf := make([]byte, 10)
	n, _ := f.impl.(PositionalIO).ReadAt(f, buf, 0)
	if string(buf[:n]) != "abcdefg" {
		t.Errorf("append %q", buf[:n])
	}
}
