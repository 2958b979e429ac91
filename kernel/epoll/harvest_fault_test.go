package epoll_test

// A harvest whose copy-out faults at slot k, asked of the host kernel and
// of the model side by side. Conformance scripts can only make the first
// copy fault (BADPTR); here the host's buffer ends k slots before a
// PROT_NONE page, and the model's writer accepts k events, so faults at
// every slot, behind every mix of ready, stale, LT, ET and ONESHOT items
// and of an inner instance, are compared, over several chunk sizes, with
// and without an EventCommitter.

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// faultEntry is one registration of the outer instance.
type faultEntry struct {
	mode  waiter.EventMask // 0 (LT), ET or ONESHOT
	stale bool             // queued, then no longer ready
	inner bool             // an inner instance, not an eventfd
}

// faultCase queues the entries in the order given by queue, harvests with
// maxevents max into a buffer that faults at slot k, makes every entry
// ready again (in registration order) and harvests everything.
type faultCase struct {
	entries []faultEntry
	queue   []int
	max, k  int
}

func (c faultCase) String() string {
	var b strings.Builder
	for _, i := range c.queue {
		e := c.entries[i]
		fmt.Fprintf(&b, "%d:", i)
		switch {
		case e.inner:
			b.WriteString("inner")
		case e.mode == et:
			b.WriteString("ET")
		case e.mode == oneshot:
			b.WriteString("ONESHOT")
		default:
			b.WriteString("LT")
		}
		if e.stale {
			b.WriteString("(stale)")
		}
		b.WriteString(" ")
	}
	fmt.Fprintf(&b, "max %d, fault at slot %d", c.max, c.k)
	return b.String()
}

// faultWorld is an outer instance, optionally an inner one, and eventfds,
// on the host or in the model. Handles are indexes of eventfds.
type faultWorld interface {
	eventfd() int
	addOuter(fd int, events waiter.EventMask, data uint64)
	addInner(fd int, data uint64)
	addInnerToOuter(events waiter.EventMask, data uint64)
	write(fd int)
	read(fd int)
	// faultingWait harvests the outer instance into a buffer that faults
	// at slot k.
	faultingWait(max, k int) string
	wait(inner bool) string
}

func showEvents(evs []epoll.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d", len(evs))
	for _, ev := range evs {
		fmt.Fprintf(&b, " [%#x %#x]", uint32(ev.Events), ev.Data)
	}
	return b.String()
}

// play runs c on w and returns the results of the harvests.
func play(c faultCase, w faultWorld) []string {
	const innerStale, innerReady = 0x100, 0x101
	fds := make([]int, len(c.entries))
	var s, r int
	for i, e := range c.entries {
		if e.inner {
			s, r = w.eventfd(), w.eventfd()
			w.addInner(s, innerStale)
			w.addInner(r, innerReady)
			w.addInnerToOuter(e.mode, uint64(i+1))
			continue
		}
		fds[i] = w.eventfd()
		w.addOuter(fds[i], in|e.mode, uint64(i+1))
	}
	for _, i := range c.queue {
		e := c.entries[i]
		if e.inner {
			// The inner instance's first item queues it on the outer one;
			// it is stale in the inner list, in front of a ready one
			// unless the whole instance is stale.
			w.write(s)
			w.read(s)
			if !e.stale {
				w.write(r)
			}
			continue
		}
		w.write(fds[i])
		if e.stale {
			w.read(fds[i])
		}
	}
	out := []string{w.faultingWait(c.max, c.k)}
	for i, e := range c.entries {
		if e.inner {
			w.write(s)
		} else {
			w.write(fds[i])
		}
	}
	out = append(out, w.wait(false), w.wait(true), w.wait(false))
	return out
}

