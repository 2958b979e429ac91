package waiter

import (
	"runtime"
	"sync"
	"testing"
)

type recorder struct {
	name string
	log  *[]string
	take bool
	keys []EventMask
}

func (r *recorder) Wake(key EventMask) bool {
	*r.log = append(*r.log, r.name)
	r.keys = append(r.keys, key)
	return r.take
}

func newEntry(name string, log *[]string, exclusive, take, autoRemove bool) (*Entry, *recorder) {
	r := &recorder{name: name, log: log, take: take}
	e := &Entry{}
	e.Init(r, exclusive, autoRemove)
	return e, r
}

func TestNotifyOrderAndExclusiveBudget(t *testing.T) {
	var log []string
	var q Queue
	n1, _ := newEntry("n1", &log, false, true, false)
	n2, _ := newEntry("n2", &log, false, true, false)
	x1, _ := newEntry("x1", &log, true, false, false) // declines
	x2, _ := newEntry("x2", &log, true, true, false)
	x3, _ := newEntry("x3", &log, true, true, false)
	for _, e := range []*Entry{n1, x1, n2, x2, x3} {
		q.Register(e)
	}
	q.Notify(EventIn)
	// Non-exclusive newest first, then exclusive in order until one takes.
	want := []string{"n2", "n1", "x1", "x2"}
	if !equal(log, want) {
		t.Fatalf("Notify called %v, want %v", log, want)
	}
	log = nil
	q.NotifyAll(0)
	want = []string{"n2", "n1", "x1", "x2", "x3"}
	if !equal(log, want) {
		t.Fatalf("NotifyAll called %v, want %v", log, want)
	}
}

func TestAutoRemoveAndUnregister(t *testing.T) {
	var log []string
	var q Queue
	s, _ := newEntry("s", &log, true, true, true)
	q.Register(s)
	if q.Empty() || !q.Linked(s) {
		t.Fatal("not registered")
	}
	q.Notify(EventOut)
	if q.Linked(s) || !q.Empty() {
		t.Fatal("auto-remove entry still linked after taking a wakeup")
	}
	if q.Unregister(s) {
		t.Fatal("Unregister of a woken entry reported it linked")
	}
	q.Register(s)
	if !q.Unregister(s) {
		t.Fatal("Unregister of a linked entry reported it unlinked")
	}
	q.Notify(EventIn)
	if len(log) != 1 {
		t.Fatalf("unregistered entry called: %v", log)
	}
}

func TestNotifyPassesKey(t *testing.T) {
	var log []string
	var q Queue
	e, r := newEntry("e", &log, false, true, false)
	q.Register(e)
	q.Notify(EventOut | EventWrNorm)
	q.NotifyAll(0)
	if len(r.keys) != 2 || r.keys[0] != EventOut|EventWrNorm || r.keys[1] != 0 {
		t.Fatalf("keys %v", r.keys)
	}
}

func TestNotifyAllocatesNothing(t *testing.T) {
	var q Queue
	s := NewSleeper()
	var e Entry
	e.Init(s, true, false)
	q.Register(&e)
	if n := testing.AllocsPerRun(100, func() { q.Notify(EventIn); s.Drain() }); n != 0 {
		t.Fatalf("Notify allocates %v", n)
	}
	if n := testing.AllocsPerRun(100, func() { q.Unregister(&e); q.Register(&e) }); n != 0 {
		t.Fatalf("Register/Unregister allocate %v", n)
	}
}

func TestMaskStringAndParse(t *testing.T) {
	for _, tc := range []struct {
		m EventMask
		s string
	}{
		{0, "0"},
		{EventIn, "IN"},
		{EventIn | EventErr | EventHUp | EventET, "IN|ERR|HUP|ET"},
		{EventOut | EventHUp, "OUT|HUP"},
		{EventIn | 1<<16 | 1<<20, "IN|0x110000"},
		{1 << 27, "0x8000000"},
		{EventRdNorm | EventRdHUp | EventExclusive | EventWakeup | EventOneshot, "RDNORM|RDHUP|EXCLUSIVE|WAKEUP|ONESHOT"},
	} {
		if got := tc.m.String(); got != tc.s {
			t.Errorf("%#x.String() = %q, want %q", uint32(tc.m), got, tc.s)
		}
		if !stringsHasHex(tc.s) {
			if m, ok := ParseEventMask(tc.s); !ok || m != tc.m {
				t.Errorf("ParseEventMask(%q) = %v, %v", tc.s, m, ok)
			}
		}
	}
	for _, s := range []string{"IN|OUT", "0x2a", "42", "-1", "0"} {
		if _, ok := ParseEventMask(s); !ok {
			t.Errorf("ParseEventMask(%q) failed", s)
		}
	}
	if m, _ := ParseEventMask("-1"); m != 0xffffffff {
		t.Errorf("-1 parsed as %#x", uint32(m))
	}
	for _, s := range []string{"", "IN|", "FOO", "IN|0x1", "in"} {
		if _, ok := ParseEventMask(s); ok {
			t.Errorf("ParseEventMask(%q) accepted", s)
		}
	}
}

func stringsHasHex(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '0' && s[i+1] == 'x' {
			return true
		}
	}
	return false
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRegisterHeadIsWokenFirst(t *testing.T) {
	var log []string
	var q Queue
	a, _ := newEntry("a", &log, true, true, true)
	b, _ := newEntry("b", &log, true, true, true)
	q.RegisterHead(a)
	q.RegisterHead(b)
	q.Notify(EventIn)
	if !equal(log, []string{"b"}) || !q.Linked(a) {
		t.Fatalf("woke %v; want the most recent sleeper only", log)
	}
}

