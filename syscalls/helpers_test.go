package syscalls

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fd"
)

const (
	memBase = 0x10000
	memSize = 0x10000
	memEnd  = memBase + memSize // the page at memEnd is a hole
	hole    = 0x400000
)

// nrOf returns the arch's number for id (the test fails if there is none).
func nrOf(tb testing.TB, arch Arch, id sysID) uintptr {
	tb.Helper()
	tab := &amd64Table
	if arch == ARM64 {
		tab = &arm64Table
	}
	for nr, x := range tab {
		if x == id {
			return uintptr(nr)
		}
	}
	tb.Fatalf("%v has no syscall %d", arch, id)
	return 0
}

type tt struct {
	tb  testing.TB
	k   *Kernel
	t   *Task
	mem *GuestMemory
}

func newTT(tb testing.TB, arch Arch) *tt {
	k := NewKernel()
	mem := NewGuestMemory()
	if err := mem.Map(memBase, memSize); err != nil {
		tb.Fatal(err)
	}
	table := fd.NewTable()
	// Task-owned, as a guest process's table is: the tests change it only
	// through the tasks' calls, and a lone task's lookups take no
	// reference (fd.Table.Borrow). sibling makes the table shared.
	table.SetTaskOwned()
	tb.Cleanup(table.CloseAll)
	return &tt{tb: tb, k: k, t: NewTask(k, table, mem, arch), mem: mem}
}

// sibling returns another task sharing the kernel, table and memory.
func (x *tt) sibling() *Task { return NewTask(x.k, x.t.fds, x.mem, x.t.arch) }

func (x *tt) call(id sysID, args ...uintptr) (uintptr, unix.Errno) {
	var a [6]uintptr
	copy(a[:], args)
	return x.t.Syscall(nrOf(x.tb, x.t.arch, id), a)
}

func (x *tt) must(id sysID, args ...uintptr) uintptr {
	x.tb.Helper()
	r, e := x.call(id, args...)
	if e != 0 {
		x.tb.Fatalf("syscall %d%v: %v", id, args, e)
	}
	return r
}

func (x *tt) put(addr uint64, b []byte) {
	x.tb.Helper()
	if err := x.mem.CopyOut(addr, b); err != nil {
		x.tb.Fatal(err)
	}
}

func (x *tt) get(addr uint64, n int) []byte {
	x.tb.Helper()
	b := make([]byte, n)
	if err := x.mem.CopyIn(addr, b); err != nil {
		x.tb.Fatal(err)
	}
	return b
}

func (x *tt) putU64(addr uint64, v ...uint64) {
	b := make([]byte, 8*len(v))
	for i, u := range v {
		binary.LittleEndian.PutUint64(b[8*i:], u)
	}
	x.put(addr, b)
}

// putEvent writes a struct epoll_event in the task's layout.
func (x *tt) putEvent(addr uint64, events uint32, data uint64) {
	b := make([]byte, x.t.arch.EventSize())
	binary.LittleEndian.PutUint32(b, events)
	binary.LittleEndian.PutUint64(b[x.t.arch.eventDataOffset():], data)
	x.put(addr, b)
}

func (x *tt) getEvent(addr uint64) (uint32, uint64) {
	b := x.get(addr, x.t.arch.EventSize())
	return binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint64(b[x.t.arch.eventDataOffset():])
}

func (x *tt) epoll() uintptr { return x.must(sysEpollCreate1, 0) }

func (x *tt) eventfd(init uint32, flags uintptr) uintptr {
	return x.must(sysEventfd2, uintptr(init), flags)
}

func (x *tt) pipe() (uintptr, uintptr) {
	const at = memBase + 0x800
	x.must(sysPipe2, at, 0)
	b := x.get(at, 8)
	return uintptr(binary.LittleEndian.Uint32(b)), uintptr(binary.LittleEndian.Uint32(b[4:]))
}

func (x *tt) ctl(ep, op, fd uintptr, events uint32, data uint64) unix.Errno {
	const at = memBase + 0x900
	x.putEvent(at, events, data)
	_, e := x.call(sysEpollCtl, ep, op, fd, at)
	return e
}

func (x *tt) writeU64(fd uintptr, v uint64) {
	x.tb.Helper()
	const at = memBase + 0xa00
	x.putU64(at, v)
	if n := x.must(sysWrite, fd, at, 8); n != 8 {
		x.tb.Fatalf("write %d", n)
	}
}

func sx(e unix.Errno) string {
	if e == 0 {
		return "OK"
	}
	return unix.ErrnoName(e)
}

func neg(v int) uintptr { return uintptr(v) }

func (x *tt) putU32(addr uint64, v ...uint32) {
	x.tb.Helper()
	b := make([]byte, 4*len(v))
	for i, u := range v {
		binary.LittleEndian.PutUint32(b[4*i:], u)
	}
	x.put(addr, b)
}

// setNofile sets RLIMIT_NOFILE's soft limit, keeping the hard one.
func (x *tt) setNofile(soft uint64) {
	x.tb.Helper()
	_, hard := x.t.fds.Limit()
	if err := x.t.fds.SetLimit(soft, hard); err != nil {
		x.tb.Fatal(err)
	}
}
