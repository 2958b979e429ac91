package fs

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// Pipes (docs/semantics.md#pipes; Linux's fs/pipe.c).
//
// Capacity is counted in slots, not bytes: a ring of 16 slots, each holding
// up to one 4096-byte page. A write first tries to merge its length modulo
// 4096 into the last slot (if the pipe is not empty, that slot was written
// in normal mode and the bytes fit after its data), then fills fresh slots
// a page at a time. So writes of at most PIPE_BUF bytes are atomic, 65536
// one-byte writes fit, and a reader frees room only by emptying a slot.
// A writer whose file has O_DIRECT ("packet mode") never merges and marks
// its slots as packets; a read stops after a packet and discards whatever
// of it was not read.

const (
	// PipeBuf is PIPE_BUF: writes up to this size are atomic.
	PipeBuf = 4096

	pipeSlots    = 16 // PIPE_DEF_BUFFERS: F_GETPIPE_SZ is 65536
	pipePageSize = 4096

	// PipeMaxSize is fs.pipe-max-size: F_SETPIPE_SZ may not grow a pipe
	// beyond it (EPERM) without CAP_SYS_RESOURCE, which the model's tasks
	// do not have.
	PipeMaxSize = 1 << 20
)

// pipeSlot is one pipe_buffer: the live bytes are page[off:off+len].
type pipeSlot struct {
	off, len int32
	packet   bool // written in packet mode (O_DIRECT): never merged into
}

// pipe is the state both ends share.
type pipe struct {
	mu sync.Mutex
	// slots [tail, head) (mod len(slots)) are in use; len(slots) is the
	// ring size, a power of two (16 unless F_SETPIPE_SZ changed it), and
	// also the most slots the pipe may fill (max_usage).
	// +checklocks:mu
	slots []pipeSlot
	// +checklocks:mu
	head uint32
	// +checklocks:mu
	tail uint32
	// pages backs the slots (one page per slot); allocated by the first
	// write.
	// +checklocks:mu
	pages [][pipePageSize]byte
	// readers and writers count open files of each side (an O_RDWR FIFO
	// file counts on both). A pipe2 pipe has at most one of each: dup'd
	// fds share one File.
	// +checklocks:mu
	readers int
	// +checklocks:mu
	writers int
	// rCounter and wCounter count the read and write opens ever made
	// (r_counter, w_counter): a FIFO open that waits for the other side
	// waits for its counter to move.
	// +checklocks:mu
	rCounter uint32
	// +checklocks:mu
	wCounter uint32
	// polled is Linux's poll_usage: set by the first poll of either end,
	// after which every write wakes readers.
	// +checklocks:mu
	polled bool
	// fifo is set for a FIFO's pipe (fifo.go). Immutable.
	fifo *fifoNode
	// files counts a FIFO pipe's open files and openers (pipe->files).
	// +checklocks:fifo.mu
	files int

	readQ  waiter.Queue // rd_wait: read end's hooks, blocked readers
	writeQ waiter.Queue // wr_wait: write end's hooks, blocked writers
	// bothQ is where an O_RDWR FIFO file hooks its entries: every
	// notification of readQ and writeQ is repeated on it, as Linux's
	// pipe_poll hooks such a file on both rd_wait and wr_wait.
	bothQ waiter.Queue
}

// pipeEnd is the Impl of one open file of a pipe: the read end, the write
// end, or an O_RDWR file of a FIFO.
type pipeEnd struct {
	p              *pipe
	reader, writer bool
	// fPipe is Linux's file->f_pipe: the write-open count when a FIFO was
	// opened O_RDONLY|O_NONBLOCK without writers, so that its HUP waits
	// for a writer to come and go; 0 otherwise. Immutable.
	fPipe uint32
}

// notifyReaders wakes the read side's queue (and O_RDWR FIFO files).
func (p *pipe) notifyReaders(key waiter.EventMask, all bool) {
	notifyQueue(&p.readQ, key, all)
	notifyQueue(&p.bothQ, key, all)
}