// randomFaultCase draws up to 6 entries (at most one inner instance), each
// ready or stale, in a random queue order, and a fault slot from 0 to one
// past the number of ready entries.
func randomFaultCase(rng *rand.Rand) faultCase {
	n := 2 + rng.IntN(5)
	c := faultCase{entries: make([]faultEntry, n), queue: rng.Perm(n)}
	ready := 0
	innerAt := -1
	if rng.IntN(3) == 0 {
		innerAt = rng.IntN(n)
	}
	for i := range c.entries {
		e := &c.entries[i]
		e.mode = []waiter.EventMask{0, et, oneshot}[rng.IntN(3)]
		e.stale = rng.IntN(5) < 2
		e.inner = i == innerAt
		if !e.stale {
			ready++
		}
	}
	c.max = 1 + rng.IntN(n+1)
	c.k = rng.IntN(min(ready, c.max) + 2)
	return c
}

func TestFaultingHarvestMatchesHost(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 1))
	cases := []faultCase{
		// The case: a, b (stale), c; the first copy faults.
		{entries: []faultEntry{{}, {stale: true}, {}}, queue: []int{0, 1, 2}, max: 8, k: 0},
		// A fault at slot 1 behind stale items on both sides of the
		// faulting one, an LT item copied before it.
		{entries: []faultEntry{{}, {stale: true}, {}, {stale: true}, {}}, queue: []int{0, 1, 2, 3, 4}, max: 8, k: 1},
		// An inner instance behind the faulting item at slot 1.
		{entries: []faultEntry{{mode: et}, {}, {inner: true}}, queue: []int{0, 1, 2}, max: 8, k: 1},
	}
	for range 400 {
		cases = append(cases, randomFaultCase(rng))
	}
	for _, c := range cases {
		want := play(c, newHostFaultWorld(t))
		for _, chunk := range []int{1, 2, 3, 64} {
			for _, commit := range []bool{false, true} {
				got := play(c, newModelFaultWorld(t, chunk, commit))
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("%v, chunk %d, committer %v: harvest %d: model %q, host %q\n(host %q\n model %q)",
							c, chunk, commit, i, got[i], want[i], want, got)
					}
				}
			}
		}
	}
}

// modelFaultWorld runs a case on the model.
type modelFaultWorld struct {
	t            *testing.T
	d            *epoll.Domain
	outer, inner *epoll.EventPoll
	innerFile    *fs.File
	files        []*fs.File
	chunk        int
	commit       bool // the faulting harvest's writer is an EventCommitter
}

func newModelFaultWorld(t *testing.T, chunk int, commit bool) *modelFaultWorld {
	w := &modelFaultWorld{t: t, d: epoll.NewDomain(), chunk: chunk, commit: commit}
	var of *fs.File
	w.outer, of = newEpoll(t, w.d)
	w.inner, w.innerFile = newEpoll(t, w.d)
	t.Cleanup(func() {
		for _, ep := range []*epoll.EventPoll{w.outer, w.inner} {
			if err := ep.CheckInvariants(); err != nil {
				t.Errorf("invariants: %v", err)
			}
		}
		of.DecRef()
		w.innerFile.DecRef()
		for _, f := range w.files {
			f.DecRef()
		}
	})
	return w
}

func (w *modelFaultWorld) eventfd() int {
	w.files = append(w.files, fs.NewEventfd(0, unix.O_NONBLOCK))
	return len(w.files) - 1
}

func (w *modelFaultWorld) addOuter(fd int, events waiter.EventMask, data uint64) {
	must(w.t, w.outer.Add(epoll.FileIdentifier{File: w.files[fd], Fd: int32(fd)}, events, data))
}

func (w *modelFaultWorld) addInner(fd int, data uint64) {
	must(w.t, w.inner.Add(epoll.FileIdentifier{File: w.files[fd], Fd: int32(fd)}, in, data))
}

func (w *modelFaultWorld) addInnerToOuter(events waiter.EventMask, data uint64) {
	must(w.t, w.outer.Add(epoll.FileIdentifier{File: w.innerFile, Fd: 1000}, in|events, data))
}

