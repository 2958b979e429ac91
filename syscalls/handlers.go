package syscalls

import (
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// The embedder's syscalls: handlers a Kernel serves beside the package's
// own, by number per arch, and a fallback for any number nothing serves.

// Handler serves one syscall for an embedder: t is the calling task (its
// memory, fd table, Block, signal state), args the six raw arguments as the
// guest passed them. It returns the result, or an errno: a unix errno for
// the guest, or a restart code (ErrRestart, ErrRestartNoIntr,
// ErrRestartNoHand, ErrRestartBlock: restart.go) that Syscall settles into
// ErrRestart or EINTR as it does for its own calls. It runs on the task's
// goroutine, like the package's handlers; it must not call Syscall of its
// own task (the task runs one call at a time), nor keep a file reference
// past its return except ones it stores in an fd table.
type Handler func(t *Task, args [6]uintptr) (uintptr, unix.Errno)

// handlerTable is a kernel's registered handlers; a table is never changed
// once published, so Syscall reads it without a lock.
type handlerTable struct {
	byNr     [2][maxSysNr]Handler // by Arch, then number
	fallback Handler
}

// handlerRegistry is the Kernel's: regMu serialises registrations, which
// publish a new table.
type handlerRegistry struct {
	regMu sync.Mutex
	table atomic.Pointer[handlerTable]
}

// RegisterSyscall makes the kernel's tasks of arch serve syscall nr with h
// (a nil h removes the handler). Registering a number the package serves
// itself for arch, a number of maxSysNr (512) or more, or an unknown arch
// panics. Safe at any time from any goroutine; a call already running
// keeps the handler it started with.
func (k *Kernel) RegisterSyscall(arch Arch, nr uintptr, h Handler) {
	if arch != AMD64 && arch != ARM64 {
		panic(fmt.Sprintf("syscalls: Kernel.RegisterSyscall for unknown arch %d", int(arch)))
	}
	if nr >= maxSysNr {
		panic(fmt.Sprintf("syscalls: Kernel.RegisterSyscall(%v, %d): numbers stop at %d", arch, nr, maxSysNr-1))
	}
	if archTable(arch)[nr] != sysNone {
		panic(fmt.Sprintf("syscalls: Kernel.RegisterSyscall(%v, %d): the package serves that syscall itself", arch, nr))
	}
	k.handlers.update(func(tab *handlerTable) { tab.byNr[arch][nr] = h })
}

// SetFallbackSyscall makes h serve every syscall number that neither the
// package nor RegisterSyscall serves for the calling task's arch (nil: such
// numbers are ENOSYS again). The handler learns the number from
// Task.CurrentSyscall. Safe at any time from any goroutine.
func (k *Kernel) SetFallbackSyscall(h Handler) {
	k.handlers.update(func(tab *handlerTable) { tab.fallback = h })
}

// update publishes a copy of the table changed by change.
func (r *handlerRegistry) update(change func(*handlerTable)) {
	r.regMu.Lock()
	defer r.regMu.Unlock()
	next := new(handlerTable)
	if cur := r.table.Load(); cur != nil {
		*next = *cur
	}
	change(next)
	r.table.Store(next)
}

// lookup returns the handler for nr on arch, or nil.
func (r *handlerRegistry) lookup(arch Arch, nr uintptr) Handler {
	tab := r.table.Load()
	if tab == nil {
		return nil
	}
	if nr < maxSysNr {
		if h := tab.byNr[arch][nr]; h != nil {
			return h
		}
	}
	return tab.fallback
}

func archTable(arch Arch) *[maxSysNr]sysID {
	if arch == ARM64 {
		return &arm64Table
	}
	return &amd64Table
}

// CurrentSyscall returns the number of the embedder's syscall the task is
// running (for a fallback Handler, which serves many); between calls, or
// during one of the package's own, the last embedder's call's.
func (t *Task) CurrentSyscall() uintptr { return t.nr }

// foreignSyscall is Syscall for a number the package does not serve: the
// kernel's handler if there is one, with the same signal delivery and
// restart decision as the package's own calls.
func (t *Task) foreignSyscall(nr uintptr, args *[6]uintptr) (uintptr, unix.Errno) {
	h := t.k.handlers.lookup(t.arch, nr)
	if h == nil {
		t.callDelivered = 0
		return 0, unix.ENOSYS
	}
	t.nr = nr
	t.callDelivered = 0
	if t.restart.state != restartNone {
		t.restart.begin(nr, args)
	}
	r, e := h(t, *args)
	t.deliverSignals()
	if e == 0 {
		return r, 0
	}
	if isRestartCode(e) {
		e = t.finishInterrupted(nr, args, e)
	}
	return 0, e
}
