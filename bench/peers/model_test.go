package peers

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// newModelSet is newHostSet on the model.
func newModelSet(tb testing.TB, n, ready int, events waiter.EventMask) (*epoll.EventPoll, []*fs.File) {
	tb.Helper()
	epf := epoll.NewFile(epoll.NewDomain())
	ep, _ := epoll.FromFile(epf)
	files := make([]*fs.File, n)
	for i := range files {
		var init uint64
		if i == ready {
			init = 1
		}
		files[i] = fs.NewEventfd(init, unix.O_NONBLOCK)
		if err := ep.Add(epoll.FileIdentifier{File: files[i], Fd: int32(i)}, events, uint64(i)); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(func() {
		epf.DecRef()
		for _, f := range files {
			f.DecRef()
		}
	})
	return ep, files
}

// modelSide is gvisorSide on the model: a blocking Wait on its own
// instance, as the model's epoll_wait does.
type modelSide struct {
	ep        *epoll.EventPoll
	th        *kerneltest.Thread
	own, peer *fs.File
	buf       []epoll.Event
	word      []byte
}

func newModelSide(d *epoll.Domain, own, peer *fs.File) *modelSide {
	ep, _ := epoll.FromFile(epoll.NewFile(d))
	if err := ep.Add(epoll.FileIdentifier{File: own, Fd: 3}, waiter.EventIn, 3); err != nil {
		panic(err)
	}
	return &modelSide{ep: ep, th: kerneltest.NewThread(), own: own, peer: peer,
		buf: make([]epoll.Event, 8), word: make([]byte, 8)}
}

func (s *modelSide) signal() {
	s.word[0] = 1
	if _, err := s.peer.Write(s.word); err != nil {
		panic(err)
	}
}

func (s *modelSide) await() {
	for {
		if _, err := s.ep.Wait(s.th, s.buf, len(s.buf), nil, time.Time{}, false); err != nil {
			panic(err)
		}
		if _, err := s.own.Read(s.word); err == nil {
			return
		}
	}
}

// modelRoundTrip: two goroutines ping-pong through two eventfds, each
// watched level-triggered by its own instance (kernel/epoll's
// BenchmarkWakeupRoundTrip).
func modelRoundTrip(testing.TB) (roundTrip, stop func()) {
	d := epoll.NewDomain()
	e1 := fs.NewEventfd(0, unix.O_NONBLOCK)
	e2 := fs.NewEventfd(0, unix.O_NONBLOCK)
	a := newModelSide(d, e2, e1) // waits on e2, signals e1
	bb := newModelSide(d, e1, e2)
	return pingPong(a, bb, func() {
		a.ep.File().DecRef()
		bb.ep.File().DecRef()
		e1.DecRef()
		e2.DecRef()
	})
}
