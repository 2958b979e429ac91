package syscalls

import (
	"golang.org/x/sys/unix"
)

// guestSeq is the guest side of one read, write, readv or writev: the
// iovecs not yet consumed, as an fs.IOSequence. Copies go at most a page at
// a time, so a fault reports exactly the bytes copied before it (memory is
// mapped in pages). A task owns one and reuses it: no allocation per call.
type guestSeq struct {
	mem  Memory
	iovs []iovec // iovs[0] is consumed up to off
	off  uint64
	left uint64 // bytes left over all iovs (already clamped to MAX_RW_COUNT)
}

// reset points s at a new call's buffers. It sets the fields one by one:
// a composite literal is built on the stack and copied with wider loads
// than the stores that built it, which stalls store forwarding on every
// read and write (about a tenth of an eventfd write + read).
func (s *guestSeq) reset(mem Memory, iovs []iovec, total uint64) {
	s.mem = mem
	s.iovs = iovs
	s.off = 0
	s.left = total
}

// Len implements fs.IOSequence.
func (s *guestSeq) Len() int { return int(s.left) }

// CopyOut implements fs.IOSequence.
func (s *guestSeq) CopyOut(src []byte) (int, error) { return s.copy(src, true) }

// CopyIn implements fs.IOSequence.
func (s *guestSeq) CopyIn(dst []byte) (int, error) { return s.copy(dst, false) }

func (s *guestSeq) copy(b []byte, out bool) (int, error) {
	done := 0
	for len(b) > 0 && s.left > 0 {
		v := &s.iovs[0]
		if s.off == v.len {
			s.iovs, s.off = s.iovs[1:], 0
			continue
		}
		addr := v.base + s.off
		n := min(uint64(len(b)), v.len-s.off, s.left, PageSize-addr%PageSize)
		var err error
		if out {
			err = s.mem.CopyOut(addr, b[:n])
		} else {
			err = s.mem.CopyIn(addr, b[:n])
		}
		if err != nil {
			return done, unix.EFAULT
		}
		b = b[n:]
		done += int(n)
		s.off += n
		s.left -= n
	}
	return done, nil
}

// PeekIn copies the next bytes of the sequence into dst without consuming
// them, stopping at the first fault, and returns how many it copied.
// Package hostfd uses it to learn how much of a guest buffer is accessible
// before a host system call consumes bytes it could not copy out.
func (s *guestSeq) PeekIn(dst []byte) int {
	saved := *s
	n, _ := s.copy(dst, false)
	*s = saved
	return n
}
