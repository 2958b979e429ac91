//go:build linux && amd64

package seccompbox

import (
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// Interest of the two probes of a proxy: the read side and the write side
// of a file's wakeups (ERR and HUP are always reported by both). Keeping
// them apart keeps Linux's wakeup keys: a wakeup keyed OUT (a reader made
// room) reaches only the write probe, so an edge-triggered IN registration
// is not re-queued by it, as in Linux.
const (
	inGroup  = unix.EPOLLIN | unix.EPOLLRDNORM | unix.EPOLLPRI | unix.EPOLLRDBAND | unix.EPOLLRDHUP | unix.EPOLLMSG
	outGroup = unix.EPOLLOUT | unix.EPOLLWRNORM | unix.EPOLLWRBAND
	hupErr   = unix.EPOLLHUP | unix.EPOLLERR
)

// proxy is the model file standing for the guest file of one registration
// (fs.Impl and fs.Pollable). It holds no reference on the guest's file: the
// file is registered, level-triggered, in one or two supervisor-owned host
// epolls (the probes) through a transient duplicate that was closed at
// once, so the guest's own close still releases it, and the probes' items
// then vanish with it (Linux removes epoll items when a file is released).
//
//   - Readiness is a zero-timeout epoll_wait of the probes: a level-
//     triggered item is re-polled on every harvest, so it reports the
//     file's current mask.
//   - Notifications: each probe is registered edge-triggered in the box's
//     central host epoll. Every wakeup of the guest file runs the probe's
//     callback, which wakes the probe's pollers, which queues the probe in
//     the central epoll; harvesting it (Box.drainHost) notifies the proxy's
//     queue with the current readiness of that probe's group (the group
//     itself when the file is no longer ready: Linux queued the item at
//     the wakeup all the same, and a harvest drops it).
//   - EPOLLEXCLUSIVE registrations of one guest file share one proxy
//     (Box.exclusive), across instances: the model's wake-one walk over the
//     shared queue then decides which of them a wakeup reaches, as Linux's
//     walk over the file's queue does (it skips instances nobody waits on,
//     which a host probe, never waited on, could not reproduce).
type proxy struct {
	b     *Box
	idx   uint32 // in Box.proxies; the central epoll's data is idx<<1 | probe
	queue waiter.Queue

	mu sync.Mutex
	// probes are [0] the read side, [1] the write side: an fd of the box
	// or -1; vaults and nums say where a probe made once the main table
	// was half used is (vault.go). readies index each probe's
	// always-ready eventfd in Box.ready.
	// +checklocks:mu
	probes [2]int
	// +checklocks:mu
	vaults [2]*vault
	// +checklocks:mu
	nums [2]int32
	// +checklocks:mu
	readies [2]int
	// +checklocks:mu
	masks [2]uint32
	// idle[i]: the last poll of side i found nothing ready (idleSide).
	// +checklocks:mu
	idle [2]bool
	// +checklocks:mu
	released bool
	// keys are Linux's wakeup keys of the file's type for each side (a
	// data arrival, room made), zero for a type the box has no table for;
	// hangups are the hangup bits (RDHUP, HUP, ERR) each side last
	// reported.
	// +checklocks:mu
	keys [2]uint32
	// +checklocks:mu
	hangups [2]uint32

	exclusive bool // shared by EPOLLEXCLUSIVE registrations (Box.exclusive)
}

// unpollable is the model file of a guest file that epoll cannot watch
// (a regular file): epoll_ctl gives EPERM.
type unpollable struct{}

func (unpollable) Read(*fs.File, []byte) (int, error)  { return 0, unix.EINVAL }
func (unpollable) Write(*fs.File, []byte) (int, error) { return 0, unix.EINVAL }
func (unpollable) Release(*fs.File)                    {}

// newProxy registers the guest file duplicated at the box's slot (the
// caller holds slotMu) and returns its model file with one reference.
// events is the registration's interest (for EPOLLEXCLUSIVE).
//
// +checklocks:b.slotMu
func (b *Box) newProxy(events uint32) (*fs.File, *proxy, error) {
	p := &proxy{b: b, probes: [2]int{-1, -1}, readies: [2]int{-1, -1}, exclusive: events&unix.EPOLLEXCLUSIVE != 0, keys: wakeKeys(b.slot)}
	for i, m := range [2]uint32{inGroup, outGroup} {
		fd, ready, e := b.newProbe(m)
		if e != 0 {
			p.closeProbesLocked() // +checklocksignore: p is not shared yet.
			if e == unix.EPERM {
				return fs.New(unpollable{}, unix.O_RDWR), nil, nil
			}
			return nil, nil, e
		}
		p.probes[i], p.readies[i], p.masks[i] = fd, ready, m
	}
	b.proxMu.Lock()
	if n := len(b.freeIdx); n > 0 {
		p.idx = b.freeIdx[n-1]
		b.freeIdx = b.freeIdx[:n-1]
		b.proxies[p.idx] = p
	} else {
		p.idx = uint32(len(b.proxies))
		b.proxies = append(b.proxies, p)
	}
	b.nproxies++
	b.proxMu.Unlock()
	for i, fd := range p.probes {
		if fd < 0 {
			continue
		}
		e := rawEpollCtl(b.central, unix.EPOLL_CTL_ADD, fd, unix.EPOLLIN|unix.EPOLLET, uint64(p.idx)<<1|uint64(i))
		if e == 0 && b.inVault(fd) {
			// The central item stays: the vault keeps the probe open.
			p.mu.Lock()
			if v, num, ve := b.vaultPut(fd); ve == 0 {
				p.probes[i], p.vaults[i], p.nums[i] = -1, v, num
			} else {
				e = ve
			}
			p.mu.Unlock()
		}
		if e != 0 {
			f := fs.New(p, unix.O_RDWR)
			f.DecRef()
			return nil, nil, e
		}
	}
	// A probe is always ready (Box.ready), so adding it queued it in the
	// central epoll. Harvest that now, while the proxy's queue has no
	// entry yet: it is no wakeup of the guest file. (A wakeup that came
	// meanwhile is seen by the model's readiness check when it adds the
	// registration.)
	b.drainHost()
	f := fs.New(p, unix.O_RDWR)
	if p.exclusive {
		b.exclMu.Lock()
		b.exclusive = append(b.exclusive, &regProxy{file: f, p: p})
		b.exclMu.Unlock()
	}
	return f, p, nil
}

// sharedExclusive returns, with a new reference, the proxy that the
// EPOLLEXCLUSIVE registrations of the guest file at the slot share (the
// caller holds slotMu), or nil.
//
// +checklocks:b.slotMu
func (b *Box) sharedExclusive() *regProxy {
	b.exclMu.Lock()
	cands := append([]*regProxy(nil), b.exclusive...)
	b.exclMu.Unlock()
	for _, r := range cands {
		if r.p.matchesSlot() && r.file.TryIncRef() {
			return r
		}
	}
	return nil
}

// newProbe makes a host epoll holding the file at the slot with interest
// m, level-triggered, and its always-ready eventfd; it returns the probe
// and the eventfd's index in Box.ready. A probe at a number in the vault
// zone (Box.inVault) goes to a vault once in the central epoll.
func (b *Box) newProbe(m uint32) (int, int, unix.Errno) {
	fd, err := b.claim(unix.EpollCreate1(unix.EPOLL_CLOEXEC))
	if err != nil {
		return -1, -1, err.(unix.Errno)
	}
	if e := rawEpollCtl(fd, unix.EPOLL_CTL_ADD, b.slot, m, probeFile); e != 0 {
		rawClose(fd)
		return -1, -1, e
	}
	idx, e := b.takeReady(fd)
	if e != 0 {
		rawClose(fd)
		return -1, -1, e
	}
	return fd, idx, 0
}

// readyShare is how many probes share one always-ready eventfd: Linux
// bounds the wakeup paths of a file through nested epolls (500 at the
// probe-in-central depth), so one eventfd cannot serve every probe.
const readyShare = 256

// takeReady adds an always-ready eventfd to the new probe and returns its
// index in Box.ready: one in the main table with room, or a new one. One
// in the vault zone goes to a vault when readyShare probes have it.
func (b *Box) takeReady(probe int) (int, unix.Errno) {
	b.readyMu.Lock()
	defer b.readyMu.Unlock()
	idx := -1
	for i, r := range b.ready {
		if r.fd >= 0 && r.users < readyShare {
			idx = i
			break
		}
	}
	if idx < 0 {
		fd, err := b.claim(unix.Eventfd(1, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC))
		if err != nil {
			return -1, err.(unix.Errno)
		}
		idx = len(b.ready)
		b.ready = append(b.ready, readyFD{fd: fd})
	}
	r := &b.ready[idx]
	if e := rawEpollCtl(probe, unix.EPOLL_CTL_ADD, r.fd, unix.EPOLLIN, probeReady); e != 0 {
		return -1, e
	}
	r.users++
	if r.users == readyShare && b.inVault(r.fd) {
		if v, num, e := b.vaultPut(r.fd); e == 0 {
			r.fd, r.v, r.num = -1, v, num
		}
	}
	return idx, 0
}

// dropReady releases a probe's share of always-ready eventfd idx (before
// the probe is closed); a vault's is released with its last probe.
func (b *Box) dropReady(idx int) {
	if idx < 0 {
		return
	}
	b.readyMu.Lock()
	defer b.readyMu.Unlock()
	r := &b.ready[idx]
	r.users--
	if r.users == 0 && r.v != nil {
		b.vaultRelease(r.v, r.num)
		r.v = nil // never taken again (fd is -1)
	}
}

// The data of a probe's two items.
const (
	probeFile  = 0 // the guest file, at the slot
	probeReady = 1 // one of Box.ready
)

// pollProbe is a zero-timeout epoll_wait of a probe: the guest file's
// current mask (within the probe's interest).
func pollProbe(ep int) uint32 {
	var evs [2]hostEpollEvent
	for {
		n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&evs[0])), 2, 0, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0
		}
		for i := 0; i < int(n); i++ {
			if evs[i].u64() == probeFile {
				return evs[i].events
			}
		}
		return 0
	}
}

