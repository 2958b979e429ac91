//go:build linux && amd64

package seccompbox

import (
	"sync"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// instance is one guest epoll instance: a model epoll (file, ep) served
// by the syscall layer, and its placeholder, the real host epoll fd the
// guest holds.
//
// The placeholder holds one item: bell, an eventfd the box keeps readable
// while the model instance has events queued, so poll, select and a host
// epoll see the guest's epoll fd readable when Linux would. The box keeps
// no reference on the placeholder: it is registered in q (a host epoll of
// the box) through a transient duplicate at the slot, which identifies it
// (a MOD of q's item finds it only through the same file) and tells when
// the guest has released it (q's item is gone).
type instance struct {
	b    *Box
	file *fs.File // the box's reference
	ep   *epoll.EventPoll
	q    int
	bell int

	bellMu sync.Mutex
	// +checklocks:bellMu
	bellSet bool
	bellW   bellWaker
	bellE   waiter.Entry

	mu sync.Mutex
	// +checklocks:mu
	proxies map[int32][]*regProxy // registrations through guest fd N
	// +checklocks:mu
	children map[*instance]int // nested instances registered in this one
	// +checklocks:mu
	dead bool
}

// regProxy is a proxy file the instance holds for a registration.
type regProxy struct {
	file *fs.File
	p    *proxy // nil for an unpollable file
	tid  int32  // the guest thread that made it (for the sweep's identity check)
}

type bellWaker struct{ inst *instance }

// Wake is called when the model instance queues an item (its pollers'
// queue): the doorbell is updated asynchronously, since Wake runs under
// the model's locks.
func (w *bellWaker) Wake(waiter.EventMask) bool {
	select {
	case w.inst.b.bellQ <- w.inst:
	default:
		w.inst.b.bellAll.Store(true)
		select {
		case w.inst.b.bellKick <- struct{}{}:
		default:
		}
	}
	return false
}

// newInstance makes a model epoll and its placeholder. It returns the
// placeholder fd, which the caller installs in the guest and then closes.
func (b *Box) newInstance() (*instance, int, error) {
	ph, err := b.claimBulk(unix.EpollCreate1(unix.EPOLL_CLOEXEC))
	if err != nil {
		return nil, -1, err
	}
	inst := &instance{b: b, q: -1, bell: -1, proxies: map[int32][]*regProxy{}, children: map[*instance]int{}}
	fail := func(err error) (*instance, int, error) {
		rawClose(ph)
		if inst.q >= 0 {
			rawClose(inst.q)
		}
		if inst.bell >= 0 {
			rawClose(inst.bell)
		}
		return nil, -1, err
	}
	if inst.bell, err = b.claimBulk(unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)); err != nil {
		return fail(err)
	}
	if e := rawEpollCtl(ph, unix.EPOLL_CTL_ADD, inst.bell, unix.EPOLLIN, 0); e != 0 {
		return fail(e)
	}
	if inst.q, err = b.claimBulk(unix.EpollCreate1(unix.EPOLL_CLOEXEC)); err != nil {
		return fail(err)
	}
	b.slotMu.Lock()
	e := rawDup3(ph, b.slot)
	if e == 0 {
		e = rawEpollCtl(inst.q, unix.EPOLL_CTL_ADD, b.slot, 0, 0)
		rawClose(b.slot)
	}
	b.slotMu.Unlock()
	if e != 0 {
		return fail(e)
	}
	inst.file = epoll.NewFile(b.k.EpollDomain())
	inst.ep, _ = epoll.FromFile(inst.file)
	inst.bellW.inst = inst
	inst.bellE.Init(&inst.bellW, false, false)
	inst.file.EventRegister(&inst.bellE)
	b.mu.Lock()
	b.instances[inst] = struct{}{}
	due := len(b.instances) >= b.collectAt
	b.mu.Unlock()
	if due {
		// At once, on this goroutine: a guest that makes and closes
		// instances faster than a sweeper could collect them would
		// otherwise pile them up.
		b.collect()
	}
	return inst, ph, nil
}

// matchesSlot reports whether the file at the slot is this instance's
// placeholder (the caller holds slotMu).
func (inst *instance) matchesSlot() bool {
	inst.mu.Lock()
	dead := inst.dead
	inst.mu.Unlock()
	inst.b.stats[statCompared].count.Add(1)
	return !dead && rawEpollCtl(inst.q, unix.EPOLL_CTL_MOD, inst.b.slot, 0, 0) == 0
}

// isGuestFd reports whether guest fd num of thread tid is this instance's
// placeholder, without the slot (isEpollItem). inst.mu is held across the
// check so that kill cannot close inst.q meanwhile.
func (inst *instance) isGuestFd(tid, num int32) bool {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	return !inst.dead && isEpollItem(tid, num, inst.q, inst.b.slot)
}

// gone reports whether the guest has released the placeholder.
func (inst *instance) gone() bool { return !epollHasItem(inst.q, inst.b.slot) }

