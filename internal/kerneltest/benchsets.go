package kerneltest

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// Benchmark fixtures shared by kernel/epoll's model-versus-host benchmarks
// and bench/peers' table: the same registration sets and round trips on
// the model and on the host, so both report figures for the same work.

// Settle collects setup garbage so that a background GC does not run
// inside the timed loop of a benchmark with a large setup.
func Settle(b *testing.B) {
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
}

// ModelSet returns a model epoll instance in domain d with n eventfd
// registrations (fd numbers 0..n-1, data = fd number), the one at index
// ready holding 1 (ready < 0: none). The cleanup releases all of it.
func ModelSet(tb testing.TB, d *epoll.Domain, n, ready int, events waiter.EventMask) (*epoll.EventPoll, []*fs.File) {
	tb.Helper()
	epf := epoll.NewFile(d)
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

// HostSet is ModelSet on the host: a host epoll instance with n eventfd
// registrations (data = index). It skips when the fd limit is too low.
func HostSet(tb testing.TB, n, ready int, events uint32) (epfd int, fds []int) {
	tb.Helper()
	if ok, limit := HostFDRoom(n + 1); !ok {
		tb.Skipf("needs %d fds; RLIMIT_NOFILE is %d", n+1, limit)
	}
	epfd = HostEpoll(tb)
	fds = make([]int, n)
	for i := range fds {
		var init uint
		if i == ready {
			init = 1
		}
		fds[i] = HostEventfd(tb, init)
		HostCtl(tb, epfd, unix.EPOLL_CTL_ADD, fds[i], events, uint64(i))
	}
	return epfd, fds
}

// RoundTripSide is one end of a wakeup round trip: Signal the peer's
// eventfd; Await blocks until the own eventfd is readable and consumes it.
type RoundTripSide interface {
	Signal()
	Await()
}

// PingPong runs peer's end in a goroutine that answers every signal, and
// returns one round trip of a's end and the function that stops the peer
// and then calls release.
func PingPong(a, peer RoundTripSide, release func()) (roundTrip, stop func()) {
	var quit atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			peer.Await()
			if quit.Load() {
				return
			}
			peer.Signal()
		}
	}()
	roundTrip = func() {
		a.Signal()
		a.Await()
	}
	stop = func() {
		quit.Store(true)
		a.Signal()
		<-done
		release()
	}
	return roundTrip, stop
}

// modelSide is a RoundTripSide on the model: a blocking Wait on its own
// instance, as the model's epoll_wait does.
type modelSide struct {
	ep        *epoll.EventPoll
	th        *Thread
	own, peer *fs.File
	buf       []epoll.Event
	word      []byte
}

func newModelSide(d *epoll.Domain, own, peer *fs.File, events waiter.EventMask) *modelSide {
	ep, _ := epoll.FromFile(epoll.NewFile(d))
	if err := ep.Add(epoll.FileIdentifier{File: own, Fd: 3}, events, 3); err != nil {
		panic(err)
	}
	return &modelSide{ep: ep, th: NewThread(), own: own, peer: peer,
		buf: make([]epoll.Event, 8), word: make([]byte, 8)}
}

func (s *modelSide) Signal() {
	s.word[0] = 1
	if _, err := s.peer.Write(s.word); err != nil {
		panic(err)
	}
}

func (s *modelSide) Await() {
	for {
		if _, err := s.ep.Wait(s.th, s.buf, len(s.buf), nil, time.Time{}, false); err != nil {
			panic(err)
		}
		if _, err := s.own.Read(s.word); err == nil {
			return
		}
	}
}

// ModelRoundTrip sets up two goroutines ping-ponging through two model
// eventfds, each watched with events by its own instance; it returns the
// function that does one round trip and the one that stops the peer
// goroutine and releases everything.
func ModelRoundTrip(events waiter.EventMask) (roundTrip, stop func()) {
	d := epoll.NewDomain()
	e1 := fs.NewEventfd(0, unix.O_NONBLOCK)
	e2 := fs.NewEventfd(0, unix.O_NONBLOCK)
	a := newModelSide(d, e2, e1, events) // waits on e2, signals e1
	peer := newModelSide(d, e1, e2, events)
	return PingPong(a, peer, func() {
		a.ep.File().DecRef()
		peer.ep.File().DecRef()
		e1.DecRef()
		e2.DecRef()
	})
}

