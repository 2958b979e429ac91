package epoll_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// stateWorld is a domain with two instances and three fake targets, in
// the saved-file order: a, b, c, e1's file, e2's file.
type stateWorld struct {
	d      *epoll.Domain
	e1, e2 *epoll.EventPoll
	fakes  []*kerneltest.FakeFile
	files  []*fs.File
}

func (w *stateWorld) close() {
	for _, f := range w.files {
		f.DecRef()
	}
}

// newStateWorld builds: e1 watches a (IN|ET), b (IN), c (IN|ONESHOT) and
// e2 (IN); e2 watches a (IN|EXCLUSIVE) after e1 did. a is ready and its
// edge harvested by e1, c's ONESHOT fired, b is ready and requeued by a
// harvest, and e2 holds a and is ready in e1.
func newStateWorld(t *testing.T) *stateWorld {
	w := &stateWorld{d: epoll.NewDomain()}
	for range 3 {
		f, ff := kerneltest.NewFakeFile(0)
		w.files = append(w.files, f)
		w.fakes = append(w.fakes, ff)
	}
	var f1, f2 *fs.File
	w.e1, f1 = newEpoll(t, w.d)
	w.e2, f2 = newEpoll(t, w.d)
	w.files = append(w.files, f1, f2)
	add := func(ep *epoll.EventPoll, i int, ev waiter.EventMask, data uint64) {
		t.Helper()
		must(t, ep.Add(epoll.FileIdentifier{File: w.files[i], Fd: int32(10 + i)}, ev, data))
	}
	add(w.e1, 0, in|et, 1)
	add(w.e1, 1, in, 2)
	add(w.e1, 2, in|oneshot, 3)
	add(w.e1, 4, in, 4)
	add(w.e2, 0, in|excl, 10)
	w.fakes[0].Signal(in, in)
	w.fakes[2].Signal(in, in)
	w.fakes[1].Signal(in, in)
	if got := len(harvest(w.e1, 4)); got != 4 {
		t.Fatalf("first harvest: %d events", got)
	}
	return w
}

func (w *stateWorld) save(t *testing.T) []epoll.InstanceState {
	t.Helper()
	st, err := epoll.SaveInstances([]*epoll.EventPoll{w.e1, w.e2}, w.files, epoll.HookCallers{})
	must(t, err)
	return st
}

var stateSelf = []int32{3, 4}

func stateInfo() epoll.FileInfo {
	return epoll.FileInfo{Pollable: []bool{true, true, true, true, true}, Instance: []int32{-1, -1, -1, 0, 1}}
}

// restore rebuilds states into a new domain on new fake files with the
// same readiness as w's.
func (w *stateWorld) restore(t *testing.T, st []epoll.InstanceState, repoll func(int32) bool) *stateWorld {
	t.Helper()
	v, err := epoll.ValidateInstances(st, stateSelf, stateInfo())
	must(t, err)
	n := &stateWorld{d: epoll.NewDomainFromState(w.d.State())}
	for _, ff := range w.fakes {
		f, nf := kerneltest.NewFakeFile(ff.Readiness(nil, ^waiter.EventMask(0)))
		n.files = append(n.files, f)
		n.fakes = append(n.fakes, nf)
	}
	var f1, f2 *fs.File
	n.e1, f1 = newEpoll(t, n.d)
	n.e2, f2 = newEpoll(t, n.d)
	n.files = append(n.files, f1, f2)
	must(t, epoll.RestoreInstances(n.d, v, n.files, repoll, epoll.HookCallers{}))
	return n
}

// TestInstanceStateRoundTrip: restored instances save the same state,
// count the same watches, keep their invariants, and report the same
// events as the originals, now and after the same wakeups (including the
// order in which a's registrations are woken: e1's edge-triggered entry,
// then e2's exclusive one).
func TestInstanceStateRoundTrip(t *testing.T) {
	w := newStateWorld(t)
	defer w.close()
	st := w.save(t)
	n := w.restore(t, st, nil)
	defer n.close()
	if diff := cmp.Diff(st, n.save(t)); diff != "" {
		t.Fatalf("restored instances save differently:\n%s", diff)
	}
	if got, want := n.d.Watches(), w.d.Watches(); got != want {
		t.Errorf("watches %d, want %d", got, want)
	}
	for _, x := range []*stateWorld{w, n} {
		must(t, x.e1.CheckInvariants())
		must(t, x.e2.CheckInvariants())
	}
	observe := func(x *stateWorld) string {
		var sb strings.Builder
		for range 2 {
			sb.WriteString(cmp.Diff(nil, harvest(x.e1, 8)))
			sb.WriteString(cmp.Diff(nil, harvest(x.e2, 8)))
			x.fakes[0].Signal(in, in)
		}
		return sb.String()
	}
	if got, want := observe(n), observe(w); got != want {
		t.Errorf("restored instances behave differently:\n--- original\n%s--- restored\n%s", want, got)
	}
}

// TestRestoreRepollsOnlyWhatItIsTold: a's edge was harvested, so it is
// not on e1's ready list; restoring re-polls it only if repoll says so
// (a target whose state was not saved), and then queues it as an ADD
// would.
func TestRestoreRepollsOnlyWhatItIsTold(t *testing.T) {
	w := newStateWorld(t)
	defer w.close()
	st := w.save(t)
	want := harvest(w.e1, 8) // b (level-triggered) and e2, not a
	if len(want) != 2 {
		t.Fatalf("original: %v", want)
	}
	exact := w.restore(t, st, nil)
	defer exact.close()
	wantEvents(t, exact.e1, 8, want...)
	repolled := w.restore(t, st, func(i int32) bool { return i == 0 })
	defer repolled.close()
	wantEvents(t, repolled.e1, 8, append(want, ev(in, 1))...)
}

