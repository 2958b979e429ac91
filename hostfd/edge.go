package hostfd

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// The edge poller (Options.Notifier NotifyEpoll): host epoll instances
// where every pollable imported fd is registered edge-triggered from
// import to release, each watched by a goroutine blocked in epoll_wait.
// The host reports an fd each time its wait queue is woken with a key its
// registration takes (ep_poll_callback queues an edge-triggered item again
// on every such wakeup), so a second arrival while the fd is still
// readable is a new host edge, which the bridge passes on as a new edge
// of the model's queue (doc.go, "The edge mode").
//
// There are two sets, so that the key of a host wakeup is known: the
// arrival set registers IN|PRI|RDNORM|RDBAND|MSG, the space set OUT,
// WRNORM, WRBAND and RDHUP. A wakeup whose key is only write space (a host
// peer reading) wakes only the space set's item, one whose key is data
// only the arrival set's; wakeups with key 0 (close, shutdown) or with HUP
// or ERR wake both.

// gEvery holds the groups whose every host wakeup (in their set) is a new
// edge, even while the group is high: data, a connection or urgent data
// arriving, and write space, as Linux wakes an edge-triggered entry on
// every wakeup whose key it takes. The other groups (RDHUP, HUP, ERR) are
// reported when they rise after being seen low, as in the ppoll mode.
const gEvery = gIn | gPri | gMsg | gOut

// The two sets: what each registers (edge-triggered; ERR and HUP are
// always reported), which groups its reports may carry (scope), and which
// of them every wakeup reports (every).
var edgeSets = [2]struct {
	events       uint32
	scope, every waiter.EventMask
}{
	{uint32(gIn|gPri|gMsg) | unix.EPOLLET, gIn | gPri | gMsg | gHUpErr, gIn | gPri | gMsg},
	{uint32(gOut|gRdHUp) | unix.EPOLLET, gOut | gRdHUp | gHUpErr, gOut},
}

// edgeBatch is how many host events one epoll_wait harvests.
const edgeBatch = 128

type edgePoller struct {
	b *Bridge

	mu      sync.Mutex
	cond    sync.Cond   // signalled when a round starts or a set's poller exits
	files   []*hostFile // by slot; guarded by mu
	gens    []int32     // by slot, bumped when the slot is freed; guarded by mu
	free    []int32     // guarded by mu
	stopped bool        // guarded by mu
	sets    [2]*edgeSet
}

// edgeSet is one host epoll instance and its poller.
type edgeSet struct {
	p     *edgePoller
	index int // in edgeSets

	// Guarded by p.mu.
	epfd     int32 // -1 after stop
	evfd     int32 // wakes the poller (Sync, stop); -1 after stop
	syncReq  uint64
	syncPend uint64
	syncDone uint64
	running  bool // the poller goroutine has not exited

	events  [edgeBatch]unix.EpollEvent // poller-owned
	scratch [8]byte                    // poller-owned
	errs    atomic.Uint64              // epoll_wait failures other than EINTR
	rounds  atomic.Uint64              // epoll_wait calls
}

// newEdgePoller makes the two sets and starts their pollers.
func newEdgePoller(b *Bridge) (*edgePoller, error) {
	p := &edgePoller{b: b}
	p.cond.L = &p.mu
	for i := range p.sets {
		s, err := newEdgeSet(p, i)
		if err != nil {
			p.stop()
			return nil, err
		}
		p.sets[i] = s
		b.wg.Add(1)
		go s.run()
	}
	return p, nil
}

// newEdgeSet makes the host epoll of set i and its wakeup eventfd.
func newEdgeSet(p *edgePoller, i int) (*edgeSet, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		closeFD(int32(epfd))
		return nil, err
	}
	// The eventfd is level-triggered, with data -1 (no slot).
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: -1}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		closeFD(int32(epfd))
		closeFD(int32(evfd))
		return nil, err
	}
	return &edgeSet{p: p, index: i, epfd: int32(epfd), evfd: int32(evfd), running: true}, nil
}

// add registers h's fd in both sets. Called under Bridge.mu, before
// anyone else knows h.
func (p *edgePoller) add(h *hostFile) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var slot int32
	if n := len(p.free); n > 0 {
		slot = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		p.files = append(p.files, nil)
		p.gens = append(p.gens, 0)
		slot = int32(len(p.files) - 1)
	}
	for i, s := range p.sets {
		ev := unix.EpollEvent{Events: edgeSets[i].events, Fd: slot, Pad: p.gens[slot]}
		if err := unix.EpollCtl(int(s.epfd), unix.EPOLL_CTL_ADD, int(h.fd), &ev); err != nil {
			for _, t := range p.sets[:i] {
				unix.EpollCtl(int(t.epfd), unix.EPOLL_CTL_DEL, int(h.fd), nil)
			}
			p.free = append(p.free, slot)
			return err
		}
	}
	// A set whose groups are ready now has queued h's item at ADD: that
	// first report is no change, so it counts as an echo. (h.mu is not
	// needed: the pollers reach h only through lookup, after p.mu.)
	h.echo = groupsOf(poll0(h.fd)) & gEvery
	p.files[slot] = h
	h.eslot = slot
	return nil
}

