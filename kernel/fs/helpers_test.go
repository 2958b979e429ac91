package fs

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// note is one notification a recorder saw: its key and whether it was a
// wake-all (NotifyAll) rather than a wake-one (Notify).
type note struct {
	key waiter.EventMask
	all bool
}

func (n note) String() string {
	if n.all {
		return fmt.Sprintf("all(%v)", n.key)
	}
	return fmt.Sprintf("one(%v)", n.key)
}

// one and all build expected notes.
func one(k waiter.EventMask) note { return note{key: k} }
func all(k waiter.EventMask) note { return note{key: k, all: true} }

// recorder hooks two exclusive entries on a file's queue. A wake-one walk
// stops at the first (which takes the wakeup); a wake-all walk reaches the
// second too, which marks the note as a wake-all.
type recorder struct {
	mu sync.Mutex
	// +checklocks:mu
	notes         []note
	first, second waiter.Entry
}

type recFirst struct{ r *recorder }
type recSecond struct{ r *recorder }

func (x recFirst) Wake(key waiter.EventMask) bool {
	x.r.mu.Lock()
	x.r.notes = append(x.r.notes, note{key: key})
	x.r.mu.Unlock()
	return true
}

func (x recSecond) Wake(key waiter.EventMask) bool {
	x.r.mu.Lock()
	n := len(x.r.notes)
	if n == 0 || x.r.notes[n-1].key != key {
		panic("recorder: second entry woken alone")
	}
	x.r.notes[n-1].all = true
	x.r.mu.Unlock()
	return true
}

// watch registers a recorder on f's queue(s) for the test's duration.
func watch(t *testing.T, f *File) *recorder {
	t.Helper()
	r := &recorder{}
	r.first.Init(recFirst{r}, true, false)
	r.second.Init(recSecond{r}, true, false)
	f.EventRegister(&r.first)
	f.EventRegister(&r.second)
	t.Cleanup(func() {
		f.impl.(Pollable).EventUnregister(f, &r.first)
		f.impl.(Pollable).EventUnregister(f, &r.second)
	})
	return r
}

// take returns the notes seen since the last take.
func (r *recorder) take() []note {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.notes
	r.notes = nil
	return n
}

// expect checks the notes seen since the last take.
func (r *recorder) expect(t *testing.T, what string, want ...note) {
	t.Helper()
	got := r.take()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: notifications %v, want %v", what, got, want)
	}
}

// full is every non-private event bit: what an epoll entry asking for
// everything passes as its poll key.
const full = waiter.EventIn | waiter.EventPri | waiter.EventOut | waiter.EventErr |
	waiter.EventHUp | waiter.EventNVal | waiter.EventRdNorm | waiter.EventRdBand |
	waiter.EventWrNorm | waiter.EventWrBand | waiter.EventMsg | waiter.EventRdHUp

func expectMask(t *testing.T, what string, f *File, want waiter.EventMask) {
	t.Helper()
	if got := f.Readiness(full); got != want {
		t.Errorf("%s: mask %#x (%v), want %#x (%v)", what, uint32(got), got, uint32(want), want)
	}
}

func expectErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Errorf("%s: error %v, want %v", what, err, want)
	}
}

// mustRW checks a read or write result.
func mustN(t *testing.T, what string, n int, err error, wantN int, wantErr error) {
	t.Helper()
	if n != wantN || (wantErr == nil) != (err == nil) || wantErr != nil && !errors.Is(err, wantErr) {
		t.Errorf("%s: got (%d, %v), want (%d, %v)", what, n, err, wantN, wantErr)
	}
}

func checkInv(t *testing.T, files ...*File) {
	t.Helper()
	for _, f := range files {
		if f.Released() {
			continue
		}
		if err := CheckInvariants(f); err != nil {
			t.Fatalf("invariants: %v", err)
		}
	}
}

var _ = unix.EAGAIN
