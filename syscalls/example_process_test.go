package syscalls_test

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/syscalls"
)

// A forked child shares the parent's epoll instance and pipe: its close
// of the read end leaves the registration (the parent's fd still holds the
// file), it sees the parent's write, and its exit makes its pidfd readable
// until the parent reaps it with wait4.
func ExampleTask_Fork() {
	k := syscalls.NewKernel()
	table := fd.NewTable()
	defer table.CloseAll()
	mem := syscalls.NewGuestMemory()
	mem.Map(0x10000, 0x1000)
	parent := k.NewProcess(table, mem).NewTask(syscalls.AMD64)
	defer parent.Exit()
	call := func(t *syscalls.Task, nr uintptr, args ...uintptr) uintptr {
		var a [6]uintptr
		copy(a[:], args)
		r, _ := t.Syscall(nr, a)
		return r
	}

	ep := call(parent, syscalls.AMD64EpollCreate1, 0)
	call(parent, syscalls.AMD64Pipe2, 0x10000, 0)
	fds := make([]byte, 8)
	mem.CopyIn(0x10000, fds)
	r, w := uintptr(binary.LittleEndian.Uint32(fds)), uintptr(binary.LittleEndian.Uint32(fds[4:]))
	ev := binary.LittleEndian.AppendUint32(nil, unix.EPOLLIN)
	mem.CopyOut(0x10100, binary.LittleEndian.AppendUint64(ev, 42))
	call(parent, syscalls.AMD64EpollCtl, ep, unix.EPOLL_CTL_ADD, r, 0x10100)

	childMem := syscalls.NewGuestMemory()
	childMem.Map(0x10000, 0x1000)
	child := parent.Fork(childMem)
	call(child, syscalls.AMD64Close, r)
	call(parent, syscalls.AMD64Write, w, 0x10000, 1)
	fmt.Println("child's epoll_wait:", call(child, syscalls.AMD64EpollWait, ep, 0x10200, 8, 0))

	pid := uintptr(child.Process().Pid())
	pd := call(parent, syscalls.AMD64PidfdOpen, pid, 0)
	childProc := child.Process()
	child.Exit()
	childProc.Exit(3)
	mem.CopyOut(0x10300, binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, uint32(pd)), unix.POLLIN))
	fmt.Println("pidfd readable:", call(parent, syscalls.AMD64Poll, 0x10300, 1, 0))
	fmt.Println("wait4 reaps the child:", call(parent, syscalls.AMD64Wait4, pid, 0x10400, 0, 0) == pid)
	st := make([]byte, 4)
	mem.CopyIn(0x10400, st)
	fmt.Println("exit status:", binary.LittleEndian.Uint32(st)>>8)
	// Output:
	// child's epoll_wait: 1
	// pidfd readable: 1
	// wait4 reaps the child: true
	// exit status: 3
}
