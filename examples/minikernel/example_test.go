package minikernel_test

import (
	"encoding/binary"
	"fmt"
	"net"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/examples/minikernel"
	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/syscalls"
)

// A guest thread: every call is Task.Syscall with raw arguments, pointers
// into its GuestMemory.
type thread struct {
	t   *syscalls.Task
	mem *syscalls.GuestMemory
}

func newThread(k *minikernel.Kernel) (*thread, *fd.Table) {
	table := fd.NewTable()
	mem := syscalls.NewGuestMemory()
	mem.Map(0x10000, 0x4000)
	return &thread{syscalls.NewTask(k.Sys, table, mem, syscalls.AMD64), mem}, table
}

func (th *thread) call(nr uintptr, args ...uintptr) (uintptr, unix.Errno) {
	var a [6]uintptr
	copy(a[:], args)
	return th.t.Syscall(nr, a)
}

// watch is epoll_ctl(ep, EPOLL_CTL_ADD, fd, {events, data}).
func (th *thread) watch(ep, fd uintptr, events uint32, data uint64) {
	ev := binary.LittleEndian.AppendUint32(nil, events)
	th.mem.CopyOut(0x10000, binary.LittleEndian.AppendUint64(ev, data))
	th.call(syscalls.AMD64EpollCtl, ep, unix.EPOLL_CTL_ADD, fd, 0x10000)
}

// wait is epoll_wait(ep, events, 8, timeout); it prints what it got.
func (th *thread) wait(ep uintptr, timeout int) {
	n, _ := th.call(syscalls.AMD64EpollWait, ep, 0x11000, 8, uintptr(timeout))
	b := make([]byte, 12*n)
	th.mem.CopyIn(0x11000, b)
	fmt.Printf("epoll_wait: %d", n)
	for i := range int(n) {
		fmt.Printf(" {%#x, %d}", binary.LittleEndian.Uint32(b[12*i:]), binary.LittleEndian.Uint64(b[12*i+4:]))
	}
	fmt.Println()
}

// A listener of the kernel's own, watched edge-triggered: each connection
// is an edge, and accept4 (an embedder's system call) takes them.
func Example() {
	k, _ := minikernel.New(minikernel.Options{})
	defer k.Close()
	th, table := newThread(k)
	defer table.CloseAll()
	defer th.t.Exit()

	lf, l := minikernel.NewListener(8, unix.O_NONBLOCK)
	lfd, _ := table.Install(lf, 0, false)
	ep, _ := th.call(syscalls.AMD64EpollCreate1, 0)
	th.watch(ep, uintptr(lfd), unix.EPOLLIN|unix.EPOLLET, 42)

	c1, _ := l.Connect() // the connecting side, outside the guest
	defer c1.DecRef()
	th.wait(ep, 0)
	th.wait(ep, 0) // edge-triggered: nothing new
	c2, _ := l.Connect()
	defer c2.DecRef()
	th.wait(ep, 0) // a second connection is a new edge
	for {
		nfd, e := th.call(minikernel.SysAccept4, uintptr(lfd), 0, 0, unix.SOCK_CLOEXEC)
		if e != 0 {
			fmt.Println("accept4:", e)
			break
		}
		fmt.Println("accept4:", nfd)
	}
	// Output:
	// epoll_wait: 1 {0x1, 42}
	// epoll_wait: 0
	// epoll_wait: 1 {0x1, 42}
	// accept4: 2
	// accept4: 3
	// accept4: resource temporarily unavailable
}

