package fs_test

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// A listener on an abstract address: a connection makes it readable, the
// accepted socket reads what the client wrote before the accept, and a
// FIFO opened for reading without writers reports no HUP.
func Example() {
	names := fs.Names{Unix: fs.NewUnixNamespace(), Paths: fs.NewPathNamespace()}
	l, _ := fs.NewSocket(unix.SOCK_STREAM, unix.O_NONBLOCK)
	defer l.DecRef()
	ln := l.Impl().(fs.Listener)
	_ = ln.Bind(l, names, []byte("\x00example"))
	_ = ln.Listen(l, 1)

	c, _ := fs.NewSocket(unix.SOCK_STREAM, 0)
	defer c.DecRef()
	_, err := c.Impl().(fs.Listener).Connect(c, names, []byte("\x00example"))
	fmt.Println("connect:", err)
	_, _ = c.Write([]byte("hello"))
	fmt.Println("listener:", l.Readiness(waiter.EventIn|waiter.EventOut))

	a, _ := ln.Accept(l, 0, false)
	defer a.DecRef()
	buf := make([]byte, 8)
	n, _ := a.Read(buf)
	fmt.Printf("accepted: %q\n", buf[:n])

	_ = names.Paths.Mknod("/tmp/fifo", unix.S_IFIFO|0o600)
	o, _ := names.Paths.OpenFIFO("/tmp/fifo", unix.O_RDONLY|unix.O_NONBLOCK)
	r := o.Done()
	defer r.DecRef()
	fmt.Println("fifo reader:", r.Readiness(waiter.EventIn|waiter.EventHUp))
	wo, err := names.Paths.OpenFIFO("/tmp/fifo", unix.O_WRONLY|unix.O_NONBLOCK)
	fmt.Println("writer open:", err)
	w := wo.Done()
	fmt.Println("fifo reader:", r.Readiness(waiter.EventIn|waiter.EventHUp))
	w.DecRef()
	fmt.Println("fifo reader:", r.Readiness(waiter.EventIn|waiter.EventHUp))
	// Output:
	// connect: <nil>
	// listener: IN|RDNORM
	// accepted: "hello"
	// fifo reader: 0
	// writer open: <nil>
	// fifo reader: 0
	// fifo reader: HUP
}
