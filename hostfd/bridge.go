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

// Notifier is how a bridge learns host readiness (doc.go, "The bridge").
type Notifier int

const (
	// NotifyPpoll, the default: level-triggered pollers blocked in ppoll
	// over the fds that have waiters, with per-group arming. A host
	// change while the group is still high and unobserved gives no new
	// edge.
	NotifyPpoll Notifier = iota
	// NotifyEpoll: host epolls where every pollable fd is registered
	// edge-triggered, as gVisor's fdnotifier does. Every host wakeup of
	// an fd that Linux would give an edge-triggered entry (a second
	// arrival while still readable included) is a new edge of the
	// model's queue.
	NotifyEpoll
)

func (n Notifier) String() string {
	switch n {
	case NotifyPpoll:
		return "ppoll"
	case NotifyEpoll:
		return "epoll"
	}
	return "Notifier(" + itoa(int(n)) + ")"
}

// Options configure a Bridge.
type Options struct {
	// Notifier selects how host readiness is learnt; the zero value is
	// NotifyPpoll.
	Notifier Notifier
	// Shards is the number of ppoll pollers among which fds are placed:
	// each is one goroutine that spends its time blocked in ppoll on an
	// OS thread of its own. 0 means DefaultShards. A bridge has one more
	// poller, for re-arms (doc.go). Unused with NotifyEpoll, whose two
	// pollers wait in epoll_wait.
	Shards int
}

// Bridge owns imported host fds and the pollers that turn host readiness
// into notifications of the model's wait queues.
type Bridge struct {
	shards []*shard // the home pollers, among which fds are placed
	fast   *shard   // the re-arm poller (see shard)
	// fastCap is how many fds fast watches at most (fastCap, or 0 in
	// the benchmark that compares without it). Set before any import.
	fastCap int
	all     []*shard // shards and fast
	// edge is the epoll poller (NotifyEpoll); nil in the ppoll mode,
	// which has shards, and the other way round.
	edge *edgePoller
	next atomic.Uint32 // +checklocksignore: not guarded (the tool guesses so, as Import reads it under mu)
	live atomic.Int64  // imported fds not yet closed
	// listeners are the sockets listening through the bridge (listen.go).
	listeners listenTable
	wg        sync.WaitGroup

	mu sync.Mutex
	// +checklocks:mu
	closed bool
	// probe is a host epoll that only asks Linux whether an fd of an
	// unknown kind is pollable (epoll_ctl ADD, then DEL); -1 after Close.
	// +checklocks:mu
	probe int32
}

