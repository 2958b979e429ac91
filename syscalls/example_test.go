package syscalls_test

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
	"github.com/guestpoll/guestpoll/syscalls"
)

// amd64EmbedderAccept is the number of an accept4-like syscall an
// embedder adds for its own listener type: 500, which no x86-64 syscall
// uses (the package serves accept4 itself, for AF_UNIX sockets).
const amd64EmbedderAccept = 500

// listener is an embedder's file type: a listening socket whose accept
// queue holds connection ids. It is pollable (IN while a connection waits).
type listener struct {
	mu sync.Mutex
	// +checklocks:mu
	backlog []int
	queue   waiter.Queue
	// +checklocks:mu
	tries int // accept attempts, for tests
	// +checklocks:mu
	waiters int // registered entries, for tests
}

func (l *listener) Read(*fs.File, []byte) (int, error)  { return 0, unix.ENOTCONN }
func (l *listener) Write(*fs.File, []byte) (int, error) { return 0, unix.ENOTCONN }
func (l *listener) Release(*fs.File)                    {}

func (l *listener) Readiness(_ *fs.File, _ waiter.EventMask) waiter.EventMask {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.backlog) > 0 {
		return waiter.EventIn | waiter.EventRdNorm
	}
	return 0
}

func (l *listener) EventRegister(_ *fs.File, e *waiter.Entry) {
	l.queue.Register(e)
	l.mu.Lock()
	l.waiters++
	l.mu.Unlock()
}

func (l *listener) EventUnregister(_ *fs.File, e *waiter.Entry) {
	l.queue.Unregister(e)
	l.mu.Lock()
	l.waiters--
	l.mu.Unlock()
}

// connect queues a connection and wakes one exclusive waiter (and every
// epoll registration), as a listener's data-ready wakeup does.
func (l *listener) connect(id int) {
	l.mu.Lock()
	l.backlog = append(l.backlog, id)
	l.mu.Unlock()
	l.queue.Notify(waiter.EventIn | waiter.EventRdNorm)
}

// take dequeues a connection.
func (l *listener) take() (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tries++
	if len(l.backlog) == 0 {
		return 0, false
	}
	id := l.backlog[0]
	l.backlog = l.backlog[1:]
	return id, true
}

// conn is an accepted connection (it does nothing here).
type conn struct{ id int }

func (c *conn) Read(*fs.File, []byte) (int, error)  { return 0, nil }
func (c *conn) Write(*fs.File, []byte) (int, error) { return 0, unix.EPIPE }
func (c *conn) Release(*fs.File)                    {}

// accept4 serves accept4(fd, addr, addrlen, flags) on listeners (addr is
// ignored): flags first (EINVAL), then the fd (EBADF, ENOTSOCK); a blocking
// accept sleeps as an exclusive waiter, and a signal ends it with
// ERESTARTSYS (ErrRestart), which Syscall settles as Linux does.
func accept4(t *syscalls.Task, a [6]uintptr) (uintptr, unix.Errno) {
	f, err := t.FDTable().GetFile(int32(a[0])) // the fd first, as __sys_accept4
	if err != nil {
		return 0, unix.EBADF
	}
	defer f.DecRef()
	flags := int32(a[3])
	if flags&^(unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK) != 0 {
		return 0, unix.EINVAL
	}
	l, ok := f.Impl().(*listener)
	if !ok {
		return 0, unix.ENOTSOCK
	}
	for {
		if id, ok := l.take(); ok {
			c := fs.New(&conn{id}, unix.O_RDWR|uint32(flags&unix.SOCK_NONBLOCK))
			n, err := t.FDTable().Install(c, 0, flags&unix.SOCK_CLOEXEC != 0)
			if err != nil {
				c.DecRef()
				return 0, err.(unix.Errno)
			}
			return uintptr(n), 0
		}
		if f.Nonblocking() {
			return 0, unix.EAGAIN
		}
		if e := t.Block(f, syscalls.Wait{Mask: waiter.EventIn, Exclusive: true}); e != 0 {
			return 0, e
		}
	}
}