// notifyWriters wakes the write side's queue (and O_RDWR FIFO files).
func (p *pipe) notifyWriters(key waiter.EventMask, all bool) {
	notifyQueue(&p.writeQ, key, all)
	notifyQueue(&p.bothQ, key, all)
}

func notifyQueue(q *waiter.Queue, key waiter.EventMask, all bool) {
	if all {
		q.NotifyAll(key)
	} else {
		q.Notify(key)
	}
}

func newPipeState() *pipe {
	return &pipe{slots: make([]pipeSlot, pipeSlots), rCounter: 1, wCounter: 1}
}

// NewPipe returns the two ends of a new pipe (pipe2). flags may hold
// O_NONBLOCK and O_DIRECT (O_CLOEXEC belongs to the fd table and is
// ignored here; the syscall layer rejects other bits). As in Linux, the
// write end gets both status flags and the read end only O_NONBLOCK: packet
// mode is a property of the writer.
func NewPipe(flags uint32) (r, w *File) {
	p := newPipeState()
	p.readers, p.writers = 1, 1 // +checklocksignore: p is not shared yet.
	r = New(&pipeEnd{p: p, reader: true}, unix.O_RDONLY|flags&unix.O_NONBLOCK)
	w = New(&pipeEnd{p: p, writer: true}, unix.O_WRONLY|flags&(unix.O_NONBLOCK|unix.O_DIRECT))
	return r, w
}

// CanDirectIO implements DirectIO: either end takes O_DIRECT (packet mode
// matters only to the writer).
func (e *pipeEnd) CanDirectIO(f *File) bool { return true }

// InodeKey implements SharedInode: the inode fdinfo shows is the pipe both
// ends share, or a FIFO's node (whose pipe comes and goes).
func (e *pipeEnd) InodeKey() any {
	if e.p.fifo != nil {
		return e.p.fifo
	}
	return e.p
}

// InodeLive implements SharedInode: whether either end is still open, or
// for a FIFO whether its node is still linked or open.
func (e *pipeEnd) InodeLive() bool {
	if n := e.p.fifo; n != nil {
		n.mu.Lock()
		defer n.mu.Unlock()
		return !n.unlinked || n.pipe != nil
	}
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	return e.p.readers+e.p.writers > 0
}

// usedLocked is the number of slots in use.
//
// +checklocks:p.mu
func (p *pipe) usedLocked() uint32 { return p.head - p.tail }

// emptyLocked reports whether no slot is in use.
//
// +checklocks:p.mu
func (p *pipe) emptyLocked() bool { return p.head == p.tail }

// fullLocked reports whether every slot the pipe may fill is in use.
//
// +checklocks:p.mu
func (p *pipe) fullLocked() bool { return p.usedLocked() >= uint32(len(p.slots)) }

// slotIndex is i's index in the ring.
//
// +checklocks:p.mu
func (p *pipe) slotIndex(i uint32) uint32 { return i & uint32(len(p.slots)-1) }

// Read implements Impl.Read: a non-blocking read.
func (e *pipeEnd) Read(f *File, dst []byte) (int, error) {
	return e.ReadRound(f, NewByteSequence(dst), IORound{})
}

// Write implements Impl.Write: a non-blocking write.
func (e *pipeEnd) Write(f *File, src []byte) (int, error) {
	return e.WriteRound(f, NewByteSequence(src), IORound{})
}

