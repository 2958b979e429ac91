package hostfd

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
	"github.com/guestpoll/guestpoll/syscalls"
)

// notifierEnv, set to "epoll" in the environment of this test binary,
// makes newBridge's bridges NotifyEpoll ones: TestSuiteNotifyEpoll runs
// the package's tests so in a child process.
const notifierEnv = "GUESTPOLL_HOSTFD_TEST_NOTIFIER"

// testNotifier is the notifier of newBridge's bridges.
func testNotifier() Notifier {
	if os.Getenv(notifierEnv) == "epoll" {
		return NotifyEpoll
	}
	return NotifyPpoll
}

// newBridge returns a bridge with the test run's notifier (testNotifier)
// and, in the ppoll mode, shards pollers.
func newBridge(t testing.TB, shards int) *Bridge {
	t.Helper()
	b, err := NewBridge(Options{Shards: shards, Notifier: testNotifier()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// ownFDs is how many host fds b holds itself: the probe epoll, an eventfd
// per ppoll poller, the host epoll and its eventfd with NotifyEpoll.
func ownFDs(b *Bridge) int {
	if b.edge != nil {
		return 1 + 2*len(b.edge.sets)
	}
	return 1 + len(b.all)
}

// countFDs counts this process's open fds.
func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents) - 1 // the directory's own fd
}

func fdOpen(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

// hostPipe returns a raw host pipe; the caller owns both ends.
func hostPipe(t testing.TB) (int, int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	return p[0], p[1]
}

// importedPipe imports the read end of a new host pipe into b and returns
// it with the write end, which the test's cleanup closes.
func importedPipe(t testing.TB, b *Bridge) (*fs.File, int) {
	t.Helper()
	r, w := hostPipe(t)
	t.Cleanup(func() { unix.Close(w) })
	f, err := b.Import(r, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return f, w
}

// waitEntry is a registration whose wakeups a test can count.
type waitEntry struct {
	s *waiter.Sleeper
	e waiter.Entry
}

func register(f *fs.File) *waitEntry {
	w := &waitEntry{s: waiter.NewSleeper()}
	w.e.Init(w.s, false, false)
	f.EventRegister(&w.e)
	return w
}

func (w *waitEntry) woken(d time.Duration) bool {
	select {
	case <-w.s.C():
		return true
	case <-time.After(d):
		return false
	}
}

const long = 5 * time.Second

func TestImportPipeFlagsReadWrite(t *testing.T) {
	b := newBridge(t, 1)
	r, w := hostPipe(t)
	fr, err := b.Import(r, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fw, err := b.Import(w, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fr.DecRef()
	defer fw.DecRef()
	if fr.StatusFlags()&fs.AccessModeMask != unix.O_RDONLY || fr.Nonblocking() {
		t.Fatalf("read end flags %#o", fr.StatusFlags())
	}
	if fw.StatusFlags()&fs.AccessModeMask != unix.O_WRONLY {
		t.Fatalf("write end flags %#o", fw.StatusFlags())
	}
	if fl, _ := unix.FcntlInt(uintptr(r), unix.F_GETFL, 0); fl&unix.O_NONBLOCK == 0 {
		t.Fatal("host fd not made non-blocking")
	}
	if n, err := fr.Read(make([]byte, 8)); n != 0 || err != unix.EAGAIN {
		t.Fatalf("read of empty pipe: %d, %v", n, err)
	}
	if n, err := fw.Write([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	if m := fr.Readiness(waiter.ReadableEvents); m != waiter.EventIn|waiter.EventRdNorm {
		t.Fatalf("readiness %v", m)
	}
	buf := make([]byte, 16)
	if n, err := fr.Read(buf); n != 5 || err != nil || string(buf[:5]) != "hello" {
		t.Fatalf("read: %d, %v, %q", n, err, buf[:n])
	}
	if _, err := fr.Write(buf); err != unix.EBADF {
		t.Fatalf("write to read end: %v", err)
	}
	// Vectored I/O goes to the host too.
	if n, err := WriteVec(fw, [][]byte{[]byte("ab"), nil, []byte("cde")}); n != 5 || err != nil {
		t.Fatalf("writev: %d, %v", n, err)
	}
	x, y := make([]byte, 3), make([]byte, 3)
	if n, err := ReadVec(fr, [][]byte{x, y}); n != 5 || err != nil || string(x)+string(y[:2]) != "abcde" {
		t.Fatalf("readv: %d, %v, %q %q", n, err, x, y)
	}
}

func TestImportKinds(t *testing.T) {
	b := newBridge(t, 1)
	efd, _ := unix.Eventfd(3, unix.EFD_CLOEXEC)
	tfd, _ := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC)
	sp, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	defer unix.Close(sp[1])
	for _, c := range []struct {
		fd   int
		kind Kind
	}{{efd, KindEventfd}, {tfd, KindTimerfd}, {sp[0], KindSocket}} {
		f, err := b.Import(c.fd, ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if k := KindOf(f); k != c.kind {
			t.Errorf("fd %d imported as %v, want %v", c.fd, k, c.kind)
		}
		switch c.kind {
		case KindTimerfd:
			if _, ok := f.Impl().(fs.TimerFile); !ok {
				t.Error("timerfd is not a TimerFile")
			}
		case KindSocket:
			s, ok := f.Impl().(fs.Socket)
			if !ok || s.Type() != unix.SOCK_SEQPACKET {
				t.Error("socket is not a seqpacket fs.Socket")
			}
		case KindEventfd:
			if m := f.Readiness(waiter.EventIn); m&waiter.EventIn == 0 {
				t.Errorf("eventfd with counter 3: readiness %v", m)
			}
		}
		f.DecRef()
		if fdOpen(c.fd) {
			t.Errorf("fd %d still open after release", c.fd)
		}
	}
	if _, err := b.Import(1<<30, ImportOptions{}); err != ErrBadFD {
		t.Errorf("import of a closed number: %v", err)
	}
}

// TestCloseExactlyOnce counts /proc/self/fd around imports, registrations
// (which put the fds in the pollers' sets) and releases.
func TestCloseExactlyOnce(t *testing.T) {
	before := countFDs(t)
	b, err := NewBridge(Options{Shards: 3, Notifier: testNotifier()})
	if err != nil {
		t.Fatal(err)
	}
	var files []*fs.File
	var ents []*waitEntry
	for i := 0; i < 40; i++ {
		r, w, err := b.Pipe(0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, r, w)
		ents = append(ents, register(r))
	}
	if got := countFDs(t) - before; got != 80+ownFDs(b) {
		t.Fatalf("%d new fds after 40 pipes on 3 shards and the fast one, want %d", got, 80+ownFDs(b))
	}
	if b.Live() != 80 {
		t.Fatalf("Live %d", b.Live())
	}
	for i, f := range files {
		if i%2 == 0 {
			f.EventUnregister(&ents[i/2].e)
		}
		f.DecRef()
	}
	if b.Live() != 0 {
		t.Fatalf("Live %d after releasing everything", b.Live())
	}
	b.Close()
	if after := countFDs(t); after != before {
		t.Fatalf("%d fds open after close, %d before", after, before)
	}
}

// TestNoDoubleClose: a second release of a released file (a bug elsewhere)
// must not close the fd number, which the process may have reused.
func TestNoDoubleClose(t *testing.T) {
	b := newBridge(t, 1)
	r, w := hostPipe(t)
	defer unix.Close(w)
	f, err := b.Import(r, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ent := register(f)
	f.EventUnregister(&ent.e)
	impl := f.Impl()
	f.DecRef()
	if fdOpen(r) {
		t.Fatal("fd open after release")
	}
	// Reuse the number for an unrelated file.
	other, _ := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if other != r {
		if err := unix.Dup3(other, r, unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		unix.Close(other)
	}
	impl.Release(f)
	if !fdOpen(r) {
		t.Fatal("a second release closed a reused fd number")
	}
	unix.Close(r)
}

func TestImportFailureCloses(t *testing.T) {
	b := newBridge(t, 1)
	b.Close()
	r, w := hostPipe(t)
	defer unix.Close(w)
	if _, err := b.Import(r, ImportOptions{}); err != ErrBridgeClosed {
		t.Fatalf("import after close: %v", err)
	}
	if fdOpen(r) {
		t.Fatal("failed Import left the fd open")
	}
}

// TestPollerWakesOnHostEvent: a write by someone outside the model reaches
// the imported file's queue through the poller.
func TestPollerWakesOnHostEvent(t *testing.T) {
	b := newBridge(t, 2)
	f, w := importedPipe(t, b)
	defer f.DecRef()
	ent := register(f)
	defer f.EventUnregister(&ent.e)
	if m := f.Readiness(waiter.EventIn); m != 0 {
		t.Fatalf("readiness of empty pipe %v", m)
	}
	unix.Write(w, []byte("x"))
	if !ent.woken(long) {
		t.Fatal("no wakeup for a host write")
	}
	// The host peer closing is HUP, reported once.
	f.Read(make([]byte, 8))
	f.Read(make([]byte, 8)) // EAGAIN: IN re-armed
	unix.Close(w)
	if !ent.woken(long) {
		t.Fatal("no wakeup for the host peer's close")
	}
	if m := f.Readiness(waiter.EventIn); m&waiter.EventHUp == 0 {
		t.Fatalf("readiness after peer close %v", m)
	}
}

// epollOn returns a model epoll instance watching f (as fd 3) for events.
func epollOn(t *testing.T, f *fs.File, events waiter.EventMask) *epoll.EventPoll {
	t.Helper()
	epf := epoll.NewFile(epoll.NewDomain())
	t.Cleanup(epf.DecRef)
	ep, _ := epoll.FromFile(epf)
	if err := ep.Add(epoll.FileIdentifier{File: f, Fd: 3}, events, 7); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Delete(epoll.FileIdentifier{File: f, Fd: 3}) })
	return ep
}

// events harvests ep without blocking, retrying until d has passed when
// nothing is ready (host events arrive through the poller, asynchronously).
func events(ep *epoll.EventPoll, d time.Duration) int {
	buf := make([]epoll.Event, 4)
	deadline := time.Now().Add(d)
	for {
		n, _ := ep.ReadEvents(buf, len(buf), nil)
		if n > 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(time.Millisecond)
	}
}

// quiet is how long a test waits to conclude that no event comes.
const quiet = 50 * time.Millisecond

// TestEdgeGuarantee checks what doc.go promises an edge-triggered entry.
func TestEdgeGuarantee(t *testing.T) {
	b := newBridge(t, 1)

	t.Run("host peer", func(t *testing.T) {
		f, w := importedPipe(t, b)
		defer f.DecRef()
		ep := epollOn(t, f, waiter.EventIn|waiter.EventET)
		if n := events(ep, quiet); n != 0 {
			t.Fatalf("%d events on an empty pipe", n)
		}
		unix.Write(w, []byte("a"))
		if n := events(ep, long); n != 1 {
			t.Fatal("no edge for the first host write")
		}
		// A second host write while the guest has not drained the pipe:
		// a new edge with NotifyEpoll, as on Linux; the documented
		// approximation of NotifyPpoll gives none.
		unix.Write(w, []byte("b"))
		if b.edge != nil {
			if n := events(ep, long); n != 1 {
				t.Fatal("NotifyEpoll: no new edge for a write while still readable")
			}
		} else if n := events(ep, quiet); n != 0 {
			t.Fatal("an edge for a write while still readable: doc.go says there is none; update it")
		}
		// Draining to EAGAIN guarantees the next edge.
		buf := make([]byte, 8)
		if n, _ := f.Read(buf); n != 2 {
			t.Fatalf("read %d", n)
		}
		if _, err := f.Read(buf); err != unix.EAGAIN {
			t.Fatalf("second read: %v", err)
		}
		unix.Write(w, []byte("c"))
		if n := events(ep, long); n != 1 {
			t.Fatal("no edge after the guest drained the pipe")
		}
		// Reading exactly what is there (no EAGAIN) guarantees it too.
		f.Read(buf[:1])
		unix.Write(w, []byte("d"))
		if n := events(ep, long); n != 1 {
			t.Fatal("no edge after a read that emptied the pipe")
		}
	})

	t.Run("local pair", func(t *testing.T) {
		r, w, err := b.Pipe(unix.O_NONBLOCK)
		if err != nil {
			t.Fatal(err)
		}
		defer r.DecRef()
		defer w.DecRef()
		ep := epollOn(t, r, waiter.EventIn|waiter.EventET)
		for i := 0; i < 3; i++ {
			// Every write through the model is an edge, synchronously,
			// even while the pipe is still readable.
			if n, err := w.Write([]byte("x")); n != 1 || err != nil {
				t.Fatal(n, err)
			}
			if n := events(ep, 0); n != 1 {
				t.Fatalf("write %d: %d events right after the write, want 1", i, n)
			}
			if n := events(ep, quiet); n != 0 {
				t.Fatalf("write %d: a second, duplicate edge", i)
			}
		}
	})

	t.Run("socketpair and eventfd", func(t *testing.T) {
		a, c, err := b.SocketPair(unix.SOCK_STREAM, unix.O_NONBLOCK)
		if err != nil {
			t.Fatal(err)
		}
		defer a.DecRef()
		defer c.DecRef()
		ep := epollOn(t, c, waiter.EventIn|waiter.EventRdHUp|waiter.EventET)
		a.Write([]byte("1"))
		a.Write([]byte("2"))
		if n := events(ep, 0); n != 1 {
			t.Fatalf("%d events after two writes", n)
		}
		a.Impl().(fs.Shutdowner).Shutdown(a, unix.SHUT_WR)
		if n := events(ep, 0); n != 1 {
			t.Fatal("no edge for the peer's shutdown")
		}
		e, err := b.Eventfd(0, unix.O_NONBLOCK)
		if err != nil {
			t.Fatal(err)
		}
		defer e.DecRef()
		ep2 := epollOn(t, e, waiter.EventIn|waiter.EventET)
		one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
		for i := 0; i < 3; i++ {
			e.Write(one)
			if n := events(ep2, 0); n != 1 {
				t.Fatalf("eventfd write %d: %d events", i, n)
			}
		}
	})
}

// TestBlockingReadInterruptible: a guest's blocking read of an imported
// host pipe sleeps (no spinning), is ended by a signal, and is woken by a
// host write through the poller.
func TestBlockingReadInterruptible(t *testing.T) {
	b := newBridge(t, 1)
	f, w := importedPipe(t, b)
	k := syscalls.NewKernel()
	table := fd.NewTable()
	defer table.CloseAll()
	n, err := table.Install(f, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	mem := syscalls.NewGuestMemory()
	const buf = 0x10000
	mem.Map(buf, 4096)
	task := syscalls.NewTask(k, table, mem, syscalls.AMD64)
	const sysRead = 0 // amd64
	type res struct {
		n uintptr
		e unix.Errno
	}
	read := func() chan res {
		ch := make(chan res, 1)
		go func() {
			r, e := task.Syscall(sysRead, [6]uintptr{uintptr(n), buf, 100})
			ch <- res{r, e}
		}()
		return ch
	}
	var ru0, ru1 unix.Rusage
	ch := read()
	unix.Getrusage(unix.RUSAGE_SELF, &ru0)
	time.Sleep(100 * time.Millisecond)
	unix.Getrusage(unix.RUSAGE_SELF, &ru1)
	select {
	case r := <-ch:
		t.Fatalf("read returned %v while the pipe is empty", r)
	default:
	}
	if cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano()); cpu > 50*time.Millisecond {
		t.Errorf("a blocked read used %v of CPU in 100ms: spinning?", cpu)
	}
	task.Interrupt(int(unix.SIGUSR1))
	select {
	case r := <-ch:
		if r.e != unix.EINTR {
			t.Fatalf("interrupted read: %v", r)
		}
	case <-time.After(long):
		t.Fatal("a signal did not end the blocked read")
	}
	ch = read()
	time.Sleep(20 * time.Millisecond)
	unix.Write(w, []byte("hello"))
	select {
	case r := <-ch:
		if r.e != 0 || r.n != 5 {
			t.Fatalf("read after host write: %v", r)
		}
	case <-time.After(long):
		t.Fatal("a host write did not wake the blocked read")
	}
	got := make([]byte, 5)
	mem.CopyIn(buf, got)
	if string(got) != "hello" {
		t.Fatalf("read %q", got)
	}
}

// TestPollersBoundedAndStop: many watched fds cost a fixed number of
// pollers, and Close stops them all.
func TestPollersBoundedAndStop(t *testing.T) {
	g0 := runtime.NumGoroutine()
	b, err := NewBridge(Options{Shards: 3, Notifier: testNotifier()})
	if err != nil {
		t.Fatal(err)
	}
	pollers := 3 + 1 // the shards and the fast one
	if b.edge != nil {
		pollers = len(b.edge.sets)
	}
	if g := runtime.NumGoroutine() - g0; g > pollers {
		t.Fatalf("%d goroutines for %d pollers", g, pollers)
	}
	var files []*fs.File
	var ents []*waitEntry
	for i := 0; i < 300; i++ {
		f, err := b.Eventfd(0, unix.O_NONBLOCK)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
		ents = append(ents, register(f))
		f.Readiness(waiter.EventIn)
	}
	if w := b.Watched(); w != 300 {
		t.Fatalf("Watched %d, want 300", w)
	}
	if g := runtime.NumGoroutine() - g0; g > pollers {
		t.Fatalf("%d goroutines with 300 watched fds", g)
	}
	// One host event reaches exactly its file.
	hostWrite(t, files[123])
	if !ents[123].woken(long) {
		t.Fatal("no wakeup")
	}
	if ents[124].woken(quiet) {
		t.Fatal("a neighbour was woken")
	}
	for i, f := range files {
		f.EventUnregister(&ents[i].e)
		f.DecRef()
	}
	b.Close()
	for i, s := range b.all {
		s.mu.Lock()
		running := s.running
		s.mu.Unlock()
		if running {
			t.Fatalf("poller %d still running after Close", i)
		}
	}
	if e := b.edge; e != nil {
		for i, s := range e.sets {
			e.mu.Lock()
			running := s.running
			e.mu.Unlock()
			if running {
				t.Fatalf("edge poller %d still running after Close", i)
			}
		}
	}
	deadline := time.Now().Add(long)
	for runtime.NumGoroutine() > g0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > g0 {
		t.Fatalf("%d goroutines after Close, %d before NewBridge", g, g0)
	}
}

// hostWrite writes 1 to an imported eventfd behind the bridge's back, as
// another process holding the same eventfd would.
func hostWrite(t testing.TB, f *fs.File) {
	t.Helper()
	_, h := hostOf(f)
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	if _, err := unix.Write(int(h.fd), one); err != nil {
		t.Fatal(err)
	}
}

// TestNoAllocations: readiness queries (every epoll harvest makes one) and
// reads and writes with their synchronous wakeups allocate nothing.
func TestNoAllocations(t *testing.T) {
	b := newBridge(t, 1)
	r, w, err := b.Pipe(unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer r.DecRef()
	defer w.DecRef()
	ent := register(r)
	defer r.EventUnregister(&ent.e)
	buf := make([]byte, 8)
	if n := testing.AllocsPerRun(100, func() {
		w.Write(buf)
		r.Readiness(waiter.EventIn)
		r.Read(buf)
		r.Read(buf)
		ent.s.Drain()
	}); n != 0 {
		t.Fatalf("%v allocations per write, readiness and reads", n)
	}
	// The embedder's operation through Do, with its wakeups and re-arm.
	recv := func(fd int) error {
		_, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
		if e != 0 {
			return e
		}
		return nil
	}
	if n := testing.AllocsPerRun(100, func() {
		w.Write(buf)
		Do(r, waiter.ReadableEvents, recv)
		Do(r, waiter.ReadableEvents, recv) // EAGAIN
		ent.s.Drain()
	}); n != 0 {
		t.Fatalf("%v allocations per write and Do", n)
	}
}

// TestDirectIOAsksHost: F_SETFL O_DIRECT is accepted where the host
// accepts it (pipes), refused elsewhere, and reaches the host on write.
func TestDirectIOAsksHost(t *testing.T) {
	b := newBridge(t, 1)
	r, w, err := b.Pipe(unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer r.DecRef()
	defer w.DecRef()
	e, _ := b.Eventfd(0, 0)
	defer e.DecRef()
	if err := e.SetStatusFlags(unix.O_DIRECT); err != unix.EINVAL {
		t.Fatalf("O_DIRECT on an eventfd: %v", err)
	}
	if err := w.SetStatusFlags(unix.O_NONBLOCK | unix.O_DIRECT); err != nil {
		t.Fatalf("O_DIRECT on a pipe: %v", err)
	}
	// Packet mode: two writes are two packets, each read returns one.
	w.Write([]byte("ab"))
	w.Write([]byte("cd"))
	buf := make([]byte, 8)
	if n, _ := r.Read(buf); string(buf[:n]) != "ab" {
		t.Fatalf("first packet %q", buf[:n])
	}
}

// TestImportErrorPathsClose: every way Import can fail after it owns the
// fd closes it, once (counted in /proc/self/fd, and the number is free).
func TestImportErrorPathsClose(t *testing.T) {
	b := newBridge(t, 1)
	before := countFDs(t)
	// An O_PATH fd: F_GETFL works, F_SETFL (non-blocking) fails.
	fd, err := unix.Open("/", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Import(fd, ImportOptions{}); err == nil {
		t.Fatal("import of an O_PATH fd succeeded")
	}
	if fdOpen(fd) {
		t.Fatal("failed Import (F_SETFL) left the fd open")
	}
	// A closed bridge: the fd is set up, then refused.
	r, w := hostPipe(t)
	b.Close()
	if _, err := b.Import(r, ImportOptions{}); err != ErrBridgeClosed {
		t.Fatalf("import after close: %v", err)
	}
	// Creation on a closed bridge closes what it made.
	if _, _, err := b.Pipe(0); err != ErrBridgeClosed {
		t.Fatalf("Pipe after close: %v", err)
	}
	if _, _, err := b.SocketPair(unix.SOCK_STREAM, 0); err != ErrBridgeClosed {
		t.Fatalf("SocketPair after close: %v", err)
	}
	if _, err := b.Eventfd(0, 0); err != ErrBridgeClosed {
		t.Fatalf("Eventfd after close: %v", err)
	}
	unix.Close(w)
	// The pollers' own fds are gone too.
	if after := countFDs(t); after != before-ownFDs(b) {
		t.Fatalf("%d fds open after the failed imports, want %d", after, before-ownFDs(b))
	}
	if b.Live() != 0 {
		t.Fatalf("Live %d", b.Live())
	}
}

// TestTimerfdOnOtherClock: a kernel on a clock that is not the host's
// gets the model's timerfd, which follows that clock.
func TestTimerfdOnOtherClock(t *testing.T) {
	b := newBridge(t, 1)
	clk := fs.NewFakeClock()
	f, err := b.Timerfd(clk, unix.CLOCK_MONOTONIC, unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer f.DecRef()
	if IsHost(f) {
		t.Fatal("a timerfd on a fake clock is a host fd")
	}
	h, err := b.Timerfd(fs.RealClock{}, unix.CLOCK_MONOTONIC, unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer h.DecRef()
	if KindOf(h) != KindTimerfd {
		t.Fatal("a timerfd on the real clock is not a host timerfd")
	}
}

// TestSyncDelivers: once Sync returns, a host event that happened before
// it has reached the queue (checked without waiting), whatever state the
// poller was in; Sync returns at once after Close.
func TestSyncDelivers(t *testing.T) {
	b := newBridge(t, 2)
	var files []*fs.File
	var ents []*waitEntry
	for i := 0; i < 8; i++ {
		f, err := b.Eventfd(0, unix.O_NONBLOCK)
		if err != nil {
			t.Fatal(err)
		}
		defer f.DecRef()
		files = append(files, f)
		ents = append(ents, register(f))
		defer f.EventUnregister(&ents[i].e)
		f.Readiness(waiter.EventIn)
	}
	buf := make([]byte, 8)
	for i := 0; i < 500; i++ {
		k := i % len(files)
		hostWrite(t, files[k])
		if i%3 == 0 {
			b.Sync() // a Sync with nothing new, then the real one
		}
		b.Sync()
		select {
		case <-ents[k].s.C():
		default:
			t.Fatalf("round %d: the host write was not delivered when Sync returned", i)
		}
		files[k].Read(buf)
		files[k].Read(buf) // EAGAIN: re-armed
	}
	b.Close()
	b.Sync()
}

// TestFastPollerRearm: a re-arm of an fd the home poller watches goes to
// the fast poller instead of waking the home poller, up to the fast
// poller's capacity (then the home poller is woken), and either way the
// next host event is delivered; files released while the fast poller may
// watch them close their fds once.
func TestFastPollerRearm(t *testing.T) {
	before := countFDs(t)
	b, err := NewBridge(Options{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	const n = fastCap + 36 // more than the fast poller takes
	var rs, ws []*fs.File
	var ents []*waitEntry
	for i := 0; i < n; i++ {
		r, w, err := b.Pipe(unix.O_NONBLOCK)
		if err != nil {
			t.Fatal(err)
		}
		rs, ws = append(rs, r), append(ws, w)
		ents = append(ents, register(r))
		r.Readiness(waiter.EventIn)
	}
	// A write through the model reports IN at once and disarms it; Sync
	// makes the home poller apply that (it stops watching IN).
	for _, w := range ws {
		w.Write([]byte("x"))
	}
	b.Sync()
	// Draining re-arms IN: the fast poller takes the first fastCap.
	buf := make([]byte, 8)
	for i, r := range rs {
		r.Read(buf)
		r.Read(buf)
		ents[i].s.Drain()
	}
	fast := 0
	for _, r := range rs {
		_, h := hostOf(r)
		h.mu.Lock()
		if h.everFast {
			fast++
		}
		h.mu.Unlock()
	}
	if fast < fastCap {
		t.Fatalf("%d re-arms went to the fast poller, want at least %d", fast, fastCap)
	}
	// A write behind the bridge's back reaches every reader, through
	// whichever poller watches it.
	for i, w := range ws {
		_, h := hostOf(w)
		if _, err := unix.Write(int(h.fd), []byte("y")); err != nil {
			t.Fatal(err)
		}
		if !ents[i].woken(long) {
			t.Fatalf("no wakeup for pipe %d after its re-arm", i)
		}
	}
	for i := range rs {
		rs[i].EventUnregister(&ents[i].e)
		rs[i].DecRef()
		ws[i].DecRef()
	}
	if b.Live() != 0 {
		t.Fatalf("Live %d", b.Live())
	}
	// The releases waited until no poller's array held their numbers.
	for i, s := range b.all {
		s.mu.Lock()
		for slot, p := range s.applied {
			if p.Fd >= 0 {
				t.Errorf("poller %d slot %d still watches fd %d after every file was released", i, slot, p.Fd)
			}
		}
		s.mu.Unlock()
	}
	b.Close()
	if after := countFDs(t); after != before {
		t.Fatalf("%d fds open after close, %d before", after, before)
	}
}

// TestFastPollerReleaseWaits: releasing a file that the fast poller
// watches waits until that poller has dropped its number, so the close
// cannot leave a stale (maybe reused) number in a ppoll set.
func TestFastPollerReleaseWaits(t *testing.T) {
	b := newBridgeMode(t, NotifyPpoll)
	r, w, err := b.Pipe(unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer w.DecRef()
	ent := register(r)
	r.Readiness(waiter.EventIn)
	w.Write([]byte("x")) // IN reported and disarmed, synchronously
	b.Sync()             // the home poller stops watching IN
	buf := make([]byte, 8)
	r.Read(buf)
	r.Read(buf) // EAGAIN: IN re-armed, through the fast poller
	b.fast.waitRound()
	_, h := hostOf(r)
	fd := h.fd
	watching := func() bool {
		b.fast.mu.Lock()
		defer b.fast.mu.Unlock()
		for _, p := range b.fast.applied {
			if p.Fd == fd {
				return true
			}
		}
		return false
	}
	if !watching() {
		t.Fatal("the re-arm did not go to the fast poller")
	}
	r.EventUnregister(&ent.e)
	r.DecRef()
	if watching() {
		t.Fatal("the fast poller still watches the number of a released file")
	}
}

// TestSuiteNotifyEpoll runs this package's tests again in a child process
// whose newBridge makes NotifyEpoll bridges (notifierEnv), so that both
// modes pass the same tests. Tests of the ppoll poller's internals make
// ppoll bridges whatever the run (newBridgeMode); tests that loop over
// both modes themselves are left out of the child's run.
func TestSuiteNotifyEpoll(t *testing.T) {
	if testNotifier() == NotifyEpoll {
		return // this is the child
	}
	cmd := exec.Command(os.Args[0], "-test.count=1", "-test.timeout=3m",
		"-test.skip=^(TestSuiteNotifyEpoll|TestETListenerAcceptsThroughDo|TestDoHoldsFDOpen|TestPollabilityAsLinux)$")
	cmd.Env = append(os.Environ(), notifierEnv+"=epoll")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the tests with NotifyEpoll bridges: %v\n%s", err, out)
	}
}
