package epoll

import (
	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// exclusiveAllowed are the bits an EPOLLEXCLUSIVE registration may carry.
const exclusiveAllowed = waiter.EventIn | waiter.EventOut | waiter.EventErr |
	waiter.EventHUp | waiter.EventWakeup | waiter.EventET | waiter.EventExclusive

// The caller (the syscall layer) has already checked, in Linux's order, the
// event copy-in, that both fds are open, that the target is pollable (EPERM)
// and that the epfd is an epoll (EINVAL). Add, Modify and Delete do the rest
// of epoll_ctl, in Linux's order: WAKEUP stripping, the same-file check,
// EXCLUSIVE validation, the loop check, the key lookup, then the operation.
//
// They also check again what an embedder calling them directly may get
// wrong: an instance or target already released is EBADF, as Linux's fdget
// of a closed fd is, before any other check.

// checkOpen is epoll_ctl's fdget of epfd and fd: EBADF if the instance or
// the target is already released. A nil target, or an instance not made
// by NewFile, is a programming error.
func (ep *EventPoll) checkOpen(id FileIdentifier) error {
	switch {
	case ep.file == nil:
		panic("epoll: an EventPoll not made by NewFile")
	case id.File == nil:
		panic("epoll: epoll_ctl with a FileIdentifier whose File is nil")
	}
	if ep.file.Released() || id.File.Released() {
		return unix.EBADF
	}
	return nil
}

// Add registers id with the given interest and data (EPOLL_CTL_ADD). A
// failed Add leaves no trace.
func (ep *EventPoll) Add(id FileIdentifier, events waiter.EventMask, data uint64) error {
	return ep.AddFor(nil, id, events, data)
}

// AddFor is Add issued by thread caller (the syscall layer's task): a
// target whose wait queue depends on the caller (fs.CallerPollable, a
// signalfd) is hooked on the caller's, and polled as the caller sees it,
// as ep_insert polls with current.
func (ep *EventPoll) AddFor(caller any, id FileIdentifier, events waiter.EventMask, data uint64) error {
	if err := ep.checkOpen(id); err != nil {
		return err
	}
	events = ep.stripWakeup(events)
	if id.File == ep.file {
		return unix.EINVAL
	}
	if id.File.Pollable() == nil {
		return unix.EPERM
	}
	target, targetIsEpoll := FromFile(id.File)
	if targetIsEpoll && target.domain != ep.domain {
		// The loop and depth checks walk one Domain's graph under its
		// locks: a link between two Domains would go unchecked.
		panic("epoll: epoll_ctl ADD of an epoll instance of another Domain (one Domain per kernel)")
	}
	if events&waiter.EventExclusive != 0 && (targetIsEpoll || events&^exclusiveAllowed != 0) {
		return unix.EINVAL
	}
	// A full check is needed when the new link may lengthen a path: the
	// target is an epoll, or this instance is itself watched (its
	// watchers count, rather than its file's watch list and lock).
	if targetIsEpoll || ep.watchers.Load() != 0 {
		return ep.addFullCheck(caller, id, target, events, data)
	}
	ep.mu.Lock()
	err := ep.insertLocked(caller, id, nil, events, data, false)
	ep.mu.Unlock()
	return err
}

// addFullCheck is Add when the new link may lengthen a path: the loop
// check, the insert and the reverse-path check run under d.nestMu. It is
// apart from Add because Add's defers, with its many returns, were not
// open-coded by the compiler: every ADD paid the runtime's defer records.
func (ep *EventPoll) addFullCheck(caller any, id FileIdentifier, target *EventPoll, events waiter.EventMask, data uint64) error {
	d := ep.domain
	d.nestMu.Lock()
	defer d.nestMu.Unlock()
	if target != nil && ep.loopCheck(target) {
		return unix.ELOOP
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.insertLocked(caller, id, target, events, data, true)
}

// insertLocked is ADD once the instance is locked: the key lookup, the
// watch accounting, the insert, the reverse-path check when fullCheck is
// set, and the hook.
//
// +checklocks:ep.mu
func (ep *EventPoll) insertLocked(caller any, id FileIdentifier, target *EventPoll, events waiter.EventMask, data uint64, fullCheck bool) error {
	// A release that raced checkOpen: the instance's release takes ep.mu
	// after its reference count reaches 0, so under ep.mu either this sees
	// it or the release will remove the new item.
	if ep.file.Released() {
		return unix.EBADF
	}
	if ep.interest.find(id.File, id.Fd) != nil {
		return unix.EEXIST
	}
	d := ep.domain
	if d.watches.Add(1) > d.maxWatches.Load() {
		d.watches.Add(-1)
		return unix.ENOSPC
	}
	it := ep.newItemLocked(id, events, data)
	// The target's release may race checkOpen (its caller held no
	// reference); AddWatch and HookWatch decide atomically with that
	// release. Without a full check the watch is linked and the item
	// hooked in one step (one lock pair on the target when its type
	// allows); with one, the wakeup-path check walks watch lists, so the
	// watch goes first and the hook after the check, as in ep_insert.
	if fullCheck {
		if !id.File.AddWatch(&it.watch) {
			d.watches.Add(-1)
			return unix.EBADF
		}
	} else if !id.File.HookWatch(&it.watch, caller) {
		d.watches.Add(-1)
		return unix.EBADF
	}
	ep.interest.insert(it)
	if target != nil {
		d.graphMu.Lock()
		if ep.nested == nil {
			ep.nested = make(map[*item]struct{})
		}
		ep.nested[it] = struct{}{}
		target.watchers.Add(1)
		d.graphMu.Unlock()
	}
	if fullCheck {
		if !ep.reversePathsOK(it) {
			ep.removeLocked(it)
			return unix.EINVAL
		}
		id.File.EventRegisterFor(&it.watch.Hook, caller)
	}
	ep.queueIfReadyLocked(it, caller)
	return nil
}

// Modify replaces the interest and data of id (EPOLL_CTL_MOD) and re-arms
// it: if the target is ready now and the item is not queued, it is queued.
func (ep *EventPoll) Modify(id FileIdentifier, events waiter.EventMask, data uint64) error {
	return ep.ModifyFor(nil, id, events, data)
}

// ModifyFor is Modify issued by thread caller (see AddFor): the re-armed
// target is polled as the caller sees it.
func (ep *EventPoll) ModifyFor(caller any, id FileIdentifier, events waiter.EventMask, data uint64) error {
	if err := ep.checkOpen(id); err != nil {
		return err
	}
	events = ep.stripWakeup(events)
	if id.File == ep.file {
		return unix.EINVAL
	}
	if id.File.Pollable() == nil {
		return unix.EPERM
	}
	if events&waiter.EventExclusive != 0 {
		return unix.EINVAL
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	it := ep.interest.find(id.File, id.Fd)
	if it == nil {
		return unix.ENOENT
	}
	if it.events&waiter.EventExclusive != 0 {
		return unix.EINVAL
	}
	it.setEvents(events | waiter.EventErr | waiter.EventHUp)
	it.data = data
	ep.queueIfReadyLocked(it, caller)
	return nil
}

// Delete removes id (EPOLL_CTL_DEL). A queued event of it is lost; nobody
// is woken.
func (ep *EventPoll) Delete(id FileIdentifier) error {
	if err := ep.checkOpen(id); err != nil {
		return err
	}
	if id.File == ep.file {
		return unix.EINVAL
	}
	if id.File.Pollable() == nil {
		return unix.EPERM
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	it := ep.interest.find(id.File, id.Fd)
	if it == nil {
		return unix.ENOENT
	}
	ep.removeLocked(it)
	ep.keepSpareLocked(it)
	return nil
}

func (ep *EventPoll) stripWakeup(events waiter.EventMask) waiter.EventMask {
	if !ep.domain.keepWakeup.Load() {
		events &^= waiter.EventWakeup
	}
	return events
}

// queueIfReadyLocked polls it's target once and, if it is ready and not
// queued, queues it and wakes one waiter and the instance's pollers (what
// ADD and MOD do).
//
// +checklocks:ep.mu
func (ep *EventPoll) queueIfReadyLocked(it *item, caller any) {
	if it.file.ReadinessFor(it.events, caller)&it.events == 0 {
		return
	}
	// Woken items go first: they were queued before this one.
	ep.absorbLocked(nil)
	if ep.queuedLocked(it) {
		return
	}
	ep.ready.pushBack(it)
	ep.publishLocked()
	ep.wakeOneSleeper()
	ep.pollers.Notify(waiter.EventIn) // lockless when nobody polls
}
