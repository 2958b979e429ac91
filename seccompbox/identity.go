//go:build linux && amd64

package seccompbox

import (
	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
)

// claim keeps new fd of the box unless it has the slot's number, which the
// kernel hands out only when every lower number is taken (the box is out
// of fds): it stays free for the slot, and the allocation fails EMFILE.
func (b *Box) claim(fd int, err error) (int, error) {
	if err == nil && fd == b.slot {
		rawClose(fd)
		return -1, unix.EMFILE
	}
	return fd, err
}

// reservedFds is how many fd numbers below the slot only the fds the box
// needs to serve a call may take: pidfds of guest threads, and the
// transient duplicates of identity checks. Registrations (probes) and
// instances stop short of them, so a thread whose first call comes when
// registrations have used up the box's fds still gets its pidfd and is
// served (it was continued to the host, on the placeholder).
const reservedFds = 256

// claimBulk is claim for the fds of registrations and instances: a number
// in the reserve (which the kernel hands out only when every lower one is
// taken) is given back, and the allocation fails EMFILE.
func (b *Box) claimBulk(fd int, err error) (int, error) {
	if err == nil && fd >= b.slot-min(reservedFds, b.slot/4) {
		rawClose(fd)
		return -1, unix.EMFILE
	}
	return fd, err
}

// identify returns the instance whose placeholder is at the slot (the
// caller holds slotMu), nil if none: the cached instance for the guest's
// (tid, fd) first, then every instance.
//
// +checklocks:b.slotMu
func (b *Box) identify(tid, num int32) *instance {
	key := fdKey{tid, num}
	b.mu.Lock()
	cached := b.idCache[key]
	b.mu.Unlock()
	if cached != nil && cached.matchesSlot() {
		return cached
	}
	b.mu.Lock()
	all := make([]*instance, 0, len(b.instances))
	for inst := range b.instances {
		if inst != cached {
			all = append(all, inst)
		}
	}
	b.mu.Unlock()
	for _, inst := range all {
		if inst.matchesSlot() {
			b.mu.Lock()
			if len(b.idCache) > 1<<16 {
				clear(b.idCache)
			}
			b.idCache[key] = inst
			b.mu.Unlock()
			return inst
		}
	}
	return nil
}

// resolveEpfd finds the instance behind guest fd epfd of th, or nil when
// the fd is not open or not one of the box's instances (the call is then
// continued: the kernel gives the guest its EBADF, EINVAL or EFAULT, or
// serves a host epoll the guest inherited).
//
// The instance comes with a reference on its model file, which the caller
// drops (release): the guest may close the placeholder meanwhile, and the
// box then forgets the instance, but a call in progress keeps its file, as
// an fdget does in Linux.
func (b *Box) resolveEpfd(th *thread, epfd int32) *instance {
	// The instance of the thread's last epoll call, then the one the
	// thread last found at epfd, each checked in one kcmp.
	last := th.lastEp
	if last != nil && th.lastEpfd == epfd {
		if last.isGuestFd(th.tid, epfd) && last.file.TryIncRef() {
			return last
		}
		th.lastEp = nil
	}
	b.mu.Lock()
	cached := b.idCache[fdKey{th.tid, epfd}]
	b.mu.Unlock()
	if cached != nil && (cached != last || th.lastEpfd != epfd) && cached.isGuestFd(th.tid, epfd) && cached.file.TryIncRef() {
		th.lastEpfd, th.lastEp = epfd, cached
		return cached
	}
	g, e := b.getfd(th, epfd)
	if e != 0 {
		return nil
	}
	if !isEpollFile(g) {
		// Not a placeholder, nor any epoll: no need to compare it with
		// every instance.
		rawClose(g)
		return nil
	}
	b.slotMu.Lock()
	var inst *instance
	if rawDup3(g, b.slot) == 0 {
		inst = b.identify(th.tid, epfd)
		rawClose(b.slot)
	}
	b.slotMu.Unlock()
	rawClose(g)
	if inst != nil && !inst.file.TryIncRef() {
		return nil
	}
	if inst != nil {
		th.lastEpfd, th.lastEp = epfd, inst
	}
	return inst
}

// hostEpollAt reports whether guest fd num of th is an epoll file (not one
// of the box's instances, when resolveEpfd found none there).
func (b *Box) hostEpollAt(th *thread, num int32) bool {
	g, e := b.getfd(th, num)
	if e != 0 {
		return false
	}
	defer rawClose(g)
	return isEpollFile(g)
}

// isEpollFile reports whether fd of the box is an epoll file (its fd link
// names an eventpoll anon inode); true when it cannot tell.
func isEpollFile(fd int) bool {
	var link [32]byte
	n, ok := fdLink(fd, &link)
	return !ok || string(link[:n]) == "anon_inode:[eventpoll]"
}

// install puts f at number n of a view table (the syscall layer then finds
// it where the guest has it), with a reference of the table's own.
func install(t *fd.Table, f *fs.File, n int32) bool {
	f.IncRef()
	got, err := t.Install(f, n, false)
	if err != nil || got != n {
		if err == nil {
			t.Close(got)
		} else {
			f.DecRef()
		}
		return false
	}
	return true
}

// sharedExclusiveFor returns the shared proxy for an EPOLL_CTL_ADD with
// EPOLLEXCLUSIVE of the file at the slot, if one exists (the caller holds
// slotMu).
//
// +checklocks:b.slotMu
func (b *Box) sharedExclusiveFor(op int32, events uint32) *regProxy {
	if op != unix.EPOLL_CTL_ADD || events&unix.EPOLLEXCLUSIVE == 0 {
		return nil
	}
	if r := b.sharedExclusive(); r != nil {
		return &regProxy{file: r.file, p: r.p}
	}
	return nil
}

// unregisteredFile returns a model file for the guest file at the slot
// (the caller holds slotMu) that is registered nowhere: a file epoll_ctl
// refuses with EPERM when the host cannot poll it, an inert pollable one
// otherwise.
//
// +checklocks:b.slotMu
func (b *Box) unregisteredFile() *fs.File {
	fd, ready, e := b.newProbe(inGroup)
	if e == unix.EPERM {
		return fs.New(unpollable{}, unix.O_RDWR)
	}
	if e == 0 {
		b.dropReady(ready)
		rawClose(fd)
	}
	return fs.New(&proxy{b: b, probes: [2]int{-1, -1}, readies: [2]int{-1, -1}, idx: ^uint32(0)}, unix.O_RDWR)
}
