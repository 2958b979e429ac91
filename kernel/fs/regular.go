package fs

import (
	"math"
	"sync"

	"golang.org/x/sys/unix"
)

// Regular files: in-memory bytes with a file offset, what memfd_create
// gives. They have no poll operation: epoll_ctl refuses them with EPERM
// (docs/semantics.md#not-pollable), so regular does not implement Pollable.
//
// The contents are sparse (4 KiB pages allocated when written; holes read
// as zeros), so a write far beyond the end costs only the pages written.

const regularPageSize = 4096

type regular struct {
	mu    sync.Mutex
	pages map[int64]*[regularPageSize]byte // by page index; guarded by mu
	size  int64                            // guarded by mu
	pos   int64                            // the file offset; guarded by mu
}

// Seeker is implemented by files with a file offset (lseek). Files that
// do not implement it are not seekable (ESPIPE).
type Seeker interface {
	Seek(f *File, offset int64, whence int) (int64, error)
}

// PositionalIO is implemented by files that support pread and pwrite.
type PositionalIO interface {
	ReadAt(f *File, dst []byte, off int64) (int, error)
	WriteAt(f *File, src []byte, off int64) (int, error)
}

// Truncater is implemented by files that support ftruncate.
type Truncater interface {
	Truncate(f *File, size int64) error
}

// NewRegular returns a new empty regular file opened read-write, with the
// status flags in flags that apply (O_APPEND, O_NONBLOCK).
func NewRegular(flags uint32) *File {
	return New(&regular{}, unix.O_RDWR|flags&(unix.O_APPEND|unix.O_NONBLOCK))
}

// Read implements Impl.Read: read at the file offset and advance it.
func (r *regular) Read(f *File, dst []byte) (int, error) {
	return r.ReadSeq(f, NewByteSequence(dst))
}

// Write implements Impl.Write: write at the file offset (at the end with
// O_APPEND) and advance it.
func (r *regular) Write(f *File, src []byte) (int, error) {
	return r.WriteSeq(f, NewByteSequence(src))
}

// ReadSeq implements SequenceIO. A fault part-way ends the read with the
// bytes copied before it (EFAULT if none), and the offset moves by those.
func (r *regular) ReadSeq(f *File, dst IOSequence) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.readAtLocked(dst, r.pos)
	r.pos += int64(n)
	return n, err
}

// WriteSeq implements SequenceIO, with the same fault rule as ReadSeq.
func (r *regular) WriteSeq(f *File, src IOSequence) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f.StatusFlags()&unix.O_APPEND != 0 {
		r.pos = r.size
	}
	n, err := r.writeAtLocked(src, r.pos)
	r.pos += int64(n)
	return n, err
}

// ReadAt implements PositionalIO (pread: the offset is not used or moved).
func (r *regular) ReadAt(f *File, dst []byte, off int64) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.readAtLocked(NewByteSequence(dst), off)
}

// WriteAt implements PositionalIO. As on Linux, pwrite on an O_APPEND file
// appends whatever the offset says.
func (r *regular) WriteAt(f *File, src []byte, off int64) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if f.StatusFlags()&unix.O_APPEND != 0 {
		off = r.size
	}
	return r.writeAtLocked(NewByteSequence(src), off)
}

// zeroPage is what a hole reads as.
var zeroPage [regularPageSize]byte

// faulted turns a short copy into Linux's result: the bytes copied, or
// EFAULT if there were none.
func faulted(n int) (int, error) {
	if n == 0 {
		return 0, unix.EFAULT
	}
	return n, nil
}

func (r *regular) readAtLocked(dst IOSequence, off int64) (int, error) {
	if off >= r.size {
		return 0, nil
	}
	want := int(min(int64(dst.Len()), r.size-off))
	n := 0
	for n < want {
		p := (off + int64(n)) / regularPageSize
		o := int((off + int64(n)) % regularPageSize)
		chunk := min(want-n, regularPageSize-o)
		src := zeroPage[o : o+chunk]
		if page := r.pages[p]; page != nil {
			src = page[o : o+chunk]
		}
		c, _ := dst.CopyOut(src)
		n += c
		if c < chunk {
			return faulted(n)
		}
	}
	return n, nil
}

func (r *regular) writeAtLocked(src IOSequence, off int64) (int, error) {
	if src.Len() == 0 {
		return 0, nil
	}
	if off >= math.MaxInt64 {
		return 0, unix.EFBIG
	}
	want := int(min(int64(src.Len()), math.MaxInt64-off))
	if r.pages == nil {
		r.pages = make(map[int64]*[regularPageSize]byte)
	}
	n := 0
	var err error
	for n < want {
		p := (off + int64(n)) / regularPageSize
		o := int((off + int64(n)) % regularPageSize)
		chunk := min(want-n, regularPageSize-o)
		page := r.pages[p]
		if page == nil {
			page = new([regularPageSize]byte)
			r.pages[p] = page
		}
		c, _ := src.CopyIn(page[o : o+chunk])
		n += c
		if c < chunk {
			n, err = faulted(n)
			break
		}
	}
	if end := off + int64(n); end > r.size {
		r.size = end
	}
	return n, err
}

// Seek implements Seeker (SEEK_SET, SEEK_CUR, SEEK_END, and SEEK_DATA /
// SEEK_HOLE treating the whole file as data).
func (r *regular) Seek(f *File, offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var pos int64
	switch whence {
	case unix.SEEK_SET:
		pos = offset
	case unix.SEEK_CUR:
		if offset > 0 && r.pos > math.MaxInt64-offset {
			return 0, unix.EOVERFLOW
		}
		pos = r.pos + offset
	case unix.SEEK_END:
		if offset > 0 && r.size > math.MaxInt64-offset {
			return 0, unix.EOVERFLOW
		}
		pos = r.size + offset
	case unix.SEEK_DATA:
		if offset < 0 || offset >= r.size {
			return 0, unix.ENXIO
		}
		pos = offset
	case unix.SEEK_HOLE:
		if offset < 0 || offset >= r.size {
			return 0, unix.ENXIO
		}
		pos = r.size
	default:
		return 0, unix.EINVAL
	}
	if pos < 0 {
		return 0, unix.EINVAL
	}
	r.pos = pos
	return pos, nil
}

// Truncate implements Truncater.
func (r *regular) Truncate(f *File, size int64) error {
	if size < 0 {
		return unix.EINVAL
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if size < r.size {
		last := size / regularPageSize
		for p := range r.pages {
			if p > last || p == last && size%regularPageSize == 0 {
				delete(r.pages, p)
			}
		}
		if page := r.pages[last]; page != nil {
			clear(page[size%regularPageSize:])
		}
	}
	r.size = size
	return nil
}

// Size returns the file size.
func (r *regular) Size() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.size
}

// Offset implements Offsetter: the file offset (fdinfo's pos).
func (r *regular) Offset() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pos
}

// Release implements Impl.Release.
func (r *regular) Release(f *File) {}