// TestListUnderOwnersLock: a List behaves as a Queue whose lock is the
// owner's: wake-one order, auto-removal, Unregister's report, and no
// allocation.
func TestListUnderOwnersLock(t *testing.T) {
	var log []string
	var l List
	a, _ := newEntry("a", &log, true, true, true)
	b, _ := newEntry("b", &log, true, true, true)
	n, _ := newEntry("n", &log, false, true, false)
	l.RegisterHead(a)
	l.RegisterHead(b)
	l.Register(n)
	if l.Empty() {
		t.Fatal("empty after Register")
	}
	l.Notify(EventIn)
	if !equal(log, []string{"n", "b"}) {
		t.Fatalf("woke %v; want the non-exclusive entry, then the newest sleeper", log)
	}
	if l.Unregister(b) {
		t.Error("a woken auto-remove entry was still linked")
	}
	if !l.Unregister(a) || !l.Unregister(n) || !l.Empty() {
		t.Error("Unregister of linked entries")
	}
	s := NewSleeper()
	var e Entry
	e.Init(s, true, true)
	if allocs := testing.AllocsPerRun(100, func() {
		l.RegisterHead(&e)
		l.Notify(EventIn)
		l.Unregister(&e)
		s.Drain()
	}); allocs != 0 {
		t.Fatalf("List register/notify/unregister allocate %v", allocs)
	}
}

// TestUnlinkedWithoutLock: Unlinked, the owner's lockless look, is false
// while the entry is registered (also after a wakeup it declined or that
// did not auto-remove it) and true once a walk auto-removed it; a woken
// entry read concurrently by its owner is race-free (go test -race).
func TestUnlinkedWithoutLock(t *testing.T) {
	var log []string
	var l List
	var mu sync.Mutex
	auto, _ := newEntry("auto", &log, true, true, true)
	keep, _ := newEntry("keep", &log, false, true, false)
	if !auto.Unlinked() {
		t.Fatal("a new entry is not unlinked")
	}
	l.Register(auto)
	l.Register(keep)
	if auto.Unlinked() || keep.Unlinked() {
		t.Fatal("a registered entry reads as unlinked")
	}
	l.Notify(EventIn)
	if !auto.Unlinked() {
		t.Fatal("an auto-removed entry reads as linked")
	}
	if keep.Unlinked() {
		t.Fatal("an entry the walk kept reads as unlinked")
	}
	l.Unregister(keep)
	for i := 0; i < 1000; i++ {
		mu.Lock()
		l.Register(auto)
		mu.Unlock()
		done := make(chan struct{})
		go func() {
			defer close(done)
			mu.Lock()
			l.Notify(EventIn)
			mu.Unlock()
		}()
		for !auto.Unlinked() {
			runtime.Gosched()
		}
		<-done
	}
}

// TestUnregisterLeavesMirrorSet: Unregister stores nothing in the lockless
// mirror (an entry that comes and goes between notifications, an epoll
// ADD and DEL, costs no atomic store), Empty stays exact, and the next
// notify clears the mirror so that later notifies of the empty queue are
// lockless again.
func TestUnregisterLeavesMirrorSet(t *testing.T) {
	var log []string
	var q Queue
	e, _ := newEntry("e", &log, false, true, false)
	q.Register(e)
	q.Unregister(e)
	if !q.active.Load() {
		t.Fatal("Unregister cleared the mirror")
	}
	q.Register(e) // finds the mirror set: stores nothing
	q.Unregister(e)
	q.Notify(EventIn)
	if len(log) != 0 || q.active.Load() {
		t.Fatalf("notify of the emptied queue: woke %v, mirror %v", log, q.active.Load())
	}
	q.Register(e)
	q.Unregister(e)
	if !q.Empty() || q.active.Load() {
		t.Fatal("Empty of the emptied queue did not report it empty and clear the mirror")
	}
	q.Register(e)
	q.Notify(EventIn)
	if len(log) != 1 || q.Empty() {
		t.Fatalf("registered entry: woke %v, empty %v", log, q.Empty())
	}
}

// TestLockedRegistration: RegisterLocked and UnregisterLocked under Lock
// behave as Register and Unregister, and a misuse panics leaving the lock
// to the caller's deferred Unlock.
func TestLockedRegistration(t *testing.T) {
	var log []string
	var q Queue
	e, _ := newEntry("e", &log, false, true, false)
	q.Lock()
	q.RegisterLocked(e)
	q.Unlock()
	q.Notify(EventIn)
	if len(log) != 1 || !q.Linked(e) {
		t.Fatalf("after RegisterLocked: woke %v, linked %v", log, q.Linked(e))
	}
	func() {
		defer func() {
			if r := recover(); r == nil {
				t.Error("RegisterLocked of a registered entry did not panic")
			}
		}()
		q.Lock()
		defer q.Unlock()
		q.RegisterLocked(e)
	}()
	q.Lock()
	linked := q.UnregisterLocked(e)
	again := q.UnregisterLocked(e)
	q.Unlock()
	if !linked || again || !q.Empty() {
		t.Fatalf("UnregisterLocked reported %v then %v; empty %v", linked, again, q.Empty())
	}
}
