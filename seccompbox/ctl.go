//go:build linux && amd64

package seccompbox

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
)

// ctl serves epoll_ctl through the syscall layer, on a view of the guest's
// fd table that holds the instance at epfd and the target's model file at
// fd (ctlTarget).
func (b *Box) ctl(th *thread, n *notif, start time.Time) {
	defer b.account(n.nr, start)
	epfd, op, tfd := int32(n.args[0]), int32(n.args[1]), int32(n.args[2])
	// Linux reads the event before it looks at the fds (EFAULT first).
	var events uint32
	b.recv.mem.pid, b.recv.mem.id = int(th.tid), 0
	if op != unix.EPOLL_CTL_DEL {
		ev := b.recv.event[:]
		if b.recv.mem.CopyIn(n.args[3], ev) != nil {
			b.reply(th, n, 0, unix.EFAULT)
			return
		}
		events = binary.LittleEndian.Uint32(ev)
		b.recv.mem.remember(n.args[3], ev)
		defer b.recv.mem.forget()
	}
	inst := b.resolveEpfd(th, epfd)
	if inst == nil {
		b.continueCall(th, n, nil)
		return
	}
	defer inst.file.DecRef()
	b.reapChildren(inst)
	// What the guest did before this call reaches the model first (a
	// wakeup queues its item before a MOD here queues another).
	b.drainHost()
	var target ctlTarget
	b.ctlTarget(&target, th, inst, epfd, tfd, op, events)
	defer target.release()
	if target.err != 0 {
		b.reply(th, n, 0, target.err)
		return
	}
	if op == unix.EPOLL_CTL_ADD && target.child != nil {
		// The model's depth and loop checks (ep_loop_check) walk the
		// nesting up from inst and down from the target: an instance the
		// guest closed must be out of it, as it is in Linux from the
		// close, not from the next sweep.
		b.collectNesting()
		b.reapChildren(target.child)
	}
	r, e := b.runCtl(n, inst, epfd, tfd, target.file)
	if e == 0 {
		inst.recordCtl(op, tfd, &target)
	}
	if target.fresh != nil {
		target.fresh.file.DecRef() // the registration failed
	}
	inst.refreshBell(false)
	b.reply(th, n, int64(r), e)
}

// runCtl runs the epoll_ctl n on the receiver's view table, holding inst at
// epfd and target (nil: nothing, EBADF) at tfd.
func (b *Box) runCtl(n *notif, inst *instance, epfd, tfd int32, target *fs.File) (uintptr, unix.Errno) {
	t := b.recv.table
	ok := install(t, inst.file, epfd)
	if ok && target != nil && tfd != epfd {
		ok = install(t, target, tfd)
	}
	var r uintptr
	var e unix.Errno
	if ok {
		var args [6]uintptr
		for i := range args {
			args[i] = uintptr(n.args[i])
		}
		r, e = b.recv.task.Syscall(unix.SYS_EPOLL_CTL, args)
	} else {
		e = unix.ENOMEM
	}
	t.Close(epfd)
	if target != nil && tfd != epfd {
		t.Close(tfd)
	}
	return r, e
}

// ctlTarget is what the target fd of an epoll_ctl names, for the model.
type ctlTarget struct {
	file  *fs.File   // the model file at the fd; nil: not open (EBADF)
	found *regProxy  // the proxy of an existing registration of the file
	child *instance  // a nested instance
	fresh *regProxy  // a proxy made for this call; its reference is the call's until recordCtl
	held  *fs.File   // the reference the call holds on file, dropped at its end
	drop  []*fs.File // other references the call drops at its end
	// err is the call's answer when the box could make no proxy (out of
	// fds for probes).
	err unix.Errno
}

// ctlTarget resolves, into t, guest fd tfd of an epoll_ctl on inst: the
// instance itself (tfd == epfd), the proxy of an existing registration of
// the same guest file through tfd, a nested instance, a new proxy for an
// ADD, or for another op a file registered nowhere (for the model's ENOENT
// or EPERM).
func (b *Box) ctlTarget(t *ctlTarget, th *thread, inst *instance, epfd, tfd, op int32, events uint32) {
	if tfd == epfd {
		t.file = inst.file
		return
	}
	if r := inst.proxyForGuestFd(th.tid, tfd); r != nil && r.file.TryIncRef() {
		// The registered file is still at tfd (one kcmp). The call holds
		// a reference: the sweeper may forget the registration meanwhile.
		t.found, t.file, t.held = r, r.file, r.file
		return
	}
	g, e := b.getfd(th, tfd)
	if e != 0 {
		return
	}
	b.slotMu.Lock()
	if rawDup3(g, b.slot) == 0 {
		b.ctlTargetAtSlot(t, th.tid, inst, tfd, op, events, isEpollFile(g))
		rawClose(b.slot)
	}
	b.slotMu.Unlock()
	rawClose(g)
}

