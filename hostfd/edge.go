package hostfd

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// The edge poller (Options.Notifier NotifyEpoll): one goroutine blocked in
// epoll_wait on a host epoll instance where every pollable imported fd is
// registered edge-triggered for every event, from import to release. The
// host reports an fd each time its wait queue is woken (ep_poll_callback
// queues an edge-triggered item again on every wakeup), so a second
// arrival while the fd is still readable is a new host edge, which the
// bridge passes on as a new edge of the model's queue (doc.go, "The edge
// mode").

// edgeEvents is what every fd is registered for: every readiness bit a
// file reports (ERR and HUP are always reported), edge-triggered.
const edgeEvents = uint32(gAll&^gHUpErr) | unix.EPOLLET

// edgeBatch is how many host events one epoll_wait harvests.
const edgeBatch = 128

// gArrival holds the groups whose every host wakeup is a new edge, even
// while the group is high: data, a connection or urgent data arriving.
// Other groups (space, hangup, error) are reported when they rise after
// being seen low, as in the ppoll mode.
const gArrival = gIn | gPri | gMsg

type edgePoller struct {
	b *Bridge

	mu   sync.Mutex
	cond sync.Cond // signalled when a round starts or the poller exits

	epfd     int32       // the host epoll; -1 after Close; guarded by mu
	evfd     int32       // wakes the poller (Sync, stop); guarded by mu
	files    []*hostFile // by slot; guarded by mu
	gens     []int32     // by slot, bumped when the slot is freed; guarded by mu
	free     []int32     // guarded by mu
	syncReq  uint64      // guarded by mu
	syncPend uint64      // guarded by mu
	syncDone uint64      // guarded by mu
	stopped  bool        // guarded by mu
	running  bool        // the poller goroutine has not exited; guarded by mu

	events  [edgeBatch]unix.EpollEvent // poller-owned
	scratch [8]byte                    // poller-owned
	errs    atomic.Uint64              // epoll_wait failures other than EINTR
	rounds  atomic.Uint64              // epoll_wait calls
}

// newEdgePoller makes the host epoll and its wakeup eventfd and starts the
// poller.
func newEdgePoller(b *Bridge) (*edgePoller, error) {
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
	e := &edgePoller{b: b, epfd: int32(epfd), evfd: int32(evfd), running: true}
	e.cond.L = &e.mu
	b.wg.Add(1)
	go e.run()
	return e, nil
}

// add registers h's fd, edge-triggered for every event. Called under
// Bridge.mu, before anyone else knows h.
func (e *edgePoller) add(h *hostFile) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var slot int32
	if n := len(e.free); n > 0 {
		slot = e.free[n-1]
		e.free = e.free[:n-1]
	} else {
		e.files = append(e.files, nil)
		e.gens = append(e.gens, 0)
		slot = int32(len(e.files) - 1)
	}
	ev := unix.EpollEvent{Events: edgeEvents, Fd: slot, Pad: e.gens[slot]}
	if err := unix.EpollCtl(int(e.epfd), unix.EPOLL_CTL_ADD, int(h.fd), &ev); err != nil {
		e.free = append(e.free, slot)
		return err
	}
	e.files[slot] = h
	h.eslot = slot
	return nil
}

// remove takes h's fd out of the host epoll, so that it may be closed:
// no epoll_wait that starts later reports it, and an event already
// harvested for its slot is dropped (the slot's generation changed).
func (e *edgePoller) remove(h *hostFile) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.epfd >= 0 {
		unix.EpollCtl(int(e.epfd), unix.EPOLL_CTL_DEL, int(h.fd), nil)
	}
	e.files[h.eslot] = nil
	e.gens[h.eslot]++
	e.free = append(e.free, h.eslot)
}

// registered returns how many fds the host epoll holds.
func (e *edgePoller) registered() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.files) - len(e.free)
}

// wakeLocked makes the poller's epoll_wait return.
func (e *edgePoller) wakeLocked() {
	if e.running {
		one := [8]byte{1}
		rawWrite(e.evfd, one[:])
	}
}

// sync returns once a round of the poller that started after the call has
// harvested every host event queued.
func (e *edgePoller) sync() {
	e.mu.Lock()
	e.syncReq++
	want := e.syncReq
	e.wakeLocked()
	for e.running && e.syncDone < want {
		e.cond.Wait()
	}
	e.mu.Unlock()
}

// stop ends the poller and closes its fds.
func (e *edgePoller) stop() {
	e.mu.Lock()
	e.stopped = true
	e.wakeLocked()
	for e.running {
		e.cond.Wait()
	}
	closeFD(e.epfd)
	closeFD(e.evfd)
	e.epfd, e.evfd = -1, -1
	e.mu.Unlock()
}

func (e *edgePoller) run() {
	defer e.b.wg.Done()
	complete := false // the last epoll_wait harvested everything queued
	for {
		timeout, ok := e.startRound(complete)
		if !ok {
			return
		}
		e.rounds.Add(1)
		// A blocking system call: the thread gives up its P while it
		// sleeps.
		n, _, errno := unix.Syscall6(unix.SYS_EPOLL_PWAIT, uintptr(e.epfd),
			uintptr(unsafe.Pointer(&e.events[0])), edgeBatch, uintptr(timeout), 0, 0)
		if errno != 0 {
			// A failure for good counts as complete, so that Sync cannot
			// wait for ever on a poller that cannot wait.
			complete = errno != unix.EINTR
			if complete {
				e.errs.Add(1)
				time.Sleep(10 * time.Millisecond)
			}
			continue
		}
		complete = int(n) < edgeBatch
		e.deliver(int(n))
	}
}

// startRound serves the Sync requests the last round completed and
// returns the timeout of the next epoll_wait (0 while Sync requests wait
// for a round, -1 otherwise), or false when the poller must exit.
func (e *edgePoller) startRound(complete bool) (int, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		e.running = false
		e.cond.Broadcast()
		return 0, false
	}
	if complete {
		e.syncDone = e.syncPend
	}
	e.syncPend = e.syncReq
	e.cond.Broadcast()
	if e.syncPend != e.syncDone {
		return 0, true
	}
	return -1, true
}

// deliver passes the n harvested host events to their files.
func (e *edgePoller) deliver(n int) {
	for i := 0; i < n; i++ {
		ev := &e.events[i]
		if ev.Fd < 0 {
			rawRead(e.evfd, e.scratch[:])
			continue
		}
		e.mu.Lock()
		h := e.files[ev.Fd]
		if e.gens[ev.Fd] != ev.Pad {
			h = nil
		}
		e.mu.Unlock()
		if h != nil {
			h.edged(waiter.EventMask(ev.Events))
		}
	}
}

// edged is the edge poller's report of a host wakeup of h's fd, with the
// readiness the host found (revents).
//
// A group in h.busy belongs to an operation in flight that reports it
// itself; the edge is remembered (missed) and given by the operation's
// end if the operation did not report it. Otherwise, a group that rose
// after it was seen low (armed) is reported; and an arrival group
// (gArrival) is reported even while high, as Linux's every wakeup of an
// edge-triggered item is an edge, unless the wakeup may be the echo of a
// change the model reported itself (h.echo).
func (h *hostFile) edged(revents waiter.EventMask) {
	h.mu.Lock()
	if h.life != lifeOpen {
		h.mu.Unlock()
		return
	}
	ready := groupsOf(revents)
	report := ready & h.armed
	if h.echo == 0 {
		report |= ready & gArrival
	}
	if h.busyN == 0 {
		h.echo = 0
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