// closeProbesLocked closes the probes and drops their ready eventfds.
//
// +checklocks:p.mu
func (p *proxy) closeProbesLocked() {
	for i, fd := range p.probes {
		p.b.dropReady(p.readies[i])
		p.readies[i] = -1
		if fd >= 0 {
			rawClose(fd)
			p.probes[i] = -1
		}
		if v := p.vaults[i]; v != nil {
			p.b.vaultRelease(v, p.nums[i])
			p.vaults[i] = nil
		}
	}
}

// hasProbe reports whether probe i exists (p.mu held).
//
// +checklocks:p.mu
func (p *proxy) hasProbe(i int) bool { return p.probes[i] >= 0 || p.vaults[i] != nil }

// probeFD returns an fd of the box for probe i (p.mu held), -1 if none:
// the probe itself, or for one in a vault a copy, which done closes.
//
// +checklocks:p.mu
func (p *proxy) probeFD(i int) int {
	if p.probes[i] >= 0 {
		return p.probes[i]
	}
	if v := p.vaults[i]; v != nil {
		if fd, e := v.fetch(p.nums[i]); e == 0 {
			return fd
		}
	}
	return -1
}

// done closes what probeFD(i) returned, if it was a copy.
//
// +checklocks:p.mu
func (p *proxy) done(i, fd int) {
	if fd >= 0 && fd != p.probes[i] {
		rawClose(fd)
	}
}