// ctlTargetAtSlot resolves the guest file duplicated at the slot (the
// caller holds slotMu) for ctlTarget.
//
// Only an epoll file can be one of the box's instances: any other target
// is not compared with every instance, so that the call's cost does not
// grow with their number.
//
// +checklocks:b.slotMu
func (b *Box) ctlTargetAtSlot(t *ctlTarget, tid int32, inst *instance, tfd, op int32, events uint32, epoll bool) {
	if epoll && b.nestedAtSlot(t, tid, tfd) {
		return
	}
	found, gone := inst.findProxy(tfd)
	t.drop = append(t.drop, gone...)
	if found != nil && found.file.TryIncRef() {
		t.found, t.file, t.held = found, found.file, found.file
		return
	}
	if op != unix.EPOLL_CTL_ADD {
		// Not registered: the model answers ENOENT, or EPERM for a file
		// epoll cannot watch.
		t.file = b.unregisteredFile()
		t.held = t.file
		return
	}
	if r := b.sharedExclusiveFor(op, events); r != nil {
		r.tid = tid
		t.fresh, t.file = r, r.file
		return
	}
	f, p, err := b.newProxy(events)
	if err != nil {
		// The box is out of fds for probes: what Linux says when no more
		// watches may be added.
		e, _ := err.(unix.Errno)
		if e == 0 || e == unix.EMFILE || e == unix.ENFILE {
			e = unix.ENOSPC
			b.warn("fdlimit", "the box is out of fds (its fd limit is %d, each registration costs it two, "+
				"and no vault could take more: %v): epoll_ctl fails ENOSPC; raise the hard RLIMIT_NOFILE "+
				"(or run with CAP_SYS_RESOURCE)", b.fdLimit, err)
		}
		t.err = e
		return
	}
	t.fresh, t.file = &regProxy{file: f, p: p, tid: tid}, f
}

// nestedAtSlot resolves the epoll file at the slot (the caller holds
// slotMu) if it is one of the box's instances, and reports whether it is.
//
// +checklocks:b.slotMu
func (b *Box) nestedAtSlot(t *ctlTarget, tid, tfd int32) bool {
	child := b.identify(tid, tfd)
	if child == nil {
		return false
	}
	if child.file.TryIncRef() {
		t.child, t.file, t.held = child, child.file, child.file
	}
	return true // else released meanwhile: EBADF, as for a closed fd
}

// release drops the references the call held on its target, apart from
// fresh, which ctl drops at once when the registration failed.
func (t *ctlTarget) release() {
	if t.held != nil {
		t.held.DecRef()
	}
	for _, f := range t.drop {
		f.DecRef()
	}
}

// recordCtl keeps the instance's bookkeeping in step with the model's after
// a successful epoll_ctl op of target through tfd; a fresh proxy the
// instance keeps is no longer the call's to drop.
func (inst *instance) recordCtl(op, tfd int32, t *ctlTarget) {
	switch {
	case op == unix.EPOLL_CTL_ADD && t.fresh != nil:
		if inst.addProxy(tfd, t.fresh) {
			t.fresh = nil
		}
	case op == unix.EPOLL_CTL_ADD && t.child != nil:
		inst.mu.Lock()
		if inst.children != nil {
			inst.children[t.child]++
		}
		inst.mu.Unlock()
	case op == unix.EPOLL_CTL_DEL && t.found != nil:
		if f := inst.removeProxy(tfd, t.found.file); f != nil {
			f.DecRef()
		}
	case op == unix.EPOLL_CTL_DEL && t.child != nil:
		inst.mu.Lock()
		if inst.children != nil {
			if inst.children[t.child]--; inst.children[t.child] <= 0 {
				delete(inst.children, t.child)
			}
		}
		inst.mu.Unlock()
	}
}