// remove takes h's fd out of the host epolls, so that it may be closed:
// no epoll_wait that starts later reports it, and an event already
// harvested for its slot is dropped (the slot's generation changed).
func (p *edgePoller) remove(h *hostFile) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.sets {
		if s.epfd >= 0 {
			unix.EpollCtl(int(s.epfd), unix.EPOLL_CTL_DEL, int(h.fd), nil)
		}
	}
	p.files[h.eslot] = nil
	p.gens[h.eslot]++
	p.free = append(p.free, h.eslot)
}

// registered returns how many fds the host epolls hold.
func (p *edgePoller) registered() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.files) - len(p.free)
}

// lookup returns the file of an event's slot and generation, or nil when
// the slot was freed since.
func (p *edgePoller) lookup(slot, gen int32) *hostFile {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gens[slot] != gen {
		return nil
	}
	return p.files[slot]
}

// wakeLocked makes the set's epoll_wait return. p.mu is held.
func (s *edgeSet) wakeLocked() {
	if s.running {
		one := [8]byte{1}
		rawWrite(s.evfd, one[:])
	}
}

// sync returns once, in each set, a round that started after the call
// has harvested every host event queued.
func (p *edgePoller) sync() {
	var want [len(edgeSets)]uint64
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, s := range p.sets {
		s.syncReq++
		want[i] = s.syncReq
		s.wakeLocked()
	}
	for i, s := range p.sets {
		for s.running && s.syncDone < want[i] {
			p.cond.Wait()
		}
	}
}

// stop ends the pollers and closes their fds.
func (p *edgePoller) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	for _, s := range p.sets {
		if s != nil {
			s.wakeLocked()
		}
	}
	for _, s := range p.sets {
		if s == nil {
			continue
		}
		for s.running {
			p.cond.Wait()
		}
		closeFD(s.epfd)
		closeFD(s.evfd)
		s.epfd, s.evfd = -1, -1
	}
}

func (s *edgeSet) run() {
	defer s.p.b.wg.Done()
	complete := false // the last epoll_wait harvested everything queued
	for {
		epfd, timeout, ok := s.startRound(complete)
		if !ok {
			return
		}
		s.rounds.Add(1)
		// A blocking system call: the thread gives up its P while it
		// sleeps.
		n, _, errno := unix.Syscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd),
			uintptr(unsafe.Pointer(&s.events[0])), edgeBatch, uintptr(timeout), 0, 0)
		if errno != 0 {
			// A failure for good counts as complete, so that Sync cannot
			// wait for ever on a poller that cannot wait.
			complete = errno != unix.EINTR
			if complete {
				s.errs.Add(1)
				time.Sleep(10 * time.Millisecond)
			}
			continue
		}
		complete = int(n) < edgeBatch
		s.deliver(int(n))
	}
}

// startRound serves the Sync requests the last round completed and
// returns the epoll fd and the timeout of the next epoll_wait (0 while
// Sync requests wait for a round, -1 otherwise), or false when the poller
// must exit.
func (s *edgeSet) startRound(complete bool) (int32, int, bool) {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		s.running = false
		p.cond.Broadcast()
		return 0, 0, false
	}
	if complete {
		s.syncDone = s.syncPend
	}
	s.syncPend = s.syncReq
	p.cond.Broadcast()
	if s.syncPend != s.syncDone {
		return s.epfd, 0, true
	}
	return s.epfd, -1, true
}

// deliver passes the n harvested host events to their files.
func (s *edgeSet) deliver(n int) {
	scope := edgeSets[s.index].scope
	for i := 0; i < n; i++ {
		ev := &s.events[i]
		if ev.Fd < 0 {
			rawRead(s.evfd, s.scratch[:])
			continue
		}
		if h := s.p.lookup(ev.Fd, ev.Pad); h != nil {
			h.edged(waiter.EventMask(ev.Events)&scope, edgeSets[s.index].every)
		}
	}
}

// edged is an edge poller's report of a host wakeup of h's fd, with the
// readiness the host found (revents) within the groups of its set; every
// is the set's groups that each wakeup reports.
//
// A group in h.busy belongs to an operation in flight that reports it
// itself; the edge is remembered (missed) and given by the operation's
// end if the operation did not report it. Otherwise, a group that rose
// after it was seen low (armed) is reported; and a group of every is
// reported even while high, as Linux's every wakeup of an edge-triggered
// item is an edge, unless the wakeup may be the echo of a change the
// model reported itself (h.echo).
func (h *hostFile) edged(revents, every waiter.EventMask) {
	h.mu.Lock()
	if h.life != lifeOpen {
		h.mu.Unlock()
		return
	}
	ready := groupsOf(revents)
	report := ready & h.armed
	if h.echo&every == 0 {
		report |= ready & every
	}
	if h.busyN == 0 {
		h.echo &^= every
	}
	h.missed |= report & h.busy
	report &^= h.busy
	h.armed &^= report
	h.mu.Unlock()
	d := revents & report
	if d == 0 {
		return
	}
	if d&gHUpErr != 0 {
		h.queue.NotifyAll(d)
	} else {
		h.queue.Notify(d)
	}
}
