package peers

import (
	"testing"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/sentry/fsimpl/eventfd"
	"gvisor.dev/gvisor/pkg/sentry/vfs"
	"gvisor.dev/gvisor/pkg/usermem"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
)

// gvisorEnv is the part of gVisor's sentry that its epoll needs: a
// VirtualFilesystem (for the anonymous mount behind epoll and eventfd
// files) and a context (no task: credentials default to anonymous).
type gvisorEnv struct {
	ctx context.Context
	vfs *vfs.VirtualFilesystem
}

func newGvisorEnv(tb testing.TB) *gvisorEnv {
	tb.Helper()
	g := &gvisorEnv{ctx: context.Background(), vfs: &vfs.VirtualFilesystem{}}
	if err := g.vfs.Init(g.ctx); err != nil {
		tb.Fatal(err)
	}
	return g
}

// epoll returns a new epoll file and its instance.
func (g *gvisorEnv) epoll(tb testing.TB) (*vfs.FileDescription, *vfs.EpollInstance) {
	tb.Helper()
	f, err := g.vfs.NewEpollInstanceFD(g.ctx)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.DecRef(g.ctx) })
	return f, f.Impl().(*vfs.EpollInstance)
}

// eventfd returns a non-blocking gVisor eventfd with counter init; the
// caller drops its reference (g.drop).
func (g *gvisorEnv) eventfd(tb testing.TB, init uint64) *vfs.FileDescription {
	tb.Helper()
	f, err := eventfd.New(g.ctx, g.vfs, init, false, linux.O_RDWR|linux.O_NONBLOCK)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

func (g *gvisorEnv) drop(files ...*vfs.FileDescription) {
	for _, f := range files {
		f.DecRef(g.ctx)
	}
}

func gvisorEvent(events uint32, data int32) linux.EpollEvent {
	return linux.EpollEvent{Events: events, Data: [2]int32{data, 0}}
}

// newGvisorSet is kerneltest.HostSet on gVisor: an instance with n eventfd
// registrations (fd number and data = index), the one at index ready
// holding 1.
func newGvisorSet(tb testing.TB, g *gvisorEnv, n, ready int, events uint32) (*vfs.EpollInstance, []*vfs.FileDescription) {
	tb.Helper()
	_, ep := g.epoll(tb)
	files := make([]*vfs.FileDescription, n)
	for i := range files {
		var init uint64
		if i == ready {
			init = 1
		}
		files[i] = g.eventfd(tb, init)
		if err := ep.AddInterest(files[i], int32(i), gvisorEvent(events, int32(i))); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(func() { g.drop(files...) })
	return ep, files
}

// gvisorSide is one side of the gVisor wakeup round trip: it blocks until
// its own eventfd is readable (as gVisor's epoll_wait with timeout -1
// does), consumes it and signals the peer's.
type gvisorSide struct {
	g          *gvisorEnv
	epf        *vfs.FileDescription
	ep         *vfs.EpollInstance
	own, peer  *vfs.FileDescription
	evs        []linux.EpollEvent
	one, taken usermem.IOSequence
}

func newGvisorSide(tb testing.TB, g *gvisorEnv, own, peer *vfs.FileDescription) *gvisorSide {
	epf, ep := g.epoll(tb)
	if err := ep.AddInterest(own, 3, gvisorEvent(linux.EPOLLIN, 3)); err != nil {
		tb.Fatal(err)
	}
	return &gvisorSide{g: g, epf: epf, ep: ep, own: own, peer: peer,
		evs:   make([]linux.EpollEvent, 0, 8),
		one:   usermem.BytesIOSequence([]byte{1, 0, 0, 0, 0, 0, 0, 0}),
		taken: usermem.BytesIOSequence(make([]byte, 8))}
}

func (s *gvisorSide) Signal() {
	if _, err := s.peer.Write(s.g.ctx, s.one, vfs.WriteOptions{}); err != nil {
		panic(err)
	}
}

// wait is the loop of gVisor's waitEpoll (sys_epoll.go) with an infinite
// timeout: harvest; if nothing, register a channel entry on the instance
// and harvest again; then block on the channel between harvests. The
// kernel.Task's BlockWithDeadline is a plain receive here.
func (s *gvisorSide) wait() {
	var ch chan struct{}
	for {
		if evs := s.ep.ReadEvents(s.evs[:0], cap(s.evs)); len(evs) != 0 {
			return
		}
		if ch == nil {
			var w waiter.Entry
			w, ch = waiter.NewChannelEntry(waiter.ReadableEvents)
			if err := s.epf.EventRegister(&w); err != nil {
				panic(err)
			}
			defer s.epf.EventUnregister(&w)
			continue
		}
		<-ch
	}
}

func (s *gvisorSide) Await() {
	for {
		s.wait()
		if _, err := s.own.Read(s.g.ctx, s.taken, vfs.ReadOptions{}); err == nil {
			return
		}
	}
}

// gvisorRoundTrip is modelRoundTrip on gVisor.
func gvisorRoundTrip(tb testing.TB) (roundTrip, stop func()) {
	g := newGvisorEnv(tb)
	e1, e2 := g.eventfd(tb, 0), g.eventfd(tb, 0)
	a := newGvisorSide(tb, g, e2, e1) // waits on e2, signals e1
	bb := newGvisorSide(tb, g, e1, e2)
	return kerneltest.PingPong(a, bb, func() { g.drop(e1, e2) })
}