// A signalfd (signalfd4, an embedder's system call) fed by the task's
// signal hook: a blocked signal makes it readable, and a read takes the
// signal without running a handler.
func ExampleSignalfd() {
	k, _ := minikernel.New(minikernel.Options{})
	defer k.Close()
	th, table := newThread(k)
	defer table.CloseAll()
	defer th.t.Exit()

	usr1 := uint64(1) << (unix.SIGUSR1 - 1)
	th.t.SetSignalMask(usr1)
	th.mem.CopyOut(0x10100, binary.LittleEndian.AppendUint64(nil, usr1))
	sfd, _ := th.call(minikernel.SysSignalfd4, ^uintptr(0), 0x10100, 8, unix.SFD_NONBLOCK)
	ep, _ := th.call(syscalls.AMD64EpollCreate1, 0)
	th.watch(ep, sfd, unix.EPOLLIN, 7)
	th.wait(ep, 0)

	th.t.Interrupt(int(unix.SIGUSR1)) // from any goroutine
	th.wait(ep, 0)
	n, _ := th.call(syscalls.AMD64Read, sfd, 0x12000, 2*minikernel.SiginfoSize)
	var signo [4]byte
	th.mem.CopyIn(0x12000, signo[:])
	fmt.Println("read:", n, "bytes, ssi_signo", binary.LittleEndian.Uint32(signo[:]),
		"handlers run:", th.t.Delivered(int(unix.SIGUSR1)))
	th.wait(ep, 0)
	// Output:
	// epoll_wait: 0
	// epoll_wait: 1 {0x1, 7}
	// read: 128 bytes, ssi_signo 10 handlers run: 0
	// epoll_wait: 0
}

// A real host TCP listener donated to the kernel: the guest waits for it
// in epoll_wait and accepts with accept4, which the kernel performs on the
// host fd (hostfd.Do) and whose connection it imports as a model file.
func ExampleKernel_ImportListener() {
	k, _ := minikernel.New(minikernel.Options{})
	defer k.Close()
	th, table := newThread(k)
	defer table.CloseAll()
	defer th.t.Exit()

	s, _ := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	unix.Bind(s, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	unix.Listen(s, 8)
	sa, _ := unix.Getsockname(s)
	lf, err := k.ImportListener("http", s) // the kernel owns s now
	if err != nil {
		fmt.Println(err)
		return
	}
	lfd, _ := table.Install(lf, 0, false)
	ep, _ := th.call(syscalls.AMD64EpollCreate1, 0)
	th.watch(ep, uintptr(lfd), unix.EPOLLIN|unix.EPOLLET, 80)

	c, _ := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port))
	defer c.Close()
	c.Write([]byte("GET"))
	th.wait(ep, 5000)
	cfd, _ := th.call(minikernel.SysAccept4, uintptr(lfd), 0, 0, 0)
	n, _ := th.call(syscalls.AMD64Read, cfd, 0x12000, 16) // blocks until the bytes arrive
	buf := make([]byte, n)
	th.mem.CopyIn(0x12000, buf)
	fmt.Printf("accept4: fd %d; read %q\n", cfd, buf)
	// Output:
	// epoll_wait: 1 {0x1, 80}
	// accept4: fd 2; read "GET"
}

// The whole kernel checkpointed and restored into a new one: a queued
// connection survives, and the edge the guest harvested before the
// checkpoint is not given again.
func ExampleKernel_Checkpoint() {
	k, _ := minikernel.New(minikernel.Options{})
	defer k.Close()
	th, table := newThread(k)
	defer table.CloseAll()
	defer th.t.Exit()
	lf, l := minikernel.NewListener(8, unix.O_NONBLOCK)
	lfd, _ := table.Install(lf, 0, false)
	ep, _ := th.call(syscalls.AMD64EpollCreate1, 0)
	th.watch(ep, uintptr(lfd), unix.EPOLLIN|unix.EPOLLET, 1)
	client, _ := l.Connect()
	cfd, _ := table.Install(client, 0, false) // the guest holds the client end
	th.wait(ep, 0)

	data, err := k.Checkpoint([]*syscalls.Task{th.t})
	if err != nil {
		fmt.Println(err)
		return
	}
	nk, r, err := k.Restore(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nk.Close()
	defer r.Tables[0].CloseAll()
	th2 := &thread{r.Tasks[0], r.Memories[0].(*syscalls.GuestMemory)}
	defer th2.t.Exit()
	th2.wait(ep, 0) // no edge again
	afd, _ := th2.call(minikernel.SysAccept4, uintptr(lfd), 0, 0, 0)
	th2.mem.CopyOut(0x12000, []byte("hi"))
	th2.call(syscalls.AMD64Write, uintptr(cfd), 0x12000, 2)
	n, _ := th2.call(syscalls.AMD64Read, afd, 0x12100, 8)
	fmt.Println("restored: accept4", afd, "read", n, "bytes")
	// Output:
	// epoll_wait: 1 {0x1, 1}
	// epoll_wait: 0
	// restored: accept4 3 read 2 bytes
}
