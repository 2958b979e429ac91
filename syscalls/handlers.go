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
// once published, so Syscall reads it without a lock. overrides marks the
// numbers the package serves itself whose handler the embedder replaced.
type handlerTable struct {
	byNr      [2][maxSysNr]Handler // by Arch, then number
	overrides [2][maxSysNr / 64]uint64
	fallback  Handler
}

// handlerRegistry is the Kernel's: regMu serialises registrations, which
// publish a new table. anyOverride is set once an embedder replaced one of
// the package's handlers, so that until then the package's own dispatch
// pays one load for the possibility.
type handlerRegistry struct {
	regMu       sync.Mutex
	table       atomic.Pointer[handlerTable]
	anyOverride atomic.Bool
}

// RegisterSyscall makes the kernel's tasks of arch serve syscall nr with h
// (a nil h removes the handler). A number the package serves itself may be
// registered too: h then replaces the package's handler for this kernel
// (an embedder whose own socket types accept connections serves accept4),
// and Kernel.Builtin still returns the package's, for h to delegate to; a
// nil h gives the number back to the package. A number of maxSysNr (512)
// or more, or an unknown arch, panics. Safe at any time from any
// goroutine; a call already running keeps the handler it started with.
func (k *Kernel) RegisterSyscall(arch Arch, nr uintptr, h Handler) {
	if arch != AMD64 && arch != ARM64 {
		panic(fmt.Sprintf("syscalls: Kernel.RegisterSyscall for unknown arch %d", int(arch)))
	}
	if nr >= maxSysNr {
		panic(fmt.Sprintf("syscalls: Kernel.RegisterSyscall(%v, %d): numbers stop at %d", arch, nr, maxSysNr-1))
	}
	served := archTable(arch)[nr] != sysNone
	k.handlers.update(func(tab *handlerTable) {
		tab.byNr[arch][nr] = h
		if served {
			bit := uint64(1) << (nr % 64)
			tab.overrides[arch][nr/64] &^= bit
			if h != nil {
				tab.overrides[arch][nr/64] |= bit
			}
		}
	})
	if served && h != nil {
		k.handlers.anyOverride.Store(true)
	}
}

// Builtin returns the package's own handler for syscall nr of arch as a
// Handler, or nil if the package does not serve it: an embedder's handler
// that replaced it (RegisterSyscall) calls it for the cases it leaves to
// the package. The returned handler reports an interrupted call with the
// restart code the package's call uses (ERESTARTSYS for reads and writes,
// ERESTART_RESTARTBLOCK for poll, ERESTARTNOHAND for ppoll, EINTR for the
// epoll waits), which Syscall settles as usual.
func (k *Kernel) Builtin(arch Arch, nr uintptr) Handler {
	if (arch != AMD64 && arch != ARM64) || nr >= maxSysNr {
		return nil
	}
	id := archTable(arch)[nr]
	h := handlers[id]
	if h == nil {
		return nil
	}
	return func(t *Task, args [6]uintptr) (uintptr, unix.Errno) {
		t.args = args
		r, e := h(t, &t.args)
		if e == unix.EINTR {
			e = builtinRestartCode(id)
		}
		return r, e
	}
}

// overridden reports whether the embedder replaced the package's handler
// for nr on arch (nr < maxSysNr).
func (r *handlerRegistry) overridden(arch Arch, nr uintptr) bool {
	if !r.anyOverride.Load() {
		return false
	}
	tab := r.table.Load()
	return tab.overrides[arch][nr/64]&(1<<(nr%64)) != 0
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