// pollSide is pollProbe of probe i (p.mu held).
//
// +checklocks:p.mu
func (p *proxy) pollSide(i int) uint32 {
	fd := p.probeFD(i)
	if fd < 0 {
		return 0
	}
	r := pollProbe(fd)
	p.done(i, fd)
	p.idle[i] = r == 0
	return r
}

// idleSide reports whether side i of the guest file is still as its last
// poll found it, with nothing ready (p.mu held), so that Readiness need
// not poll it again. A file becomes ready only with a wakeup (a poll that
// slept would otherwise never wake), every wakeup of the side queues its
// probe in the central epoll, and harvesting it (hostEvent) polls the side
// again. Readiness runs in a call that has harvested the central epoll
// first (drainHost: what the guest did before the call is seen), or in a
// worker's model harvest, where a wakeup not harvested yet is one that
// raced with the wait, as in Linux it may come before or after the
// harvest's poll of the item.
//
// +checklocks:p.mu
func (p *proxy) idleSide(i int) bool { return p.idle[i] }

// matchesSlot reports whether the file duplicated at the slot is this
// proxy's guest file (the caller holds slotMu): a MOD of the probe's item,
// keyed (file, slot), finds it only then.
func (p *proxy) matchesSlot() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.released || !p.hasProbe(0) {
		return false
	}
	fd := p.probeFD(0)
	ok := fd >= 0 && rawEpollCtl(fd, unix.EPOLL_CTL_MOD, p.b.slot, p.masks[0], 0) == 0
	p.done(0, fd)
	return ok
}

// isGuestFd reports whether guest fd num of thread tid is this proxy's
// guest file (isEpollItem against the probe's item), without the slot.
func (p *proxy) isGuestFd(tid, num int32) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.released {
		return false
	}
	if v := p.vaults[0]; v != nil {
		return isEpollItemOf(tid, num, v.tid, int(p.nums[0]), p.b.slot)
	}
	return p.probes[0] >= 0 && isEpollItem(tid, num, p.probes[0], p.b.slot)
}

