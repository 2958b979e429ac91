package syscalls_test

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
	"github.com/guestpoll/guestpoll/syscalls"
)

// Tests of the embedder's syscalls, written against the exported API only.

const (
	extBase = 0x10000
	extSize = 0x10000
)

type ext struct {
	tb    testing.TB
	k     *syscalls.Kernel
	table *fd.Table
	mem   *syscalls.GuestMemory
	t     *syscalls.Task
}

func newExt(tb testing.TB, arch syscalls.Arch) *ext {
	k := syscalls.NewKernel()
	mem := syscalls.NewGuestMemory()
	if err := mem.Map(extBase, extSize); err != nil {
		tb.Fatal(err)
	}
	table := fd.NewTable()
	tb.Cleanup(table.CloseAll)
	return &ext{tb: tb, k: k, table: table, mem: mem, t: syscalls.NewTask(k, table, mem, arch)}
}

func (x *ext) install(impl fs.Impl, flags uint32) uintptr {
	x.tb.Helper()
	n, err := x.table.Install(fs.New(impl, flags), 0, false)
	if err != nil {
		x.tb.Fatal(err)
	}
	return uintptr(n)
}

// whenQueued runs fn in another goroutine once q has a registrant.
func whenQueued(q *waiter.Queue, fn func()) {
	go func() {
		for q.Empty() {
			time.Sleep(time.Millisecond)
		}
		fn()
	}()
}

func errName(e unix.Errno) string {
	switch e {
	case 0:
		return "OK"
	case syscalls.ErrRestart:
		return "ErrRestart"
	}
	return unix.ErrnoName(e)
}

// TestRegisterSyscallRawArguments: a registered handler gets the task and
// the raw arguments and its result comes back from Syscall; it serves only
// its arch; the fallback serves any other number and learns it from
// CurrentSyscall; unregistered numbers stay ENOSYS.
func TestRegisterSyscallRawArguments(t *testing.T) {
	x := newExt(t, syscalls.AMD64)
	arm := syscalls.NewTask(x.k, x.table, x.mem, syscalls.ARM64)
	var got [6]uintptr
	var gotTask *syscalls.Task
	x.k.RegisterSyscall(syscalls.AMD64, 400, func(t *syscalls.Task, a [6]uintptr) (uintptr, unix.Errno) {
		got, gotTask = a, t
		return 42, 0
	})
	args := [6]uintptr{1, 2, 3, 4, 5, ^uintptr(0)}
	if r, e := x.t.Syscall(400, args); r != 42 || e != 0 || got != args || gotTask != x.t {
		t.Errorf("registered: %d %v, args %v, task ok %v", r, e, got, gotTask == x.t)
	}
	if _, e := arm.Syscall(400, args); e != unix.ENOSYS {
		t.Errorf("other arch: %v, want ENOSYS", e)
	}
	if _, e := x.t.Syscall(401, args); e != unix.ENOSYS {
		t.Errorf("unregistered: %v, want ENOSYS", e)
	}
	x.k.SetFallbackSyscall(func(t *syscalls.Task, a [6]uintptr) (uintptr, unix.Errno) {
		return t.CurrentSyscall(), unix.EPERM
	})
	for _, nr := range []uintptr{401, 1 << 20} {
		if r, e := x.t.Syscall(nr, args); r != 0 || e != unix.EPERM {
			t.Errorf("fallback %d: %d %v", nr, r, e)
		}
	}
	var seen uintptr
	x.k.SetFallbackSyscall(func(t *syscalls.Task, a [6]uintptr) (uintptr, unix.Errno) {
		seen = t.CurrentSyscall()
		return 0, 0
	})
	arm.Syscall(400, args)
	if seen != 400 {
		t.Errorf("fallback on arm64 saw %d", seen)
	}
	if r, _ := x.t.Syscall(400, args); r != 42 {
		t.Errorf("registered handler lost to the fallback: %d", r)
	}
	x.k.RegisterSyscall(syscalls.AMD64, 400, nil)
	x.k.SetFallbackSyscall(nil)
	if _, e := x.t.Syscall(400, args); e != unix.ENOSYS {
		t.Errorf("removed: %v", e)
	}
	// The package's own calls are untouched.
	if r, e := x.t.Syscall(syscalls.AMD64EpollCreate1, [6]uintptr{}); e != 0 || r != 0 {
		t.Errorf("epoll_create1: %d %v", r, e)
	}
	arm.Exit()
}

