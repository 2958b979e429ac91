package epoll

import (
	"fmt"
)

// CheckInvariants verifies the instance's internal consistency; fuzzers and
// stress tests call it between operations. It returns the first violation.
//
//   - every queued item is registered (in interest, not removed) and queued
//     once; linked is set exactly for queued items;
//   - no scan is in progress and the overflow list is empty when no harvest
//     runs;
//   - every registered item's target is alive, its watch is linked, and its
//     nested pointer matches the target's type;
//   - the nested list holds exactly the items whose target is an epoll.
func (ep *EventPoll) CheckInvariants() error {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	ep.readyMu.Lock()
	defer ep.readyMu.Unlock()
	if ep.scanning || ep.ovfHead != nil {
		return fmt.Errorf("epoll: scan state left behind (scanning=%v)", ep.scanning)
	}
	queued := map[*item]bool{}
	var prev *item
	for it := ep.ready.head; it != nil; it = it.next {
		if queued[it] {
			return fmt.Errorf("epoll: item fd %d queued twice", it.id.Fd)
		}
		queued[it] = true
		if !it.linked || it.prev != prev {
			return fmt.Errorf("epoll: ready list links broken at fd %d", it.id.Fd)
		}
		if it.removed || ep.interest[it.id] != it {
			return fmt.Errorf("epoll: queued item fd %d is not registered", it.id.Fd)
		}
		prev = it
	}
	if ep.ready.tail != prev {
		return fmt.Errorf("epoll: ready list tail is wrong")
	}
	nested := 0
	for id, it := range ep.interest {
		if it.id != id || it.ep != ep || it.removed {
			return fmt.Errorf("epoll: interest entry fd %d inconsistent", id.Fd)
		}
		if it.linked != queued[it] {
			return fmt.Errorf("epoll: item fd %d linked=%v but queued=%v", id.Fd, it.linked, queued[it])
		}
		if id.File.Released() {
			return fmt.Errorf("epoll: item fd %d watches a released file", id.Fd)
		}
		target, isEpoll := FromFile(id.File)
		if isEpoll != (it.nested != nil) || isEpoll && it.nested != target {
			return fmt.Errorf("epoll: item fd %d nested pointer wrong", id.Fd)
		}
		if it.nested != nil {
			nested++
		}
	}
	ep.domain.graphMu.Lock()
	n := 0
	for it := ep.nested.head; it != nil; it = it.nestedNext {
		n++
		if it.removed || ep.interest[it.id] != it {
			return fmt.Errorf("epoll: nested list holds unregistered fd %d", it.id.Fd)
		}
	}
	ep.domain.graphMu.Unlock()
	if n != nested {
		return fmt.Errorf("epoll: nested list has %d items, interest has %d epoll targets", n, nested)
	}
	return nil
}