// TestSaveInstancesRefusesPartialGraphs: every registration's target must
// be saved, and every instance watching a saved file too.
func TestSaveInstancesRefusesPartialGraphs(t *testing.T) {
	w := newStateWorld(t)
	defer w.close()
	if _, err := epoll.SaveInstances([]*epoll.EventPoll{w.e1, w.e2}, w.files[1:], epoll.HookCallers{}); err == nil || !strings.Contains(err.Error(), "outside the saved set") {
		t.Errorf("target missing: %v", err)
	}
	if _, err := epoll.SaveInstances([]*epoll.EventPoll{w.e2}, w.files, epoll.HookCallers{}); err == nil || !strings.Contains(err.Error(), "not saved") {
		t.Errorf("watcher missing: %v", err)
	}
}

// TestValidateInstancesRejects mutates a valid state in each way
// ValidateInstances must catch.
func TestValidateInstancesRejects(t *testing.T) {
	w := newStateWorld(t)
	defer w.close()
	item := func(target int32, events waiter.EventMask) epoll.ItemState {
		return epoll.ItemState{Target: target, Fd: 99, Events: uint32(events | errBit | hup)}
	}
	cases := []struct {
		name   string
		mutate func(st []epoll.InstanceState, self []int32, fi *epoll.FileInfo)
		want   string
	}{
		{"bad self", func(st []epoll.InstanceState, self []int32, fi *epoll.FileInfo) { self[0] = 1 }, "bad file"},
		{"target range", func(st []epoll.InstanceState, self []int32, fi *epoll.FileInfo) { st[0].Items[0].Target = 5 }, "out of range"},
		{"itself", func(st []epoll.InstanceState, self []int32, fi *epoll.FileInfo) { st[1].Items[0].Target = 4 }, "watches itself"},
		{"not pollable", func(st []epoll.InstanceState, self []int32, fi *epoll.FileInfo) { fi.Pollable[1] = false }, "not pollable"},
		{"exclusive nested", func(st []epoll.InstanceState, self []int32, fi *epoll.FileInfo) {
			st[0].Items[3].Events |= uint32(excl)
		}, "EXCLUSIVE"},
		{"no err hup", func(st []epoll.InstanceState, self []int32, fi *epoll.FileInfo) { st[0].Items[1].Events = uint32(in) }, "ERR|HUP"},
		{"rank", func(st []epoll.InstanceState, self []int32, fi *epoll.FileInfo) { st[1].Items[0].WatchRank = 0 }, "watch rank"},
		{"ready twice", func(st []epoll.InstanceState, self []int32, fi *epoll.FileInfo) {
			st[0].Ready = append(st[0].Ready, st[0].Ready[0])
		}, "ready entry"},
		{"key twice", func(st []epoll.InstanceState, self []int32, fi *epoll.FileInfo) {
			it := item(1, in)
			it.Fd, it.WatchRank = st[0].Items[1].Fd, 1
			st[0].Items = append(st[0].Items, it)
		}, "twice"},
		{"cycle", func(st []epoll.InstanceState, self []int32, fi *epoll.FileInfo) {
			st[1].Items = append(st[1].Items, item(3, in))
		}, "cycle"},
		{"info sizes", func(st []epoll.InstanceState, self []int32, fi *epoll.FileInfo) { fi.Instance = fi.Instance[1:] }, "file info"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := w.save(t)
			self := append([]int32(nil), stateSelf...)
			fi := stateInfo()
			c.mutate(st, self, &fi)
			if _, err := epoll.ValidateInstances(st, self, fi); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, c.want)
			}
		})
	}
}

// TestValidateInstancesNestingDepth: a chain of five instances is Linux's
// limit (ep_loop_check's EP_MAX_NESTS + 1); six is refused.
func TestValidateInstancesNestingDepth(t *testing.T) {
	chain := func(n int) error {
		st := make([]epoll.InstanceState, n)
		self := make([]int32, n)
		fi := epoll.FileInfo{Pollable: make([]bool, n), Instance: make([]int32, n)}
		for k := range n {
			self[k] = int32(k)
			fi.Pollable[k], fi.Instance[k] = true, int32(k)
			if k+1 < n {
				st[k].Items = []epoll.ItemState{{Target: int32(k + 1), Events: uint32(in | errBit | hup)}}
			}
		}
		_, err := epoll.ValidateInstances(st, self, fi)
		return err
	}
	must(t, chain(5))
	if err := chain(6); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Fatalf("six in a chain: %v", err)
	}
}

// TestRestoreInstancesNeedsNewInstances: the instances' files must be
// new, empty instances of the domain.
func TestRestoreInstancesNeedsNewInstances(t *testing.T) {
	w := newStateWorld(t)
	defer w.close()
	v, err := epoll.ValidateInstances(w.save(t), stateSelf, stateInfo())
	must(t, err)
	if err := epoll.RestoreInstances(epoll.NewDomain(), v, w.files, nil, epoll.HookCallers{}); err == nil || !strings.Contains(err.Error(), "not a new instance") {
		t.Fatalf("got %v", err)
	}
}
