package fs

import (
	"math"
	"sync"

	"golang.org/x/sys/unix"
)

// Regular files: in-memory bytes with a file offset, what memfd_create
// gives. They have no poll operation: epoll_ctl refuses them with EPERM
// (§9.8), so regular does not implement Pollable.
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
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.readAtLocked(dst, r.pos)
	r.pos += int64(n)
	return n, nil
}

// Write implements Impl.Write: write at the file offset (at the end with
// O_APPEND) and advance it.
func (r *regular) Write(f *File, src []byte) (int, error) {
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
	return r.readAtLocked(dst, off), nil
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
	return r.writeAtLocked(src, off)
}

func (r *regular) readAtLocked(dst []byte, off int64) int {
	if off >= r.size {
		return 0
	}
	if rem := r.size - off; int64(len(dst)) > rem {
		dst = dst[:rem]
	}
	n := 0
	for n < len(dst) {
		p := (off + int64(n)) / regularPageSize
		o := int((off + int64(n)) % regularPageSize)
		chunk := min(len(dst)-n, regularPageSize-o)
		if page := r.pages[p]; page != nil {
			copy(dst[n:n+chunk], page[o:o+chunk])
		} else {
			clear(dst[n : n+chunk])
		}
		n += chunk
	}
	return n
}

func (r *regular) writeAtLocked(src []byte, off int64) (int, error) {
	if len(src) == 0 {
		return 0, nil
	}
	if off >= math.MaxInt64 {
		return 0, unix.EFBIG
	}
	if rem := math.MaxInt64 - off; int64(len(src)) > rem {
		src = src[:rem]
	}
	if r.pages == nil {
		r.pages = make(map[int64]*[regularPageSize]byte)
	}
	n := 0
	for n < len(src) {
		p := (off + int64(n)) / regularPageSize
		o := int((off + int64(n)) % regularPageSize)
		chunk := min(len(src)-n, regularPageSize-o)
		page := r.pages[p]
		if page == nil {
			page = new([regularPageSize]byte)
			r.pages[p] = page
		}
		copy(page[o:o+chunk], src[n:n+chunk])
		n += chunk
	}
	if end := off + int64(n); end > r.size {
		r.size = end
	}
	return n, nil
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

// Offset returns the file offset (fdinfo's pos).
func (r *regular) Offset() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pos
}

// Release implements Impl.Release.
func (r *regular) Release(f *File) {}