// kill forgets an instance whose placeholder the guest released: the model
// instance is released (which removes it from the instances it was nested
// in, as closing an epoll fd does in Linux) with its registrations.
func (b *Box) kill(inst *instance) {
	inst.mu.Lock()
	if inst.dead {
		inst.mu.Unlock()
		return
	}
	inst.dead = true
	var files []*fs.File
	for _, rs := range inst.proxies {
		for _, r := range rs {
			files = append(files, r.file)
		}
	}
	inst.proxies = nil
	inst.children = nil
	inst.mu.Unlock()
	b.mu.Lock()
	delete(b.instances, inst)
	for k, v := range b.idCache {
		if v == inst {
			delete(b.idCache, k)
		}
	}
	b.mu.Unlock()
	inst.file.EventUnregister(&inst.bellE)
	inst.file.DecRef()
	for _, f := range files {
		f.DecRef()
	}
	rawClose(inst.q)
	inst.bellMu.Lock()
	rawClose(inst.bell)
	inst.bell = -1
	inst.bellMu.Unlock()
}

// reapChildren releases the nested instances of inst whose placeholders
// the guest has closed, so that the model forgets them before inst is
// harvested or polled (Linux removes them at the close).
func (b *Box) reapChildren(inst *instance) {
	inst.mu.Lock()
	if len(inst.children) == 0 {
		inst.mu.Unlock()
		return
	}
	var kids []*instance
	for c := range inst.children {
		kids = append(kids, c)
	}
	inst.mu.Unlock()
	for _, c := range kids {
		b.reapChildren(c)
		if c.gone() {
			b.kill(c)
			inst.mu.Lock()
			if inst.children != nil {
				delete(inst.children, c)
			}
			inst.mu.Unlock()
		}
	}
}

// refreshBell makes the doorbell readable exactly when the model instance
// has events queued. exact also re-polls the queued items, dropping those
// no longer ready, as Linux's poll of an epoll fd does; it is used only for
// a guest poll of the fd.
func (inst *instance) refreshBell(exact bool) {
	var ready bool
	if exact {
		ready = inst.file.Readiness(waiter.EventIn)&waiter.EventIn != 0
	} else {
		ready = inst.ep.EventsAvailable()
	}
	inst.bellMu.Lock()
	defer inst.bellMu.Unlock()
	if inst.bell < 0 || ready == inst.bellSet {
		return
	}
	var buf [8]byte
	if ready {
		buf[0] = 1
		rawWrite(inst.bell, buf[:])
	} else {
		rawRead(inst.bell, buf[:])
	}
	inst.bellSet = ready
}

// addProxy records a registration's proxy file (taking over the caller's
// reference).
func (inst *instance) addProxy(fd int32, r *regProxy) bool {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	if inst.dead {
		return false
	}
	inst.proxies[fd] = append(inst.proxies[fd], r)
	return true
}

// removeProxy forgets the registration of file through fd and returns the
// instance's reference to drop.
func (inst *instance) removeProxy(fd int32, f *fs.File) *fs.File {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	rs := inst.proxies[fd]
	for i, r := range rs {
		if r.file == f {
			rs = append(rs[:i], rs[i+1:]...)
			if len(rs) == 0 {
				delete(inst.proxies, fd)
			} else {
				inst.proxies[fd] = rs
			}
			return f
		}
	}
	return nil
}

// findProxy returns the registration through fd whose guest file is the one
// at the slot (the caller holds slotMu), and drops, on the way, the
// registrations through fd whose guest file is gone (closed in the guest:
// Linux removed their items then).
// proxyForGuestFd returns the registration at guest fd num of thread tid
// if that fd still holds the registered file, checked without the slot
// (isEpollItem); nil means the slow way must decide.
func (inst *instance) proxyForGuestFd(tid, num int32) *regProxy {
	var buf [4]*regProxy // a copy, since the check runs without inst.mu
	inst.mu.Lock()
	rs := append(buf[:0], inst.proxies[num]...)
	inst.mu.Unlock()
	for _, r := range rs {
		if r.p != nil && r.p.isGuestFd(tid, num) {
			return r
		}
	}
	return nil
}

// deadProxies forgets the registrations whose guest file the guest has
// released (closed without EPOLL_CTL_DEL: Linux removed their items then,
// and the box must not hold their probes until a later epoll_ctl names the
// same number), and returns the instance's references to drop. A
// registration whose file is still at its fd number costs one kcmp.
func (inst *instance) deadProxies() []*fs.File {
	type reg struct {
		fd int32
		r  *regProxy
	}
	inst.mu.Lock()
	var regs []reg
	for fd, rs := range inst.proxies {
		for _, r := range rs {
			if r.p != nil {
				regs = append(regs, reg{fd, r})
			}
		}
	}
	inst.mu.Unlock()
	var drop []*fs.File
	for _, g := range regs {
		if g.r.p.isGuestFd(g.r.tid, g.fd) || !g.r.p.gone() {
			continue
		}
		if f := inst.removeProxy(g.fd, g.r.file); f != nil {
			drop = append(drop, f)
		}
	}
	return drop
}

func (inst *instance) findProxy(fd int32) (*regProxy, []*fs.File) {
	inst.mu.Lock()
	rs := append([]*regProxy(nil), inst.proxies[fd]...)
	inst.mu.Unlock()
	var found *regProxy
	var drop []*fs.File
	for _, r := range rs {
		if r.p == nil {
			continue
		}
		if found == nil && r.p.matchesSlot() {
			found = r
			continue
		}
		if r.p.gone() {
			if f := inst.removeProxy(fd, r.file); f != nil {
				drop = append(drop, f)
			}
		}
	}
	if found == nil {
		// An unpollable file is never registered; nothing to find.
		return nil, drop
	}
	return found, drop
}