// NewBridge starts a bridge's pollers, of the notifier opts names; an
// unknown Notifier is a misuse (panic).
func NewBridge(opts Options) (*Bridge, error) {
	if opts.Notifier != NotifyPpoll && opts.Notifier != NotifyEpoll {
		panic("hostfd.NewBridge: unknown Options.Notifier " + opts.Notifier.String())
	}
	b := &Bridge{fastCap: fastCap, probe: -1}
	probe, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	b.probe = int32(probe)
	if opts.Notifier == NotifyEpoll {
		b.edge, err = newEdgePoller(b)
	} else {
		err = b.startShards(opts.Shards)
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// startShards starts n ppoll pollers (DefaultShards if n <= 0) and the
// re-arm poller.
func (b *Bridge) startShards(n int) error {
	if n <= 0 {
		n = DefaultShards
	}
	for i := 0; i <= n; i++ {
		efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
		if err != nil {
			return err
		}
		s := &shard{b: b, evfd: int32(efd), running: true}
		s.cond.L = &s.mu
		s.pfds = []unix.PollFd{{Fd: int32(efd), Events: unix.POLLIN}}
		s.pfiles = []*hostFile{nil}
		if i == n {
			b.fast = s
		} else {
			b.shards = append(b.shards, s)
		}
		b.all = append(b.all, s)
		b.wg.Add(1)
		go s.run()
	}
	for _, s := range b.shards {
		s.fast = b.fast
	}
	return nil
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
	if b.probe >= 0 {
		closeFD(b.probe)
		b.probe = -1
	}
	b.mu.Unlock()
	if b.edge != nil {
		b.edge.stop()
	}
	for _, s := range b.all {
		s.mu.Lock()
		s.stopped = true
		s.wakeLocked()
		s.mu.Unlock()
	}
	b.wg.Wait()
	for _, s := range b.all {
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
// ppoll sets, or in the host epoll with NotifyEpoll), for tests and
// benchmarks.
func (b *Bridge) Watched() int {
	if b.edge != nil {
		return b.edge.registered()
	}
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

// attach gives h to a poller: the least loaded shard, or the edge
// poller. A file of an unknown kind is first asked to the host: one that
// Linux's epoll refuses (EPERM) is not pollable and gets no poller.
func (b *Bridge) attach(h *hostFile) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrBridgeClosed
	}
	if h.kind == KindOther {
		pollable, err := b.probeLocked(h.fd)
		if err != nil {
			return err
		}
		h.pollable = pollable
	}
	switch {
	case !h.pollable:
	case b.edge != nil:
		if err := b.edge.add(h); err != nil {
			return err
		}
	default:
		h.shard = b.leastLoadedLocked()
		h.slot = h.shard.add(h)
	}
	b.live.Add(1)
	return nil
}

// probeLocked asks Linux whether fd is pollable: epoll_ctl ADD on the
// probe instance succeeds (then DEL), or fails with EPERM (no poll
// operation: a regular file, a directory).
//
// +checklocks:b.mu
func (b *Bridge) probeLocked(fd int32) (bool, error) {
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	switch err := unix.EpollCtl(int(b.probe), unix.EPOLL_CTL_ADD, int(fd), &ev); err {
	case nil:
		unix.EpollCtl(int(b.probe), unix.EPOLL_CTL_DEL, int(fd), nil)
		return true, nil
	case unix.EPERM:
		return false, nil
	default:
		return false, err
	}
}

// leastLoadedLocked returns the shard with the fewest fds, starting the
// search at a rotating shard so that ties spread.
//
// +checklocks:b.mu
func (b *Bridge) leastLoadedLocked() *shard {
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
	return best
}

// detach removes h from its poller; when it returns, no poller has h's
// fd number in its ppoll set or host epoll.
//
// everFast (h.everFast, read under h.mu after closed was set) says that h
// went through the re-arm poller: detach then also waits for a round of
// it, since it may still watch the number.
func (b *Bridge) detach(h *hostFile, everFast bool) {
	switch {
	case !h.pollable:
	case b.edge != nil:
		b.edge.remove(h)
	case h.shard != nil:
		h.shard.remove(h.slot)
	}
	if everFast && b.fast != nil {
		b.fast.waitRound()
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
//
// The re-arm poller. One event costs a home shard two ppoll rounds if the
// re-arm that follows it (the guest drained the fd) wakes the home shard:
// the round that reported the event, and the one the wakeup ends, each a
// pass of the kernel over every fd of the shard. So a re-arm of an fd that
// the home shard already watches (only its events change) does not wake
// the home shard: the fd is handed to the bridge's fast shard, a poller
// with a small set (at most fastCap fds), which watches it until the home
// shard's next round applies the re-armed events and gives it back. While
// both watch an fd, each report goes through the file's arming, so an
// event is still reported once. When the fast shard is full, the home
// shard is woken as before.
type shard struct {
	b    *Bridge
	fast *shard // the bridge's re-arm poller; nil in the fast shard itself

	mu sync.Mutex
	// cond's lock is mu.
	// +checklocks:mu
	cond sync.Cond // signalled when gen advances or the poller exits

	// +checklocks:mu
	evfd int32 // read by the poller at start
	// +checklocks:mu
	files []*hostFile // by slot
	// +checklocks:mu
	want []unix.PollFd // by slot: what the poller should watch
	// +checklocks:mu
	applied []unix.PollFd // by slot: what the poller's array holds
	// +checklocks:mu
	isDirty []bool
	// +checklocks:mu
	fslot []int32 // by slot: the slot in fast, or -1 (always, in the fast shard)
	// +checklocks:mu
	dirty []int32
	// +checklocks:mu
	free []int32
	// +checklocks:mu
	gen uint64 // poller rounds
	// +checklocks:mu
	syncReq uint64 // Sync requests made
	// +checklocks:mu
	syncPend uint64 // the requests the current round serves
	// +checklocks:mu
	syncDone uint64 // the requests served by a completed round
	// +checklocks:mu
	wakeOn bool // a wakeup is pending in evfd
	// +checklocks:mu
	stopped bool
	// +checklocks:mu
	running bool          // the poller goroutine has not exited
	pfds    []unix.PollFd // poller-owned
	pfiles  []*hostFile   // poller-owned
	errs    atomic.Uint64 // ppoll failures other than EINTR
	rounds  atomic.Uint64 // ppoll calls
	scratch [8]byte       // poller-owned
	zero    unix.Timespec // +checklocksignore: not guarded (immutable zeros). A zero timeout, for the rounds that serve Sync.
}

func (s *shard) add(h *hostFile) int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	slot := s.newSlotLocked()
	s.files[slot] = h
	s.want[slot] = unix.PollFd{Fd: -1}
	s.markDirtyLocked(slot)
	return slot
}

// newSlotLocked returns a free slot, reusing a released one first; a new
// slot watches nothing (Fd -1) and is not dirty.
//
// +checklocks:s.mu
func (s *shard) newSlotLocked() int32 {
	if n := len(s.free); n > 0 {
		slot := s.free[n-1]
		s.free = s.free[:n-1]
		return slot
	}
	s.files = append(s.files, nil)
	s.want = append(s.want, unix.PollFd{Fd: -1})
	s.applied = append(s.applied, unix.PollFd{Fd: -1})
	s.isDirty = append(s.isDirty, false)
	s.fslot = append(s.fslot, -1)
	return int32(len(s.files) - 1)
}

// markDirtyLocked marks slot for the poller to apply.
//
// +checklocks:s.mu
func (s *shard) markDirtyLocked(slot int32) {
	if !s.isDirty[slot] {
		s.isDirty[slot] = true
		s.dirty = append(s.dirty, slot)
	}
}

// update sets what the poller should watch for slot. Called with the
// file's mu held (lock order: hostFile.mu > shard.mu > fast shard's mu).
func (s *shard) update(slot int32, p unix.PollFd) {
	s.mu.Lock()
	if s.want[slot] != p {
		s.want[slot] = p
		s.markDirtyLocked(slot)
		if fs := s.fslot[slot]; fs >= 0 {
			// The fast shard watches it meanwhile: keep it in step.
			s.fast.set(fs, p)
		}
		a := s.applied[slot]
		if p.Fd >= 0 && (a.Fd != p.Fd || p.Events&^a.Events != 0) {
			if s.fslot[slot] < 0 && a.Fd == p.Fd && s.fast != nil {
				// A re-arm: hand it to the fast shard if it has room.
				if h := s.files[slot]; h != nil {
					if fs := s.fast.watch(h, p); fs >= 0 {
						s.fslot[slot] = fs
						h.everFast = true // the caller holds h.mu
						s.mu.Unlock()
						return
					}
				}
			}
			if s.fslot[slot] < 0 {
				s.wakeLocked()
			}
		}
	}
	s.mu.Unlock()
}

// fastCap is the most fds the fast shard watches at once.
const fastCap = 64

// watch places h in the fast shard (s), watching p, and returns its slot
// there, or -1 when the fast shard is full. Called with the home shard's
// mu held.
func (s *shard) watch(h *hostFile, p unix.PollFd) int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.files)-len(s.free) >= s.b.fastCap {
		return -1
	}
	slot := s.newSlotLocked()
	s.files[slot] = h
	s.want[slot] = p
	s.markDirtyLocked(slot)
	if s.applied[slot] != p {
		s.wakeLocked()
	}
	return slot
}

// set changes what the fast shard (s) watches in slot. Called with the
// home shard's mu held.
func (s *shard) set(slot int32, p unix.PollFd) {
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

// drop frees slot of the fast shard (s), without waiting for its poller
// to apply it (detach waits, with waitRound, before a close). Called with
// the home shard's mu held.
func (s *shard) drop(slot int32) {
	s.mu.Lock()
	s.files[slot] = nil
	s.want[slot] = unix.PollFd{Fd: -1}
	s.markDirtyLocked(slot)
	s.free = append(s.free, slot)
	s.mu.Unlock()
}

// waitRound waits until the poller has applied every change made so far.
func (s *shard) waitRound() {
	s.mu.Lock()
	if s.running {
		s.wakeLocked()
		g := s.gen
		for s.gen == g && s.running {
			s.cond.Wait()
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
	if fs := s.fslot[slot]; fs >= 0 {
		s.fast.drop(fs)
		s.fslot[slot] = -1
	}
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

// Sync returns once every host event that happened before the call has
// reached the queues of the files that wait for it (as the poller reports
// events: armed groups of watched fds): each poller completes a round whose
// ppoll started after the call. It is for harnesses that want host events
// delivered before they go on, as Linux delivers them at once (the hostfd
// conformance backend calls it before every system call); it costs each
// poller a round, that is a ppoll of all its watched fds. Sync returns at
// once after Close.
func (b *Bridge) Sync() {
	if b.edge != nil {
		b.edge.sync()
		return
	}
	var stack [8]uint64
	want := stack[:0]
	if len(b.all) > len(stack) {
		want = make([]uint64, 0, len(b.all))
	}
	want = want[:len(b.all)]
	for i, s := range b.all {
		s.mu.Lock()
		s.syncReq++
		want[i] = s.syncReq
		if s.running {
			// Unconditionally: a pending wakeup may already have been
			// consumed by the round in progress.
			s.wakeOn = true
			one := [8]byte{1}
			rawWrite(s.evfd, one[:])
		}
		s.mu.Unlock()
	}
	for i, s := range b.all {
		s.mu.Lock()
		for s.running && s.syncDone < want[i] {
			s.cond.Wait()
		}
		s.mu.Unlock()
	}
}

// wakeLocked makes the poller run a round (once per round however many
// callers ask).
//
// +checklocks:s.mu
func (s *shard) wakeLocked() {
	if s.wakeOn || !s.running {
		return
	}
	s.wakeOn = true
	one := [8]byte{1}
	rawWrite(s.evfd, one[:])
}

// run is the poller: rounds of ppoll over the watched fds, each preceded
// by the changes queued since the last one.
func (s *shard) run() {
	defer s.b.wg.Done()
	scanned := false
	for {
		n, timeout, ok := s.startRound(scanned)
		if !ok {
			return
		}
		s.rounds.Add(1)
		// A blocking system call: the thread gives up its P while it
		// sleeps, so a blocked poller costs an OS thread, not a P.
		ready, _, e := unix.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&s.pfds[0])), uintptr(n), uintptr(unsafe.Pointer(timeout)), 0, 0, 0)
		// A round that failed for good (not EINTR) counts as served, so
		// that Sync cannot wait for ever on a poller that cannot poll.
		scanned = e != unix.EINTR
		if e != 0 {
			if e != unix.EINTR {
				// ENOMEM or EINVAL (nfds above RLIMIT_NOFILE): back off
				// rather than spin, and retry with the next round.
				s.errs.Add(1)
				time.Sleep(10 * time.Millisecond)
			}
			continue
		}
		s.dispatch(n, int(ready))
	}
}

// startRound prepares a round: it applies the queued changes to the ppoll
// array, serves the Sync requests the last round (scanned: its ppoll
// succeeded) completed, and returns the array's length and the ppoll
// timeout (zero while Sync requests wait for a round, nil otherwise), or
// false when the poller must exit.
func (s *shard) startRound(scanned bool) (int, *unix.Timespec, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		s.running = false
		s.cond.Broadcast()
		return 0, nil, false
	}
	s.applyDirtyLocked()
	s.wakeOn = false
	s.gen++
	// The round that just ended (if its ppoll succeeded) served the Sync
	// requests made before it started; this one serves those made since,
	// without blocking.
	if scanned {
		s.syncDone = s.syncPend
	}
	s.syncPend = s.syncReq
	var timeout *unix.Timespec
	if s.syncPend != s.syncDone {
		timeout = &s.zero
	}
	s.cond.Broadcast()
	return len(s.pfds), timeout, true
}

// applyDirtyLocked copies the changed slots into the poller's ppoll array.
//
// +checklocks:s.mu
func (s *shard) applyDirtyLocked() {
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
		if s.fast != nil && s.fslot[slot] >= 0 {
			// This round watches what the fast shard did.
			s.fast.drop(s.fslot[slot])
			s.fslot[slot] = -1
		}
	}
	s.dirty = s.dirty[:0]
}

// dispatch hands the revents of a round (ready entries of n) to their
// files; the scan stops at the last entry ppoll reported.
func (s *shard) dispatch(n, ready int) {
	left := ready
	if s.pfds[0].Revents != 0 {
		s.pfds[0].Revents = 0
		rawRead(s.pfds[0].Fd, s.scratch[:])
		left--
	}
	for i := 1; i < n && left > 0; i++ {
		r := s.pfds[i].Revents
		if r == 0 {
			continue
		}
		left--
		s.pfds[i].Revents = 0
		if h := s.pfiles[i]; h != nil {
			h.polled(waiter.EventMask(uint16(r)))
		}
	}
}