func (w *modelFaultWorld) write(fd int) {
	if _, err := w.files[fd].Write([]byte{1, 0, 0, 0, 0, 0, 0, 0}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *modelFaultWorld) read(fd int) {
	if _, err := w.files[fd].Read(make([]byte, 8)); err != nil {
		w.t.Fatal(err)
	}
}

func (w *modelFaultWorld) faultingWait(max, k int) string {
	cw := &committingWriter{shortWriter: shortWriter{n: k}}
	var ew epoll.EventWriter = &cw.shortWriter
	if w.commit {
		ew = cw
	}
	n, err := w.outer.ReadEvents(make([]epoll.Event, w.chunk), max, ew)
	if err != nil {
		return err.Error()
	}
	if n != len(cw.got) {
		w.t.Fatalf("ReadEvents returned %d, the writer took %d", n, len(cw.got))
	}
	if want := []int{n}; n == 0 && len(cw.commits) != 0 || n > 0 && w.commit && !slices.Equal(cw.commits, want) {
		w.t.Fatalf("%d events delivered, commits %v", n, cw.commits)
	}
	return showEvents(cw.got)
}

func (w *modelFaultWorld) wait(inner bool) string {
	ep := w.outer
	if inner {
		ep = w.inner
	}
	return showEvents(harvest(ep, 16))
}

// hostFaultWorld runs a case on the host kernel.
type hostFaultWorld struct {
	t            *testing.T
	outer, inner int
	// mem is two pages, the second PROT_NONE.
	mem []byte
}

func newHostFaultWorld(t *testing.T) *hostFaultWorld {
	w := &hostFaultWorld{t: t}
	w.outer = hostFD(t)(unix.EpollCreate1(unix.EPOLL_CLOEXEC))
	w.inner = hostFD(t)(unix.EpollCreate1(unix.EPOLL_CLOEXEC))
	page := unix.Getpagesize()
	mem, err := unix.Mmap(-1, 0, 2*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	if err := unix.Mprotect(mem[page:], unix.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	w.mem = mem
	return w
}

// hostFD checks a call that returns a new host fd and closes the fd at
// the end of the test.
func hostFD(t *testing.T) func(fd int, err error) int {
	return func(fd int, err error) int {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		return fd
	}
}

func (w *hostFaultWorld) ctl(epfd, fd int, events uint32, data uint64) {
	ev := unix.EpollEvent{Events: events, Fd: int32(data), Pad: int32(data >> 32)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		w.t.Fatal(err)
	}
}

func (w *hostFaultWorld) eventfd() int {
	return hostFD(w.t)(unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC))
}

func (w *hostFaultWorld) addOuter(fd int, events waiter.EventMask, data uint64) {
	w.ctl(w.outer, fd, uint32(events), data)
}

func (w *hostFaultWorld) addInner(fd int, data uint64) { w.ctl(w.inner, fd, unix.EPOLLIN, data) }

func (w *hostFaultWorld) addInnerToOuter(events waiter.EventMask, data uint64) {
	w.ctl(w.outer, w.inner, unix.EPOLLIN|uint32(events), data)
}

func (w *hostFaultWorld) write(fd int) {
	if _, err := unix.Write(fd, []byte{1, 0, 0, 0, 0, 0, 0, 0}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *hostFaultWorld) read(fd int) {
	if _, err := unix.Read(fd, make([]byte, 8)); err != nil {
		w.t.Fatal(err)
	}
}

func (w *hostFaultWorld) faultingWait(max, k int) string {
	size := int(unsafe.Sizeof(unix.EpollEvent{}))
	off := len(w.mem)/2 - k*size
	buf := unsafe.Pointer(&w.mem[off])
	n, _, e := unix.Syscall6(unix.SYS_EPOLL_PWAIT, uintptr(w.outer), uintptr(buf), uintptr(max), 0, 0, 0)
	if e != 0 {
		return e.Error()
	}
	return showEvents(hostEvents(unsafe.Slice((*unix.EpollEvent)(buf), n)))
}

func (w *hostFaultWorld) wait(inner bool) string {
	epfd := w.outer
	if inner {
		epfd = w.inner
	}
	evs := make([]unix.EpollEvent, 16)
	n, err := unix.EpollWait(epfd, evs, 0)
	if err != nil {
		w.t.Fatal(err)
	}
	return showEvents(hostEvents(evs[:n]))
}

func hostEvents(evs []unix.EpollEvent) []epoll.Event {
	out := make([]epoll.Event, len(evs))
	for i, ev := range evs {
		out[i] = epoll.Event{Events: waiter.EventMask(ev.Events), Data: uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32}
	}
	return out
}