// An embedder serves accept4 on its own listener type: the handler blocks
// through Task.Block, and Syscall delivers signals and settles restarts as
// it does for the package's own calls.
func ExampleKernel_RegisterSyscall() {
	k := syscalls.NewKernel()
	k.RegisterSyscall(syscalls.AMD64, amd64EmbedderAccept, accept4)
	table := fd.NewTable()
	defer table.CloseAll()
	task := syscalls.NewTask(k, table, syscalls.NewGuestMemory(), syscalls.AMD64)
	defer task.Exit()

	l := &listener{}
	lfd, _ := table.Install(fs.New(l, unix.O_RDWR), 0, false)
	args := [6]uintptr{uintptr(lfd), 0, 0, unix.SOCK_CLOEXEC}

	// A connection arrives while the task is blocked in accept4.
	go func() {
		for l.queue.Empty() {
			time.Sleep(time.Millisecond)
		}
		l.connect(7)
	}()
	n, e := task.Syscall(amd64EmbedderAccept, args)
	c, _ := table.GetFile(int32(n))
	fmt.Printf("accept4 = %d (%v), connection %d\n", n, e, c.Impl().(*conn).id)
	c.DecRef()

	// A signal whose handler has no SA_RESTART interrupts it: EINTR, and
	// the embedder runs the handlers of SignalsDelivered.
	go func() {
		for l.queue.Empty() {
			time.Sleep(time.Millisecond)
		}
		task.Interrupt(int(unix.SIGUSR1))
	}()
	_, e = task.Syscall(amd64EmbedderAccept, args)
	fmt.Printf("interrupted: %v, handlers to run %#x\n", e, task.SignalsDelivered())

	// With SA_RESTART, the call is to be issued again.
	task.SetRestartSignals(1 << (unix.SIGUSR1 - 1))
	task.Interrupt(int(unix.SIGUSR1))
	_, e = task.Syscall(amd64EmbedderAccept, args)
	fmt.Println("with SA_RESTART:", e == syscalls.ErrRestart)
	// Output:
	// accept4 = 1 (errno 0), connection 7
	// interrupted: interrupted system call, handlers to run 0x200
	// with SA_RESTART: true
}

// An embedder's signalfd (signalfd_test.go: a file type whose queue is the
// task's signal queue, whose readiness is PendingSignals and whose read is
// DequeueSignal) in an epoll set: a blocked signal sent by another
// goroutine wakes the epoll_wait, and the read takes it without running a
// handler.
func ExampleTask_SignalRegister() {
	k := syscalls.NewKernel()
	k.RegisterSyscall(syscalls.AMD64, amd64Signalfd4, signalfd4)
	table := fd.NewTable()
	defer table.CloseAll()
	mem := syscalls.NewGuestMemory()
	mem.Map(0x10000, 0x1000)
	task := syscalls.NewTask(k, table, mem, syscalls.AMD64)
	defer task.Exit()

	usr1 := uint64(1) << (unix.SIGUSR1 - 1)
	task.SetSignalMask(usr1)
	mem.CopyOut(0x10000, binary.LittleEndian.AppendUint64(nil, usr1))
	sfd, _ := task.Syscall(amd64Signalfd4, [6]uintptr{^uintptr(0), 0x10000, 8, 0})
	ep, _ := task.Syscall(syscalls.AMD64EpollCreate1, [6]uintptr{})
	ev := binary.LittleEndian.AppendUint32(nil, unix.EPOLLIN)
	mem.CopyOut(0x10100, binary.LittleEndian.AppendUint64(ev, 1))
	task.Syscall(syscalls.AMD64EpollCtl, [6]uintptr{ep, unix.EPOLL_CTL_ADD, sfd, 0x10100})

	go func() {
		time.Sleep(10 * time.Millisecond)
		task.Interrupt(int(unix.SIGUSR1))
	}()
	n, _ := task.Syscall(syscalls.AMD64EpollWait, [6]uintptr{ep, 0x10200, 1, ^uintptr(0)})
	fmt.Println("epoll_wait:", n)
	n, _ = task.Syscall(syscalls.AMD64Read, [6]uintptr{sfd, 0x10400, 128})
	info := make([]byte, 4)
	mem.CopyIn(0x10400, info)
	fmt.Println("read:", n, "signal", binary.LittleEndian.Uint32(info), "handlers run:", task.Delivered(int(unix.SIGUSR1)))
	// Output:
	// epoll_wait: 1
	// read: 128 signal 10 handlers run: 0
}
