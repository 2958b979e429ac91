package epoll

import (
	"fmt"

	"github.com/guestpoll/guestpoll/kernel/fs"
)

// CheckInvariants verifies the instance's internal consistency; fuzzers and
// stress tests call it between operations. It returns the first violation.
//
//   - every queued item is registered (in interest) and queued once, and
//     the list's links are consistent;
//   - no scan is in progress when no harvest runs, and the lockless
//     events-available mirror matches the ready list (after the woken
//     items joined it);
//   - the interest table holds each registration once, in its bucket, and
//     its count is right; every registered item's target is alive;
//   - the spare item, if any, is on no list, out of the interest table,
//     and watches no file;
//   - the nested set holds exactly the items whose target is an epoll;
//   - the watchers count equals the number of registrations of the
//     instance's own file (its watch list).
func (ep *EventPoll) CheckInvariants() error {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	// Items woken so far join the ready list first (any holder of ep.mu
	// may do this), so that it can be checked whole.
	ep.absorbLocked(nil)
	if ep.scanning {
		return fmt.Errorf("epoll: scan state left behind (scanning=%v)", ep.scanning)
	}
	if ep.avail.Load() == ep.ready.empty() {
		return fmt.Errorf("epoll: events-available mirror is %v with the ready list empty: %v", ep.avail.Load(), ep.ready.empty())
	}
	registered := map[*item]bool{}
	var err error
	nested := 0
	ep.interest.forEach(func(it *item) {
		switch {
		case err != nil:
		case registered[it]:
			err = fmt.Errorf("epoll: item fd %d in the interest table twice", it.fd)
		case it.ep != ep || ep.interest.find(it.file, it.fd) != it: // +checklocksignore: forEach calls this under ep.mu.
			err = fmt.Errorf("epoll: interest entry fd %d inconsistent", it.fd)
		case it.file.Released():
			err = fmt.Errorf("epoll: item fd %d watches a released file", it.fd)
		}
		registered[it] = true
		if it.target() != nil {
			nested++
		}
	})
	if err != nil {
		return err
	}
	if len(registered) != ep.interest.n {
		return fmt.Errorf("epoll: interest table counts %d, holds %d", ep.interest.n, len(registered))
	}
	if s := ep.spare; s != nil && (registered[s] || s.file != nil || s.ep != ep ||
		s.next != nil || s.prev != nil || s.hnext != nil || s.wokenNext.Load() != nil) {
		return fmt.Errorf("epoll: the spare item is still in use (registered %v)", registered[s])
	}
	queued := map[*item]bool{}
	var prev *item
	for it := ep.ready.head; it != nil; it = it.next {
		if queued[it] {
			return fmt.Errorf("epoll: item fd %d queued twice", it.fd)
		}
		queued[it] = true
		if it.prev != prev {
			return fmt.Errorf("epoll: ready list links broken at fd %d", it.fd)
		}
		if !registered[it] {
			return fmt.Errorf("epoll: queued item fd %d is not registered", it.fd)
		}
		prev = it
	}
	if ep.ready.tail != prev {
		return fmt.Errorf("epoll: ready list tail is wrong")
	}
	for it := range registered {
		if !queued[it] && (it.prev != nil || it.next != nil) {
			return fmt.Errorf("epoll: unqueued item fd %d has links", it.fd)
		}
	}
	ep.domain.graphMu.Lock()
	defer ep.domain.graphMu.Unlock()
	for it := range ep.nested {
		if !registered[it] || it.target() == nil {
			return fmt.Errorf("epoll: nested set holds fd %d wrongly", it.fd)
		}
	}
	if len(ep.nested) != nested {
		return fmt.Errorf("epoll: nested set has %d items, interest has %d epoll targets", len(ep.nested), nested)
	}
	watches := 0
	ep.file.ForEachWatch(func(*fs.Watch) bool { watches++; return true })
	if w := ep.watchers.Load(); int(w) != watches {
		return fmt.Errorf("epoll: watchers count is %d, the watch list has %d", w, watches)
	}
	return nil
}