// TestRegisterSyscallMisuse: a number past the table and an unknown arch
// panic, naming the misuse.
func TestRegisterSyscallMisuse(t *testing.T) {
	k := syscalls.NewKernel()
	h := func(*syscalls.Task, [6]uintptr) (uintptr, unix.Errno) { return 0, 0 }
	for _, c := range []struct {
		name string
		do   func()
		want string
	}{
		{"too big", func() { k.RegisterSyscall(syscalls.AMD64, 512, h) }, "RegisterSyscall(amd64, 512): numbers stop at 511"},
		{"arch", func() { k.RegisterSyscall(syscalls.Arch(9), 400, h) }, "RegisterSyscall for unknown arch 9"},
	} {
		if msg := panicOf(c.do); !strings.Contains(msg, c.want) {
			t.Errorf("%s: panic %q, want %q", c.name, msg, c.want)
		}
	}
}

// TestRegisterSyscallOverridesBuiltin: a number the package serves can be
// replaced for one kernel; the replacement sees every call, delegates to
// Kernel.Builtin for what it leaves to the package (restart code
// included), and a nil handler gives the number back.
func TestRegisterSyscallOverridesBuiltin(t *testing.T) {
	x := newExt(t, syscalls.AMD64)
	other := newExt(t, syscalls.AMD64)
	builtin := x.k.Builtin(syscalls.AMD64, syscalls.AMD64Dup)
	if builtin == nil {
		t.Fatal("Builtin(dup) = nil")
	}
	if x.k.Builtin(syscalls.AMD64, 400) != nil {
		t.Error("Builtin of an unserved number is not nil")
	}
	calls := 0
	x.k.RegisterSyscall(syscalls.AMD64, syscalls.AMD64Dup, func(t *syscalls.Task, a [6]uintptr) (uintptr, unix.Errno) {
		calls++
		if int32(a[0]) == 77 {
			return 0, unix.ENOTSUP // the embedder's own case
		}
		return builtin(t, a)
	})
	if _, e := x.t.Syscall(syscalls.AMD64Dup, [6]uintptr{77}); e != unix.ENOTSUP {
		t.Errorf("overridden dup(77): %v, want ENOTSUP", e)
	}
	r, e := x.t.Syscall(syscalls.AMD64EpollCreate1, [6]uintptr{})
	if e != 0 {
		t.Fatalf("epoll_create1: %v", e)
	}
	if _, e := x.t.Syscall(syscalls.AMD64Dup, [6]uintptr{r}); e != 0 || calls != 2 {
		t.Errorf("delegated dup: %v, %d calls", e, calls)
	}
	// Another kernel keeps the package's dup.
	if _, e := other.t.Syscall(syscalls.AMD64Dup, [6]uintptr{77}); e != unix.EBADF {
		t.Errorf("other kernel's dup(77): %v, want EBADF", e)
	}
	x.k.RegisterSyscall(syscalls.AMD64, syscalls.AMD64Dup, nil)
	if _, e := x.t.Syscall(syscalls.AMD64Dup, [6]uintptr{77}); e != unix.EBADF || calls != 2 {
		t.Errorf("given back: %v, %d calls", e, calls)
	}
}