// gone reports whether the guest file has been released (its probe item
// vanished with it).
func (p *proxy) gone() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.released {
		return true
	}
	fd := p.probeFD(0)
	has := epollHasItem(fd, p.b.slot)
	p.done(0, fd)
	return !has
}

// Read implements fs.Impl; the box never reads through a proxy.
func (p *proxy) Read(*fs.File, []byte) (int, error) { return 0, unix.EINVAL }

// Write implements fs.Impl.
func (p *proxy) Write(*fs.File, []byte) (int, error) { return 0, unix.EINVAL }

// Release implements fs.Impl: the probes are closed, which also takes them
// out of the central epoll.
func (p *proxy) Release(*fs.File) {
	p.mu.Lock()
	if p.released {
		p.mu.Unlock()
		return
	}
	p.released = true
	p.closeProbesLocked()
	p.mu.Unlock()
	b := p.b
	if p.exclusive {
		b.exclMu.Lock()
		for i, r := range b.exclusive {
			if r.p == p {
				b.exclusive = append(b.exclusive[:i], b.exclusive[i+1:]...)
				break
			}
		}
		b.exclMu.Unlock()
	}
	b.proxMu.Lock()
	if int(p.idx) < len(b.proxies) && b.proxies[p.idx] == p {
		b.proxies[p.idx] = nil
		b.freeIdx = append(b.freeIdx, p.idx)
		b.nproxies--
	}
	b.proxMu.Unlock()
}

// Readiness implements fs.Pollable: the current mask, from the probes that
// watch the bits asked for (one zero-timeout epoll_wait each, unless the
// side is known idle: idleSide). Both probes report HUP and ERR, so a mask
// of those alone needs one probe.
func (p *proxy) Readiness(_ *fs.File, mask waiter.EventMask) waiter.EventMask {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.released {
		return 0
	}
	var r uint32
	polled := false
	for i := range p.probes {
		if p.hasProbe(i) && (uint32(mask)&p.masks[i] != 0 || mask == 0) {
			if !p.idleSide(i) {
				r |= p.pollSide(i)
			}
			polled = true
		}
	}
	if !polled && uint32(mask)&hupErr != 0 {
		for i := range p.probes {
			if p.hasProbe(i) && p.idleSide(i) {
				return 0
			}
			if p.hasProbe(i) {
				return waiter.EventMask(p.pollSide(i))
			}
		}
	}
	return waiter.EventMask(r)
}

// EventRegister implements fs.Pollable.
func (p *proxy) EventRegister(_ *fs.File, e *waiter.Entry) { p.queue.Register(e) }

// EventUnregister implements fs.Pollable.
func (p *proxy) EventUnregister(_ *fs.File, e *waiter.Entry) { p.queue.Unregister(e) }

// hostEvent handles one event of the central epoll: probe i of proxy idx
// saw a wakeup. The proxy's queue is notified with the probe's current
// readiness (Linux's key is lost in the nesting; the split into a read and
// a write probe keeps its direction).
func (b *Box) hostEvent(data uint64) {
	idx, i := uint32(data>>1), int(data&1)
	b.proxMu.RLock()
	var p *proxy
	if int(idx) < len(b.proxies) {
		p = b.proxies[idx]
	}
	b.proxMu.RUnlock()
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.released || !p.hasProbe(i) {
		p.mu.Unlock()
		return
	}
	ev := p.wakeKeyLocked(i, p.pollSide(i))
	p.mu.Unlock()
	if ev&hupErr != 0 {
		p.queue.NotifyAll(waiter.EventMask(ev))
	} else {
		p.queue.Notify(waiter.EventMask(ev))
	}
}

// wakeKeyLocked returns the key to notify a wakeup of side i with, given
// the side's readiness now (p.mu held). Linux's key is the one the file's
// wakeup carried, whatever the file's readiness: for a type the box knows,
// that side's key (a socket's data arrival is IN|PRI|RDNORM|RDBAND, an
// eventfd's write IN), with the hangup bits only when they are new (a
// hangup's own wakeup), so that later wakeups of a hung-up file do not
// re-queue edge-triggered registrations they do not concern. For another
// type, the readiness, or when the file is no longer ready (the guest
// consumed it since: Linux queued the item all the same, and drops it only
// when a harvest finds it not ready), the side's group.
//
// +checklocks:p.mu
func (p *proxy) wakeKeyLocked(i int, ready uint32) uint32 {
	const hangupBits = hupErr | unix.EPOLLRDHUP
	if p.keys[i] != 0 {
		hangup := ready & hangupBits
		key := p.keys[i] | hangup&^p.hangups[i]
		p.hangups[i] = hangup
		return key
	}
	if ready == 0 {
		return p.masks[i]
	}
	return ready
}