// ReadRound implements BlockingIO. Data is copied a slot at a time; a slot
// whose copy faults part-way stays in the pipe whole, and the read returns
// what earlier slots gave, or EFAULT if they gave nothing (pipe_read).
func (e *pipeEnd) ReadRound(f *File, dst IOSequence, r IORound) (int, error) {
	if dst.Len() == 0 {
		return 0, nil // a null read succeeds, before anything else
	}
	p := e.p
	total := dst.Len()
	ret := 0
	var err error
	wakeWriter := false
	wakeNextReader := r.Resumed

	p.mu.Lock()
	for {
		if !p.emptyLocked() {
			s := &p.slots[p.slotIndex(p.tail)]
			chars := int(s.len)
			if chars > total {
				chars = total
			}
			page := &p.pages[p.slotIndex(p.tail)]
			if n, _ := dst.CopyOut(page[s.off : int(s.off)+chars]); n < chars {
				if ret == 0 {
					err = unix.EFAULT
				}
				break
			}
			ret += chars
			s.off += int32(chars)
			s.len -= int32(chars)
			if s.packet {
				// A packet is read at most once: the rest is discarded.
				total = chars
				s.len = 0
			}
			if s.len == 0 {
				// Freeing a slot of a full pipe is what wakes writers.
				if p.fullLocked() {
					wakeWriter = true
				}
				*s = pipeSlot{}
				p.tail++
			}
			total -= chars
			if total == 0 {
				break
			}
			if !p.emptyLocked() {
				continue
			}
		}
		if p.writers == 0 || ret > 0 {
			break // EOF, or a short read
		}
		if !r.WillSleep {
			p.mu.Unlock()
			return 0, unix.EAGAIN
		}
		// About to sleep. Linux wakes writers here only if it freed slots
		// without reading anything, which needs empty slots that this
		// model never creates.
		p.mu.Unlock()
		if wakeWriter {
			p.notifyWriters(waiter.EventOut|waiter.EventWrNorm, false)
		}
		return 0, unix.EAGAIN
	}
	if p.emptyLocked() {
		wakeNextReader = false
	}
	p.mu.Unlock()

	if wakeWriter {
		p.notifyWriters(waiter.EventOut|waiter.EventWrNorm, false)
	}
	if wakeNextReader {
		p.notifyReaders(waiter.EventIn|waiter.EventRdNorm, false)
	}
	return ret, err
}

// WriteRound implements BlockingIO. The merge into the last slot takes the
// whole call's length modulo a page, so a call must hand its whole buffer to
// its first round. A fault part-way through a page drops that page's bytes:
// the round returns what earlier pages took, or EFAULT (pipe_write).
//
// It is one of the few functions over 80 lines: it follows pipe_write's
// body step by step (merge, slot loop, wakeups before sleeping), so that
// the two can be read side by side.
func (e *pipeEnd) WriteRound(f *File, src IOSequence, r IORound) (int, error) {
	if src.Len() == 0 {
		return 0, nil // a null write succeeds and wakes nobody
	}
	p := e.p
	packet := f.StatusFlags()&unix.O_DIRECT != 0
	ret := 0
	var err error
	wasEmpty := false
	wakeNextWriter := false

	p.mu.Lock()
	if r.Resumed {
		// After a sleep Linux re-reads emptiness and goes straight to
		// fresh slots.
		wasEmpty = p.emptyLocked()
		wakeNextWriter = true
	} else {
		if p.readers == 0 {
			err = unix.EPIPE
			goto out
		}
		wasEmpty = p.emptyLocked()
		if chars := src.Len() % pipePageSize; chars != 0 && !wasEmpty {
			i := p.slotIndex(p.head - 1)
			s := &p.slots[i]
			end := int(s.off) + int(s.len)
			if !s.packet && end+chars <= pipePageSize {
				if n, _ := src.CopyIn(p.pages[i][end : end+chars]); n < chars {
					err = unix.EFAULT
					goto out
				}
				s.len += int32(chars)
				ret = chars
				if src.Len() == 0 {
					goto out
				}
			}
		}
	}
	for {
		if p.readers == 0 {
			if ret == 0 {
				err = unix.EPIPE
			}
			break
		}
		if !p.fullLocked() {
			if p.pages == nil {
				p.pages = make([][pipePageSize]byte, len(p.slots))
			}
			i := p.slotIndex(p.head)
			want := min(src.Len(), pipePageSize)
			if n, _ := src.CopyIn(p.pages[i][:want]); n < want {
				if ret == 0 {
					err = unix.EFAULT
				}
				break
			}
			p.head++
			p.slots[i] = pipeSlot{len: int32(want), packet: packet}
			ret += want
			if src.Len() == 0 {
				break
			}
			if !p.fullLocked() {
				continue
			}
		}
		// Full, with bytes left to write.
		if !r.WillSleep {
			if ret == 0 {
				err = unix.EAGAIN
			}
			break
		}
		// About to sleep: wake readers only if this round found the pipe
		// empty (poll_usage plays no part here).
		p.mu.Unlock()
		if wasEmpty {
			p.notifyReaders(waiter.EventIn|waiter.EventRdNorm, false)
		}
		return ret, unix.EAGAIN
	}
out:
	if p.fullLocked() {
		wakeNextWriter = false
	}
	// "Epoll nonsensically wants a wakeup whether the pipe was already
	// empty or not": once polled, every write (even one that failed with
	// EAGAIN) wakes readers.
	wakeReaders := wasEmpty || p.polled
	p.mu.Unlock()

	if wakeReaders {
		p.notifyReaders(waiter.EventIn|waiter.EventRdNorm, false)
	}
	if wakeNextWriter {
		p.notifyWriters(waiter.EventOut|waiter.EventWrNorm, false)
	}
	if err != nil {
		return 0, err
	}
	return ret, nil
}