// TestBuiltinRestartCode: a read delegated through Builtin and interrupted
// by a signal whose handler has SA_RESTART restarts, as the package's own
// read does.
func TestBuiltinRestartCode(t *testing.T) {
	x := newExt(t, syscalls.AMD64)
	read := x.k.Builtin(syscalls.AMD64, syscalls.AMD64Read)
	x.k.RegisterSyscall(syscalls.AMD64, syscalls.AMD64Read, read)
	pr, pw := fs.NewPipe(0)
	defer pw.DecRef()
	fdr, err := x.table.Install(pr, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	x.t.SetRestartSignals(1 << (unix.SIGUSR1 - 1))
	done := make(chan unix.Errno)
	go func() {
		_, e := x.t.Syscall(syscalls.AMD64Read, [6]uintptr{uintptr(fdr), extBase, 1})
		done <- e
	}()
	// Whether the signal comes before or during the sleep, the read ends
	// with its restart code; the pause only makes "during" likely.
	time.Sleep(20 * time.Millisecond)
	x.t.Interrupt(int(unix.SIGUSR1))
	if e := <-done; e != syscalls.ErrRestart {
		t.Errorf("interrupted delegated read: %v, want ErrRestart", e)
	}
}

func panicOf(fn func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg, _ = r.(string)
			if msg == "" {
				msg = "non-string panic"
			}
		}
	}()
	fn()
	return ""
}

// TestBlockedHandlerAcceptsAndIsExclusive: two tasks blocked in the
// embedder's accept4 on one listener; one connection wakes exactly one of
// them (an exclusive waiter takes the wake-one wakeup), which returns the
// new fd; the other sleeps on until the second connection.
func TestBlockedHandlerAcceptsAndIsExclusive(t *testing.T) {
	x := newExt(t, syscalls.AMD64)
	x.k.RegisterSyscall(syscalls.AMD64, amd64EmbedderAccept, accept4)
	l := &listener{}
	lfd := x.install(l, unix.O_RDWR)
	other := syscalls.NewTask(x.k, x.table, x.mem, syscalls.AMD64)
	defer other.Exit()
	type result struct {
		n uintptr
		e unix.Errno
	}
	results := make(chan result, 2)
	for _, task := range []*syscalls.Task{x.t, other} {
		go func() {
			n, e := task.Syscall(amd64EmbedderAccept, [6]uintptr{lfd})
			results <- result{n, e}
		}()
	}
	for registered(l) < 2 {
		time.Sleep(time.Millisecond)
	}
	l.connect(1)
	r := <-results
	if r.e != 0 {
		t.Fatalf("accept4: %v", r.e)
	}
	time.Sleep(50 * time.Millisecond) // a woken non-exclusive waiter would retry by now
	l.mu.Lock()
	tries := l.tries
	l.mu.Unlock()
	// Each task tried once before sleeping; only the woken one tried again.
	if tries != 3 {
		t.Errorf("accept attempts after one connection: %d, want 3 (one waiter woken)", tries)
	}
	select {
	case r := <-results:
		t.Fatalf("second accept4 returned without a connection: %v", r)
	default:
	}
	l.connect(2)
	if r2 := <-results; r2.e != 0 || r2.n == r.n {
		t.Errorf("second accept4: %d %v (first fd %d)", r2.n, r2.e, r.n)
	}
}

// registered counts the entries on l's queue.
func registered(l *listener) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waiters
}

// waitHandler serves "wait(fd, timeout ms)" on a listener: it takes one
// connection, blocking until there is one, and returns code when a signal
// or a Stop interrupts it, EAGAIN when the timeout passes. It records
// Restarting at each entry.
func waitHandler(code unix.Errno, restarting *[]bool) syscalls.Handler {
	return func(t *syscalls.Task, a [6]uintptr) (uintptr, unix.Errno) {
		*restarting = append(*restarting, t.Restarting())
		f, err := t.FDTable().GetFile(int32(a[0]))
		if err != nil {
			return 0, unix.EBADF
		}
		defer f.DecRef()
		l := f.Impl().(*listener)
		var deadline time.Time
		if a[1] != 0 {
			deadline = time.Now().Add(time.Duration(a[1]) * time.Millisecond)
		}
		for {
			if id, ok := l.take(); ok {
				return uintptr(id), 0
			}
			switch e := t.Block(f, syscalls.Wait{Mask: waiter.EventIn, Deadline: deadline, Interrupted: code}); e {
			case 0:
			case unix.ETIMEDOUT:
				return 0, unix.EAGAIN
			default:
				return 0, e
			}
		}
	}
}