// wakeKeys returns Linux's wakeup keys, read side and write side, of the
// file at fd of the box (its /proc/thread-self/fd link names its type), zeros for
// a type without a table: sock_def_readable and sk_stream_write_space,
// pipe_write and pipe_read, eventfd_write and eventfd_read.
func wakeKeys(fd int) [2]uint32 {
	var link [32]byte
	n, ok := fdLink(fd, &link)
	if !ok {
		return [2]uint32{}
	}
	switch name := string(link[:n]); {
	case strings.HasPrefix(name, "socket:"):
		return [2]uint32{unix.EPOLLIN | unix.EPOLLPRI | unix.EPOLLRDNORM | unix.EPOLLRDBAND,
			unix.EPOLLOUT | unix.EPOLLWRNORM | unix.EPOLLWRBAND}
	case strings.HasPrefix(name, "pipe:"):
		return [2]uint32{unix.EPOLLIN | unix.EPOLLRDNORM, unix.EPOLLOUT | unix.EPOLLWRNORM}
	case name == "anon_inode:[eventfd]":
		return [2]uint32{unix.EPOLLIN, unix.EPOLLOUT}
	}
	return [2]uint32{}
}

// drainHost harvests the central epoll and notifies every proxy that saw a
// wakeup. Every trapped wait runs it before it harvests the model, so a
// change the guest made before the call (a write to a pipe it watches) is
// in the model by then, as it would be in Linux's ready list.
func (b *Box) drainHost() {
	b.pollMu.Lock()
	defer b.pollMu.Unlock()
	for {
		n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(b.central),
			uintptr(unsafe.Pointer(&b.hostEvs[0])), uintptr(len(b.hostEvs)), 0, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 || n == 0 {
			return
		}
		for i := 0; i < int(n); i++ {
			b.hostEvent(b.hostEvs[i].u64())
		}
		if int(n) < len(b.hostEvs) {
			return
		}
	}
}

// poller waits for the central epoll to become ready and drains it: the
// asynchronous path, for waits that are already blocked.
func (b *Box) poller() {
	defer b.wg.Done()
	pfds := []unix.PollFd{{Fd: int32(b.central), Events: unix.POLLIN}, {Fd: int32(b.stopPoll), Events: unix.POLLIN}}
	for {
		_, _, e := unix.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfds[0])), 2, 0, 0, 0, 0)
		if e != 0 && e != unix.EINTR {
			return
		}
		if pfds[1].Revents != 0 {
			return
		}
		if pfds[0].Revents != 0 {
			b.drainHost()
		}
	}
}

// epollHasItem reports whether host epoll fd still has an item registered
// through fd number tfd, from /proc/thread-self/fdinfo (a "tfd: N" line per item):
// an item goes when its file is released.
func epollHasItem(fd, tfd int) bool {
	if fd < 0 {
		return false
	}
	var path [64]byte
	s := append(path[:0], "/proc/thread-self/fdinfo/"...)
	s = appendInt(s, fd)
	s = append(s, 0)
	f, _, e := unix.RawSyscall6(unix.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(&s[0])), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		return true // cannot tell: assume alive
	}
	defer rawClose(int(f))
	var buf [4096]byte
	var have []byte
	for {
		n, e := rawRead(int(f), buf[:])
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return true // cannot tell
		}
		if n <= 0 {
			break
		}
		have = append(have, buf[:n]...)
	}
	var want [32]byte
	w := appendInt(append(want[:0], "tfd:"...), tfd)
	for _, line := range strings.Split(string(have), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "tfd:" && "tfd:"+f[1] == string(w) {
			return true
		}
	}
	return false
}

// fdLink reads the /proc/thread-self/fd link of fd of the box into link
// and returns its length (the calling thread's table is the main one,
// where /proc/self's could be a vault's, vault.go); ok is false when
// readlink fails.
func fdLink(fd int, link *[32]byte) (n int, ok bool) {
	var path [40]byte
	p := appendInt(append(path[:0], "/proc/thread-self/fd/"...), fd)
	p = append(p, 0)
	r, _, e := unix.RawSyscall6(unix.SYS_READLINKAT, atFDCWD, uintptr(unsafe.Pointer(&p[0])),
		uintptr(unsafe.Pointer(&link[0])), uintptr(len(link)), 0, 0)
	return int(r), e == 0
}

// atFDCWD is AT_FDCWD as a system call argument.
var atFDCWD = func() uintptr { fd := unix.AT_FDCWD; return uintptr(fd) }()

func appendInt(b []byte, n int) []byte {
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}
