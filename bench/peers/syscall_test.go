package peers

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/syscalls"
)

// Guest memory layout of the syscall-layer benchmarks.
const (
	memBase  = 0x10000
	memSize  = 0x10000
	ctlEvent = memBase + 0x800  // struct epoll_event for epoll_ctl
	waitOut  = memBase + 0x1000 // epoll_wait's output (64 events)
	oneWord  = memBase + 0xa00  // the eventfd counter written: 1
	readWord = memBase + 0xb00  // where reads land
)

// syscallEnv is a model kernel with one x86-64 task, its own fd table and
// guest memory.
type syscallEnv struct {
	tb    testing.TB
	k     *syscalls.Kernel
	mem   *syscalls.GuestMemory
	table *fd.Table
	t     *syscalls.Task
}

func newSyscallEnv(tb testing.TB) *syscallEnv {
	tb.Helper()
	mem := syscalls.NewGuestMemory()
	if err := mem.Map(memBase, memSize); err != nil {
		tb.Fatal(err)
	}
	k := syscalls.NewKernel()
	table := fd.NewTable()
	tb.Cleanup(table.CloseAll)
	x := &syscallEnv{tb: tb, k: k, mem: mem, table: table, t: syscalls.NewTask(k, table, mem, syscalls.AMD64)}
	var one [8]byte
	one[0] = 1
	x.put(oneWord, one[:])
	return x
}

// sibling returns another task of the kernel sharing the table and memory.
func (x *syscallEnv) sibling() *syscalls.Task {
	return syscalls.NewTask(x.k, x.table, x.mem, syscalls.AMD64)
}

func (x *syscallEnv) put(addr uint64, b []byte) {
	if err := x.mem.CopyOut(addr, b); err != nil {
		x.tb.Fatal(err)
	}
}

// must makes a system call that has to succeed.
func (x *syscallEnv) must(nr uintptr, args ...uintptr) uintptr {
	x.tb.Helper()
	var a [6]uintptr
	copy(a[:], args)
	r, e := x.t.Syscall(nr, a)
	if e != 0 {
		x.tb.Fatalf("syscall %d%v: %v", nr, args, e)
	}
	return r
}

func (x *syscallEnv) epoll() uintptr { return x.must(syscalls.AMD64EpollCreate1, 0) }

func (x *syscallEnv) eventfd(init uint) uintptr {
	return x.must(syscalls.AMD64Eventfd2, uintptr(init), 0)
}

// setEvent writes the struct epoll_event (x86-64 layout: packed, data at
// offset 4) that ctl passes.
func (x *syscallEnv) setEvent(events uint32, data uint64) {
	var b [12]byte
	binary.LittleEndian.PutUint32(b[:], events)
	binary.LittleEndian.PutUint64(b[4:], data)
	x.put(ctlEvent, b[:])
}

func (x *syscallEnv) ctl(ep uintptr, op int, fd uintptr, events uint32, data uint64) {
	x.tb.Helper()
	x.setEvent(events, data)
	x.must(syscalls.AMD64EpollCtl, ep, uintptr(op), fd, ctlEvent)
}

// newSyscallSet is kerneltest.HostSet through the syscall layer; it returns the
// epoll fd and the eventfds.
func newSyscallSet(tb testing.TB, n, ready int, events uint32) (*syscallEnv, uintptr, []uintptr) {
	x := newSyscallEnv(tb)
	ep := x.epoll()
	fds := make([]uintptr, n)
	for i := range fds {
		var init uint
		if i == ready {
			init = 1
		}
		fds[i] = x.eventfd(init)
		x.ctl(ep, unix.EPOLL_CTL_ADD, fds[i], events, uint64(i))
	}
	return x, ep, fds
}

// syscallSide is gvisorSide through the syscall layer: epoll_wait with
// timeout -1, then a read of the own eventfd, then a write to the peer's.
type syscallSide struct {
	t                 *syscalls.Task
	wait, read, write [6]uintptr
}

func (s *syscallSide) Signal() {
	if _, e := s.t.Syscall(syscalls.AMD64Write, s.write); e != 0 {
		panic(e)
	}
}

func (s *syscallSide) Await() {
	for {
		if _, e := s.t.Syscall(syscalls.AMD64EpollWait, s.wait); e != 0 {
			panic(e)
		}
		if _, e := s.t.Syscall(syscalls.AMD64Read, s.read); e == 0 {
			return
		}
	}
}

// syscallRoundTrip is modelRoundTrip through the syscall layer: two tasks
// of one kernel (syscalls' BenchmarkSyscallWakeupRoundTrip).
func syscallRoundTrip(tb testing.TB) (roundTrip, stop func()) {
	x := newSyscallEnv(tb)
	e1, e2 := x.eventfd(0), x.eventfd(0)
	ep1, ep2 := x.epoll(), x.epoll()
	x.ctl(ep1, unix.EPOLL_CTL_ADD, e1, unix.EPOLLIN, 1)
	x.ctl(ep2, unix.EPOLL_CTL_ADD, e2, unix.EPOLLIN, 2)
	forever := ^uintptr(0)    // timeout -1
	a := &syscallSide{t: x.t, // waits on e2, signals e1
		wait:  [6]uintptr{ep2, waitOut, 8, forever},
		read:  [6]uintptr{e2, readWord, 8},
		write: [6]uintptr{e1, oneWord, 8}}
	peer := &syscallSide{t: x.sibling(),
		wait:  [6]uintptr{ep1, waitOut + 0x400, 8, forever},
		read:  [6]uintptr{e1, readWord + 8, 8},
		write: [6]uintptr{e2, oneWord, 8}}
	return kerneltest.PingPong(a, peer, func() {})
}