// Release implements Impl.Release (pipe_release). Losing the last reader
// or the last writer while the other side remains wakes everybody on both
// queues. A FIFO's pipe goes with its last file (put_pipe_info).
func (e *pipeEnd) Release(f *File) {
	p := e.p
	p.mu.Lock()
	if e.reader {
		p.readers--
	}
	if e.writer {
		p.writers--
	}
	wake := (p.readers == 0) != (p.writers == 0)
	if p.readers == 0 && p.writers == 0 {
		p.pages = nil
	}
	p.mu.Unlock()
	if wake {
		p.notifyReaders(0, true)
		p.notifyWriters(0, true)
	}
	if p.fifo != nil {
		p.fifo.putPipe(p)
	}
}

// Readiness implements Pollable. Like pipe_poll it also marks the pipe as
// polled, which makes every later write wake readers; callers that are not
// modelling a poll (a blocking read deciding whether to sleep) must not
// call it.
func (e *pipeEnd) Readiness(f *File, mask waiter.EventMask) waiter.EventMask {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	p.polled = true
	var m waiter.EventMask
	if e.reader {
		if !p.emptyLocked() {
			m |= waiter.EventIn | waiter.EventRdNorm
		}
		if p.writers == 0 && e.fPipe != p.wCounter {
			m |= waiter.EventHUp
		}
	}
	if e.writer {
		if !p.fullLocked() {
			m |= waiter.EventOut | waiter.EventWrNorm
		}
		if p.readers == 0 {
			m |= waiter.EventErr
		}
	}
	return m
}

// EventRegister implements Pollable: the read end hooks the reader queue,
// the write end the writer queue.
func (e *pipeEnd) EventRegister(f *File, w *waiter.Entry) { e.queue().Register(w) }

// EventUnregister implements Pollable.
func (e *pipeEnd) EventUnregister(f *File, w *waiter.Entry) { e.queue().Unregister(w) }

// HookQueue implements HookQueuer: an end hooks one queue for its life.
func (e *pipeEnd) HookQueue(*File) *waiter.Queue { return e.queue() }

func (e *pipeEnd) queue() *waiter.Queue {
	switch {
	case e.reader && e.writer:
		return &e.p.bothQ
	case e.reader:
		return &e.p.readQ
	}
	return &e.p.writeQ
}

// BlockingWaitExclusive implements ExclusiveBlocker: pipe_read and
// pipe_write sleep as exclusive waiters.
func (e *pipeEnd) BlockingWaitExclusive(*File) bool { return true }

// PipeSize is F_GETPIPE_SZ: the capacity in bytes.
func (e *pipeEnd) PipeSize() int {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	return len(e.p.slots) * pipePageSize
}

