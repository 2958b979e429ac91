package minikernel

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/syscalls"
)

// A guest thread of a test kernel: a task with its own guest memory,
// whose every call goes through Task.Syscall with raw arguments.
type guest struct {
	tb  testing.TB
	t   *syscalls.Task
	mem *syscalls.GuestMemory
}

// Guest memory layout of every test task.
const (
	memBase  = 0x10000
	evArg    = memBase          // the epoll_event of epoll_ctl
	maskArg  = memBase + 0x40   // a sigset_t
	addrArg  = memBase + 0x80   // accept4's address buffer
	lenArg   = memBase + 0xf0   // accept4's addrlen
	evOut    = memBase + 0x1000 // epoll_wait's events
	readBuf  = memBase + 0x2000 // read's buffer
	memPages = 8
)

func newTestKernel(tb testing.TB, opts Options) *Kernel {
	tb.Helper()
	k, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { k.Close() })
	return k
}

// newGuest makes a task of k on table (a new one, closed at the end of the
// test, if nil).
func newGuest(tb testing.TB, sys *syscalls.Kernel, table *fd.Table) *guest {
	tb.Helper()
	if table == nil {
		table = fd.NewTable()
		tb.Cleanup(table.CloseAll)
	}
	mem := syscalls.NewGuestMemory()
	if err := mem.Map(memBase, memPages*syscalls.PageSize); err != nil {
		tb.Fatal(err)
	}
	t := syscalls.NewTask(sys, table, mem, syscalls.AMD64)
	g := &guest{tb: tb, t: t, mem: mem}
	tb.Cleanup(t.Exit)
	return g
}

// adopt makes a guest of a task restored by package checkpoint.
func adopt(tb testing.TB, t *syscalls.Task) *guest {
	g := &guest{tb: tb, t: t, mem: t.Memory().(*syscalls.GuestMemory)}
	tb.Cleanup(t.Exit)
	return g
}

func (g *guest) sys(nr uintptr, args ...uintptr) (uintptr, unix.Errno) {
	var a [6]uintptr
	copy(a[:], args)
	return g.t.Syscall(nr, a)
}

func (g *guest) must(nr uintptr, args ...uintptr) uintptr {
	g.tb.Helper()
	r, e := g.sys(nr, args...)
	if e != 0 {
		g.tb.Fatalf("syscall %d%v: %v", nr, args, e)
	}
	return r
}

func (g *guest) epollCreate() uintptr { return g.must(syscalls.AMD64EpollCreate1, 0) }

// ctl is epoll_ctl with a struct epoll_event written to guest memory
// (x86-64: 12 bytes packed, data at 4).
func (g *guest) ctl(ep uintptr, op int, fd uintptr, events uint32, data uint64) unix.Errno {
	var b [12]byte
	binary.LittleEndian.PutUint32(b[:], events)
	binary.LittleEndian.PutUint64(b[4:], data)
	g.put(evArg, b[:])
	_, e := g.sys(syscalls.AMD64EpollCtl, ep, uintptr(op), fd, evArg)
	return e
}

func (g *guest) mustCtl(ep uintptr, op int, fd uintptr, events uint32, data uint64) {
	g.tb.Helper()
	if e := g.ctl(ep, op, fd, events, data); e != 0 {
		g.tb.Fatalf("epoll_ctl(%d, %d, %d, %#x): %v", ep, op, fd, events, e)
	}
}

// event is one struct epoll_event as epoll_wait wrote it.
type event struct {
	Events uint32
	Data   uint64
}

func (e event) String() string { return fmt.Sprintf("%#x/%d", e.Events, e.Data) }

// wait is epoll_wait(ep, evOut, max, timeout) and the events it wrote.
func (g *guest) wait(ep uintptr, max int, timeoutMs int) ([]event, unix.Errno) {
	n, e := g.sys(syscalls.AMD64EpollWait, ep, evOut, uintptr(max), uintptr(timeoutMs))
	if e != 0 {
		return nil, e
	}
	b := g.get(evOut, int(n)*12)
	evs := make([]event, n)
	for i := range evs {
		evs[i] = event{binary.LittleEndian.Uint32(b[i*12:]), binary.LittleEndian.Uint64(b[i*12+4:])}
	}
	return evs, 0
}

// mustWait is wait, failing the test on an error or on events other
// than want.
func (g *guest) mustWait(ep uintptr, timeoutMs int, want ...event) {
	g.tb.Helper()
	evs, e := g.wait(ep, 16, timeoutMs)
	if e != 0 || fmt.Sprint(evs) != fmt.Sprint(want) {
		g.tb.Fatalf("epoll_wait(%d): %v %v, want %v", ep, evs, e, want)
	}
}

func (g *guest) put(addr uint64, b []byte) {
	if err := g.mem.CopyOut(addr, b); err != nil {
		g.tb.Fatal(err)
	}
}

func (g *guest) get(addr uint64, n int) []byte {
	b := make([]byte, n)
	if err := g.mem.CopyIn(addr, b); err != nil {
		g.tb.Fatal(err)
	}
	return b
}

func (g *guest) putU32(addr uint64, v uint32) {
	g.put(addr, binary.LittleEndian.AppendUint32(nil, v))
}

func (g *guest) u32(addr uint64) uint32 { return binary.LittleEndian.Uint32(g.get(addr, 4)) }

// accept is accept4(fd, NULL, NULL, flags).
func (g *guest) accept(fd uintptr, flags int) (uintptr, unix.Errno) {
	return g.sys(SysAccept4, fd, 0, 0, uintptr(flags))
}

// listen installs a new Listener in the guest's table.
func (g *guest) listen(backlog int, flags uint32) (uintptr, *Listener) {
	f, l := NewListener(backlog, flags)
	fd, err := g.t.FDTable().Install(f, 0, false)
	if err != nil {
		g.tb.Fatal(err)
	}
	return uintptr(fd), l
}

// connect queues a connection on l; the client end is closed at the end
// of the test.
func connect(tb testing.TB, l *Listener) {
	tb.Helper()
	c, err := l.Connect()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.DecRef)
}

// call runs one system call of g on a goroutine of its own (a guest
// thread blocking in it) and delivers its result.
type result struct {
	r uintptr
	e unix.Errno
}

func (g *guest) start(nr uintptr, args ...uintptr) <-chan result {
	ch := make(chan result, 1)
	go func() {
		r, e := g.sys(nr, args...)
		ch <- result{r, e}
	}()
	return ch
}

// settle waits long enough for a goroutine woken (or not) to have run.
func settle() { time.Sleep(50 * time.Millisecond) }

// waitFor polls cond until it holds (or fails the test after 10s).
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			tb.Fatalf("timed out waiting for %s", what)
		}
	}
}

// hooked returns the number of entries on l's queue.
func (l *Listener) hooked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.entries
}

// tried returns the number of Accept calls so far.
func (l *Listener) tried() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tries
}

// epollWaiting reports whether a thread is blocked in epoll_wait on ep.
func (g *guest) epollWaiting(ep uintptr) bool {
	f, err := g.t.FDTable().GetFile(int32(ep))
	if err != nil {
		g.tb.Fatal(err)
	}
	defer f.DecRef()
	e, _ := epoll.FromFile(f)
	return e.HasWaiters()
}