const (
	sigUSR1 = 1 << (unix.SIGUSR1 - 1)
	sigUSR2 = 1 << (unix.SIGUSR2 - 1)
	sigHUP  = 1 << (unix.SIGHUP - 1)
)

// TestHandlerRestartCodes: what Syscall makes of each restart code a
// blocked handler returns, when a Stop ends it (no handler runs: every
// restart code restarts) and when signals are delivered (the lowest one
// decides: ERESTARTSYS restarts if its handler has SA_RESTART,
// ERESTARTNOINTR always, ERESTARTNOHAND and ERESTART_RESTARTBLOCK never),
// as Linux's handle_signal decides; plain EINTR is never restarted.
// Checked on Linux 6.18: a read blocked on a pipe, with SIGUSR2 then
// SIGUSR1 sent while the process was stopped, then SIGCONT, is restarted
// if SIGUSR1's handler has SA_RESTART and fails with EINTR if only
// SIGUSR2's has; ppoll fails with EINTR even with SA_RESTART.
func TestHandlerRestartCodes(t *testing.T) {
	for _, c := range []struct {
		code      unix.Errno
		signals   uint64 // 0: Stop
		saRestart uint64
		want      unix.Errno
	}{
		{syscalls.ErrRestart, 0, 0, syscalls.ErrRestart},
		{syscalls.ErrRestart, sigUSR1, 0, unix.EINTR},
		{syscalls.ErrRestart, sigUSR1, sigUSR1, syscalls.ErrRestart},
		{syscalls.ErrRestart, sigUSR1 | sigUSR2, sigUSR1, syscalls.ErrRestart},
		{syscalls.ErrRestart, sigHUP | sigUSR1, sigUSR1, unix.EINTR},
		{syscalls.ErrRestartNoIntr, sigUSR1, 0, syscalls.ErrRestart},
		{syscalls.ErrRestartNoIntr, 0, 0, syscalls.ErrRestart},
		{syscalls.ErrRestartNoHand, 0, 0, syscalls.ErrRestart},
		{syscalls.ErrRestartNoHand, sigUSR1, sigUSR1, unix.EINTR},
		{syscalls.ErrRestartBlock, 0, 0, syscalls.ErrRestart},
		{syscalls.ErrRestartBlock, sigUSR1, sigUSR1, unix.EINTR},
		{unix.EINTR, 0, 0, unix.EINTR},
		{unix.EINTR, sigUSR1, sigUSR1, unix.EINTR},
	} {
		x := newExt(t, syscalls.AMD64)
		var restarting []bool
		x.k.RegisterSyscall(syscalls.AMD64, 400, waitHandler(c.code, &restarting))
		l := &listener{}
		lfd := x.install(l, unix.O_RDWR)
		x.t.SetRestartSignals(c.saRestart)
		whenQueued(&l.queue, func() {
			if c.signals == 0 {
				x.t.Stop()
				return
			}
			// Both at once, as if they had been blocked and unblocked.
			old := x.t.SetSignalMask(^uint64(0))
			for sig := 1; sig <= 64; sig++ {
				if c.signals&(1<<(sig-1)) != 0 {
					x.t.Interrupt(sig)
				}
			}
			x.t.SetSignalMask(old)
		})
		_, e := x.t.Syscall(400, [6]uintptr{lfd})
		if c.signals == 0 {
			x.t.Continue()
		}
		if e != c.want {
			t.Errorf("code %d, signals %#x, SA_RESTART %#x: %s, want %s", c.code, c.signals, c.saRestart, errName(e), errName(c.want))
		}
		if got := x.t.SignalsDelivered(); got != c.signals {
			t.Errorf("code %d, signals %#x: SignalsDelivered %#x", c.code, c.signals, got)
		}
	}
}

