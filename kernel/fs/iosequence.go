package fs

// IOSequence is the caller's side of one read or write: the bytes of the
// user buffers (an iovec list) that are still to be filled or drained,
// consumed from the front. File types that keep data the caller could not
// take (pipes, stream sockets) or whose messages must move in one piece
// (datagrams bigger than any fixed buffer) copy straight between their
// buffers and the sequence while they hold their state lock, so that a
// fault part-way behaves as Linux's copy_page_to_iter/copy_page_from_iter
// do inside the same lock.
//
// Implementations must not call back into a File: a type may hold its
// state lock across these calls.
type IOSequence interface {
	// Len returns how many bytes are left.
	Len() int
	// CopyOut copies src to the front of the sequence and advances past
	// what it copied. It copies fewer than min(len(src), Len()) bytes only
	// when it faults, and then reports unix.EFAULT.
	CopyOut(src []byte) (int, error)
	// CopyIn fills dst from the front of the sequence and advances past
	// what it copied, with the same fault rule.
	CopyIn(dst []byte) (int, error)
}

// SequenceIO is implemented by file types that read and write through an
// IOSequence (sockets, regular files). ReadSeq and WriteSeq are Read and
// Write with the caller's memory instead of a byte slice: never blocking,
// and with Linux's exact behaviour when the memory faults part-way.
type SequenceIO interface {
	ReadSeq(f *File, dst IOSequence) (int, error)
	WriteSeq(f *File, src IOSequence) (int, error)
}

// FixedSizeIO is implemented by file types whose read and write move one
// value of a fixed size (eventfd, timerfd: 8 bytes). Their Write fails a
// write of any other length without looking at the bytes, and a read
// copies out only the value. A caller that stages the bytes in a buffer
// therefore copies in exactly IOSize bytes, or none when the count differs,
// and never touches the memory after the value (it may be unmapped).
type FixedSizeIO interface {
	IOSize() int
}

// IOSize implements FixedSizeIO: eventfd reads and writes a uint64.
func (e *eventfd) IOSize() int { return 8 }

// IOSize implements FixedSizeIO: timerfd reads a uint64 tick count.
func (t *timerfd) IOSize() int { return 8 }

// WriteUnsupported is implemented by file types that have no write
// operation (timerfd). write and writev on them fail with EINVAL right after
// the access-mode check, before the buffer is even range-checked, as
// vfs_write does for a file without FMODE_CAN_WRITE.
type WriteUnsupported interface {
	WriteUnsupported()
}

// WriteUnsupported implements WriteUnsupported.
func (t *timerfd) WriteUnsupported() {}

// ByteSequence is an IOSequence over a byte slice, which never faults. It
// lets the []byte entry points (Impl.Read and Impl.Write) share the
// sequence-based code.
type ByteSequence struct {
	b []byte
}

// NewByteSequence returns a sequence over b.
func NewByteSequence(b []byte) *ByteSequence { return &ByteSequence{b: b} }

// Reset makes s a sequence over b, so that a caller can reuse one sequence
// (passing a new one to an interface method allocates it).
func (s *ByteSequence) Reset(b []byte) { s.b = b }

// Len implements IOSequence.
func (s *ByteSequence) Len() int { return len(s.b) }

// CopyOut implements IOSequence.
func (s *ByteSequence) CopyOut(src []byte) (int, error) {
	n := copy(s.b, src)
	s.b = s.b[n:]
	return n, nil
}

// CopyIn implements IOSequence.
func (s *ByteSequence) CopyIn(dst []byte) (int, error) {
	n := copy(dst, s.b)
	s.b = s.b[n:]
	return n, nil
}
