package hostfd

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// DefaultShards is the number of pollers of a bridge when Options.Shards
// is 0.
const DefaultShards = 4

// Options configure a Bridge.
type Options struct {
	// Shards is the number of pollers: each is one goroutine that spends
	// its time blocked in ppoll on an OS thread of its own. 0 means
	// DefaultShards.
	Shards int
}

// Bridge owns imported host fds and the pollers that turn host readiness
// into notifications of the model's wait queues.
type Bridge struct {
	shards []*shard
	next   atomic.Uint32
	live   atomic.Int64 // imported fds not yet closed
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool // guarded by mu
}

// NewBridge starts a bridge's pollers.
func NewBridge(opts Options) (*Bridge, error) {
	n := opts.Shards
	if n <= 0 {
		n = DefaultShards
	}
	b := &Bridge{}
	for i := 0; i < n; i++ {
		efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
		if err != nil {
			b.Close()
			return nil, err
		}
		s := &shard{b: b, evfd: int32(efd), running: true}
		s.cond.L = &s.mu
		s.pfds = []unix.PollFd{{Fd: int32(efd), Events: unix.POLLIN}}
		s.pfiles = []*hostFile{nil}
		b.shards = append(b.shards, s)
		b.wg.Add(1)
		go s.run()
	}
	return b, nil
}

// Close stops the pollers and waits for them to exit. Files imported
// earlier stay usable (reads, writes, readiness queries, and the wakeups
// of their own operations), but changes on the host side no longer reach
// their queues; they are still closed when released. Import fails after
// Close.
func (b *Bridge) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	for _, s := range b.shards {
		s.mu.Lock()
		s.stopped = true
		s.wakeLocked()
		s.mu.Unlock()
	}
	b.wg.Wait()
	for _, s := range b.shards {
		s.mu.Lock()
		closeFD(s.evfd)
		s.evfd = -1
		s.mu.Unlock()
	}
	return nil
}

// Live returns the number of imported host fds not yet closed.
func (b *Bridge) Live() int { return int(b.live.Load()) }

// Watched returns how many fds the pollers currently watch (have in their
// ppoll sets), for tests and benchmarks.
func (b *Bridge) Watched() int {
	n := 0
	for _, s := range b.shards {
		s.mu.Lock()
		for _, p := range s.want {
			if p.Fd >= 0 {
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}

// attach places h in the least loaded shard.
func (b *Bridge) attach(h *hostFile) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrBridgeClosed
	}
	best := b.shards[0]
	bestN := -1
	start := int(b.next.Add(1))
	for i := range b.shards {
		s := b.shards[(start+i)%len(b.shards)]
		s.mu.Lock()
		n := len(s.files) - len(s.free)
		s.mu.Unlock()
		if bestN < 0 || n < bestN {
			best, bestN = s, n
		}
	}
	h.shard = best
	h.slot = best.add(h)
	b.live.Add(1)
	return nil
}

// detach removes h from its shard; when it returns, the poller no longer
// has h's fd number in its ppoll set.
func (b *Bridge) detach(h *hostFile) {
	if h.shard != nil {
		h.shard.remove(h.slot)
	}
}

// shard is one poller: a goroutine blocked in ppoll over the fds of its
// slots that have waiters and armed events, plus an eventfd that wakes it
// when that set grows or when it must stop.
//
// The poller owns pfds and pfiles (its ppoll array; slot i is entry i+1,
// entry 0 is the eventfd). Everyone else changes want and queues the slot
// on dirty; the poller copies the dirty slots into its array before each
// ppoll, so a change costs O(1), not a rebuild. A change that only removes
// events does not wake the poller (a stale event is filtered out by the
// file's arming and costs at most one extra round); a change that adds
// events does.
type shard struct {
	b *Bridge

	mu   sync.Mutex
	cond sync.Cond // signalled when gen advances or the poller exits

	evfd    int32         // guarded by mu (read by the poller at start)
	files   []*hostFile   // by slot; guarded by mu
	want    []unix.PollFd // by slot: what the poller should watch; guarded by mu
	applied []unix.PollFd // by slot: what the poller's array holds; guarded by mu
	isDirty []bool        // guarded by mu
	dirty   []int32       // guarded by mu
	free    []int32       // guarded by mu
	gen     uint64        // poller rounds; guarded by mu
	wakeOn  bool          // a wakeup is pending in evfd; guarded by mu
	stopped bool          // guarded by mu
	running bool          // the poller goroutine has not exited; guarded by mu
	pfds    []unix.PollFd // poller-owned
	pfiles  []*hostFile   // poller-owned
	errs    atomic.Uint64 // ppoll failures other than EINTR
	rounds  atomic.Uint64 // ppoll calls
	scratch [8]byte       // poller-owned
}

func (s *shard) add(h *hostFile) int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var slot int32
	if n := len(s.free); n > 0 {
		slot = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		slot = int32(len(s.files))
		s.files = append(s.files, nil)
		s.want = append(s.want, unix.PollFd{Fd: -1})
		s.applied = append(s.applied, unix.PollFd{Fd: -1})
		s.isDirty = append(s.isDirty, false)
	}
	s.files[slot] = h
	s.want[slot] = unix.PollFd{Fd: -1}
	s.markDirtyLocked(slot)
	return slot
}