// TestHandlerRestartBlock: a call that returned ErrRestartBlock and was
// restarted is told so (Restarting) when issued again with the same number
// and arguments, and only then; a call in between forgets it.
func TestHandlerRestartBlock(t *testing.T) {
	x := newExt(t, syscalls.AMD64)
	var restarting []bool
	x.k.RegisterSyscall(syscalls.AMD64, 400, waitHandler(syscalls.ErrRestartBlock, &restarting))
	l := &listener{}
	lfd := x.install(l, unix.O_RDWR)
	args := [6]uintptr{lfd}
	stopped := func() {
		x.t.Stop()
		if _, e := x.t.Syscall(400, args); e != syscalls.ErrRestart {
			t.Fatalf("stopped: %s", errName(e))
		}
		x.t.Continue()
	}
	stopped()
	l.connect(5)
	if n, e := x.t.Syscall(400, args); n != 5 || e != 0 {
		t.Fatalf("re-issued: %d %s", n, errName(e))
	}
	stopped()
	x.t.Syscall(syscalls.AMD64Getrlimit, [6]uintptr{unix.RLIMIT_NOFILE, extBase}) // another call
	l.connect(6)
	x.t.Syscall(400, args)
	stopped()
	l.connect(7)
	x.t.Syscall(400, [6]uintptr{lfd, 0, 1}) // other arguments
	want := []bool{false, true, false, false, false, false}
	if len(restarting) != len(want) {
		t.Fatalf("restarting %v, want %v", restarting, want)
	}
	for i := range want {
		if restarting[i] != want[i] {
			t.Fatalf("restarting %v, want %v", restarting, want)
		}
	}
}

// TestBlockDeadline: Block returns ETIMEDOUT once the deadline passes, not
// before.
func TestBlockDeadline(t *testing.T) {
	x := newExt(t, syscalls.AMD64)
	var restarting []bool
	x.k.RegisterSyscall(syscalls.AMD64, 400, waitHandler(syscalls.ErrRestart, &restarting))
	lfd := x.install(&listener{}, unix.O_RDWR)
	start := time.Now()
	if _, e := x.t.Syscall(400, [6]uintptr{lfd, 30}); e != unix.EAGAIN {
		t.Errorf("timed wait: %s, want EAGAIN", errName(e))
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("timed out after %v", d)
	}
}

// TestBlockWakeupWinsOverSignal: a connection and a signal arrive together
// for an exclusive waiter blocked in accept4. The waiter took the wake-one
// wakeup, so it must take the connection (as Linux's accept re-checks its
// queue before the pending signal): no other waiter was woken for it. The
// signal is delivered on the way out.
func TestBlockWakeupWinsOverSignal(t *testing.T) {
	for i := 0; i < 50; i++ {
		x := newExt(t, syscalls.AMD64)
		x.k.RegisterSyscall(syscalls.AMD64, amd64EmbedderAccept, accept4)
		l := &listener{}
		lfd := x.install(l, unix.O_RDWR)
		// The connection and the signal both arrive before the task can
		// take the connection: the wakeup is sent and the signal made
		// pending under the listener's lock, which the handler's retry
		// needs (take), so the call cannot end between the two.
		whenQueued(&l.queue, func() {
			l.mu.Lock()
			l.backlog = append(l.backlog, 1)
			l.queue.Notify(waiter.EventIn | waiter.EventRdNorm)
			x.t.Interrupt(int(unix.SIGUSR1))
			l.mu.Unlock()
		})
		if _, e := x.t.Syscall(amd64EmbedderAccept, [6]uintptr{lfd}); e != 0 {
			t.Fatalf("round %d: accept4 %s with a connection queued for it", i, errName(e))
		}
		if x.t.SignalsDelivered() != sigUSR1 {
			t.Fatalf("round %d: delivered %#x", i, x.t.SignalsDelivered())
		}
	}
}
