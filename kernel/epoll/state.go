package epoll

import (
	"errors"
	"fmt"
	"slices"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// Checkpoint state of epoll instances (package checkpoint owns the object
// graph and the byte format).
//
// Files are named by their index in the caller's list of saved files. An
// instance saves its registrations and its ready list in order. The order
// of the registrations of one target file on the file's watch list (which
// is also the order of their ADDs, and so decides the order of their hooks
// on the file's wait queue, which is observable) is saved as each item's
// WatchRank, and restore links them in that order.

// DomainState is a Domain's settings.
type DomainState struct {
	MaxUserWatches int64
	KeepWakeup     bool
}

// InstanceState is one epoll instance.
type InstanceState struct {
	Items []ItemState
	// Ready lists indices of Items in ready-list order.
	Ready []int32
}

// ItemState is one registration.
type ItemState struct {
	Target    int32 // index of the watched file
	Fd        int32
	Events    uint32 // stored interest (only private bits once a ONESHOT fired)
	Data      uint64
	WatchRank int32 // position among every registration of Target
	// Caller names the thread the registration's hook was made for, when
	// the target's queue depends on it (fs.CallerPollable: a signalfd
	// hooks the adding thread's queue), as HookCallers.Save named it; -1
	// when it does not matter.
	Caller int32
}

// HookCallers name the callers of registrations whose targets are
// fs.CallerPollable, for SaveInstances and RestoreInstances: Save returns
// the name of the caller target's hook was made for (-1: none), Restore
// gives back the caller for a name (nil: the target's default). A nil
// function means -1 or nil for every registration.
type HookCallers struct {
	Save    func(target *fs.File, hook *waiter.Entry) int32
	Restore func(caller int32) any
}

// ErrBusy is returned by SaveInstances when an instance is in the middle
// of a harvest (a thread is inside epoll_wait or polls it).
var ErrBusy = errors.New("epoll: instance busy (a harvest is running)")

// State returns d's settings.
func (d *Domain) State() DomainState {
	return DomainState{MaxUserWatches: d.maxWatches.Load(), KeepWakeup: d.keepWakeup.Load()}
}

// NewDomainFromState returns a new Domain with st's settings and no
// registrations.
func NewDomainFromState(st DomainState) *Domain {
	d := NewDomain()
	d.maxWatches.Store(st.MaxUserWatches)
	d.keepWakeup.Store(st.KeepWakeup)
	return d
}

// SaveInstances saves the instances eps. files are every saved file (an
// item's Target is its index there); each registration's target must be
// among them. No thread may be inside a call on any of them.
//
// +checklocksignore: holds every instance's mu at once, taken in a loop
// (see the lock order in doc.go), which the tool cannot follow.
func SaveInstances(eps []*EventPoll, files []*fs.File, callers HookCallers) ([]InstanceState, error) {
	epIndex := make(map[*EventPoll]int, len(eps))
	for i, ep := range eps {
		epIndex[ep] = i
	}
	for _, ep := range eps {
		ep.mu.Lock()
	}
	defer func() {
		for _, ep := range eps {
			ep.mu.Unlock()
		}
	}()
	total := 0
	for _, ep := range eps {
		total += ep.interest.n
	}
	out := make([]InstanceState, len(eps))
	for k, ep := range eps {
		out[k].Items = make([]ItemState, 0, ep.interest.n)
	}
	itemIndex := make(map[*item]int32, total)
	var err error
	for fi, f := range files {
		rank := int32(0)
		f.ForEachWatch(func(w *fs.Watch) bool {
			it, ok := w.Hook.Waker().(*item)
			if !ok {
				err = fmt.Errorf("epoll: file %d has a watch of another kind", fi)
				return false
			}
			k, ok := epIndex[it.ep]
			if !ok {
				err = fmt.Errorf("epoll: file %d is watched by an instance that is not saved", fi)
				return false
			}
			itemIndex[it] = int32(len(out[k].Items))
			caller := int32(-1)
			if callers.Save != nil {
				caller = callers.Save(f, &it.watch.Hook)
			}
			out[k].Items = append(out[k].Items, ItemState{
				Target: int32(fi), Fd: it.fd, Events: uint32(it.events), Data: it.data, WatchRank: rank,
				Caller: caller,
			})
			rank++
			return true
		})
		if err != nil {
			return nil, err
		}
	}
	for k, ep := range eps {
		if len(out[k].Items) != ep.interest.n {
			return nil, fmt.Errorf("epoll: instance %d watches %d files outside the saved set",
				k, ep.interest.n-len(out[k].Items))
		}
		if ep.scanning || ep.HasWaiters() {
			return nil, ErrBusy
		}
		ep.absorbLocked(nil)
		for it := ep.ready.head; it != nil; it = it.next {
			out[k].Ready = append(out[k].Ready, itemIndex[it])
		}
	}
	return out, nil
}

// FileInfo tells ValidateInstances about the saved files, by index: which
// are pollable, and which are instances (the instance's index, or -1).
// Both slices have one entry per saved file.
type FileInfo struct {
	Pollable []bool
	Instance []int32
}

// ValidInstances are instance states that ValidateInstances accepted, with
// what RestoreInstances needs to rebuild them.
type ValidInstances struct {
	states []InstanceState
	self   []int32
	fi     FileInfo
	// first[f] is where file f's registrations start in a flat array
	// ordered by (target, watch rank); first[len] is the total.
	first []int32
}

// ValidateInstances checks states completely: self[k] is the file index
// of instance k. Targets, keys, ranks, ready lists, EXCLUSIVE rules and
// the nesting graph (no cycle, at most maxNests+1 instances in a chain).
func ValidateInstances(states []InstanceState, self []int32, fi FileInfo) (*ValidInstances, error) {
	if len(fi.Instance) != len(fi.Pollable) {
		return nil, fmt.Errorf("epoll: file info of %d and %d files", len(fi.Pollable), len(fi.Instance))
	}
	if len(self) != len(states) {
		return nil, fmt.Errorf("epoll: %d instances, %d files", len(states), len(self))
	}
	v := &ValidInstances{states: states, self: self, fi: fi}
	if err := v.countRegistrations(); err != nil {
		return nil, err
	}
	// keys[first[t]+rank] is (instance+1, fd) of that registration, 0 if
	// none; edges[k] are the instances instance k watches.
	keys := make([]uint64, v.first[len(v.first)-1])
	edges := make([][]int32, len(states))
	for k := range states {
		if err := v.validateInstance(int32(k), keys, edges); err != nil {
			return nil, err
		}
	}
	if err := v.checkKeys(keys); err != nil {
		return nil, err
	}
	if err := checkNesting(edges); err != nil {
		return nil, err
	}
	return v, nil
}

// countRegistrations checks each instance's file and its items' targets,
// and sets v.first from the number of registrations of each file.
func (v *ValidInstances) countRegistrations() error {
	n := len(v.fi.Pollable)
	v.first = make([]int32, n+1)
	for k := range v.states {
		if v.self[k] < 0 || int(v.self[k]) >= n || v.fi.Instance[v.self[k]] != int32(k) {
			return fmt.Errorf("epoll: instance %d: bad file %d", k, v.self[k])
		}
		for j := range v.states[k].Items {
			t := v.states[k].Items[j].Target
			if t < 0 || int(t) >= n {
				return fmt.Errorf("epoll: instance %d item %d: target %d out of range", k, j, t)
			}
			v.first[t+1]++
		}
	}
	for i := 1; i <= n; i++ {
		v.first[i] += v.first[i-1]
	}
	return nil
}

// validateInstance checks instance k's items and ready list, placing each
// item's key by watch rank in keys and its nested instance in edges[k]:
// every registration of a file must have a distinct rank below their
// count.
func (v *ValidInstances) validateInstance(k int32, keys []uint64, edges [][]int32) error {
	st := &v.states[k]
	for j := range st.Items {
		it := &st.Items[j]
		if err := v.validateItem(k, it); err != nil {
			return fmt.Errorf("epoll: instance %d item %d: %v", k, j, err)
		}
		if inner := v.fi.Instance[it.Target]; inner >= 0 {
			edges[k] = append(edges[k], inner)
		}
		cnt := v.first[it.Target+1] - v.first[it.Target]
		if it.WatchRank < 0 || it.WatchRank >= cnt || keys[v.first[it.Target]+it.WatchRank] != 0 {
			return fmt.Errorf("epoll: file %d: watch rank %d repeated or out of range", it.Target, it.WatchRank)
		}
		keys[v.first[it.Target]+it.WatchRank] = uint64(k+1)<<32 | uint64(uint32(it.Fd))
	}
	seen := make([]bool, len(st.Items))
	for _, r := range st.Ready {
		if r < 0 || int(r) >= len(st.Items) || seen[r] {
			return fmt.Errorf("epoll: instance %d: ready entry %d repeated or out of range", k, r)
		}
		seen[r] = true
	}
	return nil
}

// validateItem checks one registration of instance k on its own.
func (v *ValidInstances) validateItem(k int32, it *ItemState) error {
	ev := waiter.EventMask(it.Events)
	switch {
	case it.Target == v.self[k]:
		return fmt.Errorf("watches itself")
	case !v.fi.Pollable[it.Target]:
		return fmt.Errorf("target %d is not pollable", it.Target)
	case ev&waiter.EventExclusive != 0 && (v.fi.Instance[it.Target] >= 0 || ev&^exclusiveAllowed != 0):
		return fmt.Errorf("bad EXCLUSIVE interest %#x", it.Events)
	case ev&^waiter.PrivateBits != 0 && ev&(waiter.EventErr|waiter.EventHUp) != waiter.EventErr|waiter.EventHUp:
		return fmt.Errorf("armed interest %#x without ERR|HUP", it.Events)
	}
	return nil
}

// checkKeys checks that a key (instance, target, fd) appears once, looking
// within each target's registrations.
func (v *ValidInstances) checkKeys(keys []uint64) error {
	for t := 0; t+1 < len(v.first); t++ {
		seg := keys[v.first[t]:v.first[t+1]]
		if len(seg) < 2 {
			continue
		}
		slices.Sort(seg)
		for i := 1; i < len(seg); i++ {
			if seg[i] == seg[i-1] {
				return fmt.Errorf("epoll: instance %d: key (%d, %d) twice", seg[i]>>32-1, t, int32(uint32(seg[i])))
			}
		}
	}
	return nil
}

// nestColour is where the depth-first walk of checkNesting stands on an
// instance.
type nestColour uint8

const (
	nestUnseen  nestColour = iota
	nestOnPath             // on the current path: meeting it again is a cycle
	nestChecked            // it and everything below it checked
)

// checkNesting walks the instances depth first: no cycle, and the longest
// chain below each instance keeps every chain within maxNests+1
// instances (ep_loop_check's limits).
func checkNesting(edges [][]int32) error {
	colour := make([]nestColour, len(edges))
	depth := make([]int, len(edges)) // instances in the longest chain starting here
	var visit func(k int32, level int) error
	visit = func(k int32, level int) error {
		if level > maxNests+1 {
			return fmt.Errorf("epoll: a chain of more than %d nested instances", maxNests+1)
		}
		colour[k] = nestOnPath
		d := 1
		for _, n := range edges[k] {
			switch colour[n] {
			case nestOnPath:
				return fmt.Errorf("epoll: instances %d and %d watch each other (a cycle)", k, n)
			case nestUnseen:
				if err := visit(n, level+1); err != nil {
					return err
				}
			}
			d = max(d, depth[n]+1)
		}
		if d > maxNests+1 {
			return fmt.Errorf("epoll: a chain of %d nested instances (at most %d)", d, maxNests+1)
		}
		depth[k] = d
		colour[k] = nestChecked
		return nil
	}
	for k := range edges {
		if colour[k] == nestUnseen {
			if err := visit(int32(k), 1); err != nil {
				return err
			}
		}
	}
	return nil
}

// RestoreInstances rebuilds validated instances into the new, empty
// instances whose files are files[self[k]] (made with NewFile on d); files
// holds every restored file. Registrations of a target for which repoll
// returns true (a file whose state was not saved, such as a re-donated
// host fd) are polled once at the end and queued if ready, as an ADD
// would.
//
// Each hook is made for the caller callers.Restore gives for the item's
// Caller.
func RestoreInstances(d *Domain, v *ValidInstances, files []*fs.File, repoll func(i int32) bool, callers HookCallers) error {
	states, self := v.states, v.self
	if len(files) != len(v.fi.Pollable) {
		return fmt.Errorf("epoll: %d files restored, %d validated", len(files), len(v.fi.Pollable))
	}
	eps := make([]*EventPoll, len(states))
	for k := range states {
		ep, ok := FromFile(files[self[k]])
		if !ok || ep.domain != d || ep.interest.n != 0 { // +checklocksignore: not shared yet.
			return fmt.Errorf("epoll: instance %d: file is not a new instance of the domain", k)
		}
		eps[k] = ep
	}
	// Items, in a flat array ordered by target and watch rank.
	byRank := make([]*item, v.first[len(v.first)-1])
	caller := make([]int32, len(byRank))
	items := make([][]*item, len(states))
	total := 0
	for k := range states {
		ep := eps[k]
		st := &states[k]
		items[k] = make([]*item, len(st.Items))
		for j := range st.Items {
			is := &st.Items[j]
			it := &item{ep: ep, file: files[is.Target], fd: is.Fd, events: waiter.EventMask(is.Events), data: is.Data}
			it.watch.Hook.Init(it, it.events&waiter.EventExclusive != 0, false)
			items[k][j] = it
			ep.interest.insert(it) // +checklocksignore: not shared yet.
			if v.fi.Instance[is.Target] >= 0 {
				if ep.nested == nil { // +checklocksignore: not shared yet.
					ep.nested = make(map[*item]struct{}) // +checklocksignore: not shared yet.
				}
				ep.nested[it] = struct{}{} // +checklocksignore: not shared yet.
				it.target().watchers.Add(1)
			}
			byRank[v.first[is.Target]+is.WatchRank] = it
			caller[v.first[is.Target]+is.WatchRank] = is.Caller
			total++
		}
	}
	for r, it := range byRank {
		var c any
		if callers.Restore != nil && caller[r] >= 0 {
			c = callers.Restore(caller[r])
		}
		it.file.HookWatch(&it.watch, c)
	}
	for k := range states {
		ep := eps[k]
		ep.mu.Lock()
		for _, r := range states[k].Ready {
			ep.ready.pushBack(items[k][r])
		}
		ep.publishLocked()
		ep.mu.Unlock()
	}
	d.watches.Add(int64(total))
	if repoll != nil {
		for k := range states {
			ep := eps[k]
			ep.mu.Lock()
			for j, it := range items[k] {
				if repoll(states[k].Items[j].Target) {
					ep.queueIfReadyLocked(it, nil)
				}
			}
			ep.mu.Unlock()
		}
	}
	return nil
}