// SetPipeSize is F_SETPIPE_SZ (pipe_set_size): size (fcntl's argument as
// an unsigned int) rounds up to a power-of-two number of pages, at least
// one; above 2^31 it is EINVAL. Growing past PipeMaxSize is EPERM; a size
// whose slot count is below the slots in use is EBUSY. The ring keeps its
// contents, and the writers' queue is woken (key 0, wake-one) as
// pipe_resize_ring does. It returns the new size in bytes.
func (e *pipeEnd) SetPipeSize(size uint32) (int, error) {
	if size > 1<<31 {
		return 0, unix.EINVAL
	}
	bytes := uint32(pipePageSize)
	for bytes < size {
		bytes <<= 1
	}
	n := int(bytes / pipePageSize)
	p := e.p
	p.mu.Lock()
	if n > len(p.slots) && bytes > PipeMaxSize {
		p.mu.Unlock()
		return 0, unix.EPERM
	}
	used := p.usedLocked()
	if uint32(n) < used {
		p.mu.Unlock()
		return 0, unix.EBUSY
	}
	slots := make([]pipeSlot, n)
	var pages [][pipePageSize]byte
	if p.pages != nil {
		pages = make([][pipePageSize]byte, n)
	}
	for i := uint32(0); i < used; i++ {
		j := p.slotIndex(p.tail + i)
		slots[i] = p.slots[j]
		pages[i] = p.pages[j]
	}
	p.slots, p.pages, p.tail, p.head = slots, pages, 0, used
	p.mu.Unlock()
	p.notifyWriters(0, false)
	return n * pipePageSize, nil
}

// Buffered is FIONREAD: the bytes waiting to be read.
func (e *pipeEnd) Buffered() int {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for i := p.tail; i != p.head; i++ {
		n += int(p.slots[p.slotIndex(i)].len)
	}
	return n
}

// SlotsUsed returns how many of the 16 slots hold data (for tests and
// fuzzers).
func (e *pipeEnd) SlotsUsed() int {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	return int(p.usedLocked())
}

// CheckInvariants implements InvariantChecker.
func (e *pipeEnd) CheckInvariants() error {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.readers < 0 || p.writers < 0 || p.fifo == nil && (p.readers > 1 || p.writers > 1) {
		return fmt.Errorf("pipe: readers=%d writers=%d", p.readers, p.writers)
	}
	ring := uint32(len(p.slots))
	if ring == 0 || ring&(ring-1) != 0 || p.pages != nil && len(p.pages) != len(p.slots) {
		return fmt.Errorf("pipe: ring of %d slots, %d pages", ring, len(p.pages))
	}
	used := p.usedLocked()
	if used > ring {
		return fmt.Errorf("pipe: %d slots in use (head %d, tail %d)", used, p.head, p.tail)
	}
	if used > 0 && p.pages == nil {
		return fmt.Errorf("pipe: %d slots in use without pages", used)
	}
	for i := uint32(0); i < ring; i++ {
		idx := p.slotIndex(p.tail + i)
		s := p.slots[idx]
		if i >= used {
			if s != (pipeSlot{}) {
				return fmt.Errorf("pipe: free slot %d not clear: %+v", idx, s)
			}
			continue
		}
		if s.len <= 0 || s.off < 0 || int(s.off)+int(s.len) > pipePageSize {
			return fmt.Errorf("pipe: slot %d has off %d len %d", idx, s.off, s.len)
		}
	}
	return nil
}

// PipeSizer is implemented by files that serve F_GETPIPE_SZ and
// F_SETPIPE_SZ (pipes and FIFOs); fcntl on any other file is EBADF.
type PipeSizer interface {
	PipeSize() int
	SetPipeSize(size uint32) (int, error)
}

// PipeInfo is implemented by pipe ends: F_GETPIPE_SZ, F_SETPIPE_SZ,
// FIONREAD and the slot count.
type PipeInfo interface {
	PipeSizer
	Buffered() int
	SlotsUsed() int
}