// BenchHostRegistrationMemory is the host side of the registration memory
// benchmarks: the growth of the kernel's slab objects per EPOLL_CTL_ADD
// over min(n, what RLIMIT_NOFILE allows) distinct eventfds added to a new
// instance each round, reported as B/reg.
func BenchHostRegistrationMemory(b *testing.B, n int) {
	if _, ok := HostSlabBytes(); !ok {
		b.Skip("neither /proc/slabinfo nor /proc/meminfo")
	}
	_, limit := HostFDRoom(0)
	m := min(n, int(limit)-200)
	fds := make([]int, m)
	for i := range fds {
		fds[i] = HostEventfd(b, 0)
	}
	var perReg float64
	for b.Loop() {
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			b.Fatal(err)
		}
		before, _ := HostSlabBytes()
		for i, fd := range fds {
			HostCtl(b, epfd, unix.EPOLL_CTL_ADD, fd, unix.EPOLLIN, uint64(i))
		}
		after, _ := HostSlabBytes()
		perReg = float64(after-before) / float64(m)
		unix.Close(epfd)
	}
	b.ReportMetric(perReg, "B/reg")
}

// BenchHostHarvest is the host side of the harvest benchmarks: epoll_wait
// with timeout 0, into room for 64 events, on n level-triggered eventfd
// registrations of which the one at index n/2 is ready.
func BenchHostHarvest(b *testing.B, n int) {
	epfd, _ := HostSet(b, n, n/2, unix.EPOLLIN)
	evs := make([]unix.EpollEvent, 64)
	Settle(b)
	for b.Loop() {
		if k, err := unix.EpollWait(epfd, evs, 0); k != 1 {
			b.Fatalf("harvested %d: %v", k, err)
		}
	}
}

// BenchHostCtlAddDel is the host side of the EPOLL_CTL_ADD+DEL benchmarks:
// one eventfd added and deleted on an instance holding others other
// registrations.
func BenchHostCtlAddDel(b *testing.B, others int) {
	epfd, _ := HostSet(b, others, -1, unix.EPOLLIN)
	fd := HostEventfd(b, 0)
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: 1}
	Settle(b)
	for b.Loop() {
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			b.Fatal(err)
		}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_DEL, fd, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchHostCtlMod is the host side of the EPOLL_CTL_MOD benchmarks: the
// registration at index n/2 of n not-ready ones modified to
// EPOLLIN|EPOLLET, with new data each call.
func BenchHostCtlMod(b *testing.B, n int) {
	epfd, fds := HostSet(b, n, -1, unix.EPOLLIN)
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET}
	Settle(b)
	for b.Loop() {
		ev.Fd++
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_MOD, fds[n/2], &ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchModelHarvest is BenchHostHarvest on the model: ReadEvents into a
// caller slice with room for 64.
func BenchModelHarvest(b *testing.B, n int) {
	ep, _ := ModelSet(b, epoll.NewDomain(), n, n/2, waiter.EventIn)
	BenchModelHarvestOn(b, ep)
}

// BenchModelHarvestOn is BenchModelHarvest's timed loop on an instance
// whose one ready registration the caller set up (kernel/epoll's scale
// benchmarks). Every model harvest benchmark runs this one function, not a
// copy of its loop, so that rows compared for flatness run the same
// machine code at the same addresses (a copy of the loop in another
// function is compiled and aligned on its own: one difference fewer
// between two rows of a ~25 ns operation).
//
//go:noinline
func BenchModelHarvestOn(b *testing.B, ep *epoll.EventPoll) {
	buf := make([]epoll.Event, 64)
	Settle(b)
	for b.Loop() {
		if k, _ := ep.ReadEvents(buf, len(buf), nil); k != 1 {
			b.Fatalf("harvested %d", k)
		}
	}
}

// BenchModelCtlAddDel is BenchHostCtlAddDel on the model: Add and Delete
// of one eventfd (fd number 5000).
func BenchModelCtlAddDel(b *testing.B, others int) {
	ep, _ := ModelSet(b, epoll.NewDomain(), others, -1, waiter.EventIn)
	f := fs.NewEventfd(0, unix.O_NONBLOCK)
	defer f.DecRef()
	id := epoll.FileIdentifier{File: f, Fd: 5000}
	Settle(b)
	for b.Loop() {
		if err := ep.Add(id, waiter.EventIn, 1); err != nil {
			b.Fatal(err)
		}
		if err := ep.Delete(id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchModelCtlMod is BenchHostCtlMod on the model.
func BenchModelCtlMod(b *testing.B, n int) {
	ep, files := ModelSet(b, epoll.NewDomain(), n, -1, waiter.EventIn)
	id := epoll.FileIdentifier{File: files[n/2], Fd: int32(n / 2)}
	Settle(b)
	i := uint64(0)
	for b.Loop() {
		i++
		if err := ep.Modify(id, waiter.EventIn|waiter.EventET, i); err != nil {
			b.Fatal(err)
		}
	}
}