func (s *shard) markDirtyLocked(slot int32) {
	if !s.isDirty[slot] {
		s.isDirty[slot] = true
		s.dirty = append(s.dirty, slot)
	}
}

// update sets what the poller should watch for slot. Called with the
// file's mu held (lock order: hostFile.mu > shard.mu).
func (s *shard) update(slot int32, p unix.PollFd) {
	s.mu.Lock()
	if s.want[slot] != p {
		s.want[slot] = p
		s.markDirtyLocked(slot)
		a := s.applied[slot]
		if p.Fd >= 0 && (a.Fd != p.Fd || p.Events&^a.Events != 0) {
			s.wakeLocked()
		}
	}
	s.mu.Unlock()
}

// remove frees slot. If the poller's array still holds the slot's fd, it
// wakes the poller and waits until the poller has dropped it, so that the
// caller may close the fd: no ppoll ever sees a closed (and maybe reused)
// number of ours.
func (s *shard) remove(slot int32) {
	s.mu.Lock()
	s.files[slot] = nil
	s.want[slot] = unix.PollFd{Fd: -1}
	s.markDirtyLocked(slot)
	if s.applied[slot].Fd >= 0 && s.running {
		s.wakeLocked()
		g := s.gen
		for s.gen == g && s.running {
			s.cond.Wait()
		}
	}
	s.free = append(s.free, slot)
	s.mu.Unlock()
}

// wakeLocked makes the poller run a round (once per round however many
// callers ask).
func (s *shard) wakeLocked() {
	if s.wakeOn || !s.running {
		return
	}
	s.wakeOn = true
	one := [8]byte{1}
	rawWrite(s.evfd, one[:])
}

func (s *shard) run() {
	defer s.b.wg.Done()
	for {
		s.mu.Lock()
		if s.stopped {
			s.running = false
			s.cond.Broadcast()
			s.mu.Unlock()
			return
		}
		for _, slot := range s.dirty {
			s.isDirty[slot] = false
			i := int(slot) + 1
			for len(s.pfds) <= i {
				s.pfds = append(s.pfds, unix.PollFd{Fd: -1})
				s.pfiles = append(s.pfiles, nil)
			}
			s.pfds[i] = s.want[slot]
			s.pfiles[i] = s.files[slot]
			s.applied[slot] = s.want[slot]
		}
		s.dirty = s.dirty[:0]
		s.wakeOn = false
		s.gen++
		s.cond.Broadcast()
		n := len(s.pfds)
		s.mu.Unlock()

		s.rounds.Add(1)
		// A blocking system call: the thread gives up its P while it
		// sleeps, so a blocked poller costs an OS thread, not a P.
		_, _, e := unix.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&s.pfds[0])), uintptr(n), 0, 0, 0, 0)
		if e != 0 {
			if e != unix.EINTR {
				// ENOMEM or EINVAL (nfds above RLIMIT_NOFILE): back off
				// rather than spin, and retry with the next round.
				s.errs.Add(1)
				time.Sleep(10 * time.Millisecond)
			}
			continue
		}
		if s.pfds[0].Revents != 0 {
			s.pfds[0].Revents = 0
			rawRead(s.pfds[0].Fd, s.scratch[:])
		}
		for i := 1; i < n; i++ {
			r := s.pfds[i].Revents
			if r == 0 {
				continue
			}
			s.pfds[i].Revents = 0
			if h := s.pfiles[i]; h != nil {
				h.polled(waiter.EventMask(uint16(r)))
			}
		}
	}
}
