package syscalls

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

func panicMessage(fn func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	fn()
	return ""
}

// TestSyscallAfterExit: Syscall and a second Exit after Exit panic naming
// the misuse.
func TestSyscallAfterExit(t *testing.T) {
	x := newTT(t, AMD64)
	x.t.Exit()
	if msg := panicMessage(func() { x.t.Syscall(AMD64Close, [6]uintptr{0}) }); msg != "syscalls: Task.Syscall after Task.Exit" {
		t.Errorf("Syscall after Exit: panic %q", msg)
	}
	if msg := panicMessage(func() { x.t.Syscall(400, [6]uintptr{}) }); msg != "syscalls: Task.Syscall after Task.Exit" {
		t.Errorf("unserved Syscall after Exit: panic %q", msg)
	}
	if msg := panicMessage(x.t.Exit); msg != "syscalls: Task.Exit called twice" {
		t.Errorf("second Exit: panic %q", msg)
	}
}

// errFile is a foreign file type whose reads and writes fail with err.
type errFile struct{ err error }

func (e *errFile) Read(*fs.File, []byte) (int, error)  { return 0, e.err }
func (e *errFile) Write(*fs.File, []byte) (int, error) { return 0, e.err }
func (e *errFile) Release(*fs.File)                    {}

// TestFileErrorNotErrno: a file type that returns an error that is not a
// unix.Errno makes the call panic, naming the type and the error; a
// wrapped errno is unwrapped.
func TestFileErrorNotErrno(t *testing.T) {
	x := newTT(t, AMD64)
	install := func(err error) uintptr {
		n, ierr := x.t.fds.Install(fs.New(&errFile{err}, unix.O_RDWR|unix.O_NONBLOCK), 0, false)
		if ierr != nil {
			t.Fatal(ierr)
		}
		return uintptr(n)
	}
	bad := install(errors.New("disk on fire"))
	want := `syscalls: file type *syscalls.errFile returned the error "disk on fire" (*errors.errorString), which is not a unix.Errno`
	for _, id := range []sysID{sysRead, sysWrite} {
		if msg := panicMessage(func() { x.call(id, bad, memBase, 8) }); !strings.HasPrefix(msg, want) {
			t.Errorf("syscall %d: panic %q, want %q...", id, msg, want)
		}
	}
	wrapped := install(fmt.Errorf("device: %w", unix.EIO))
	if _, e := x.call(sysRead, wrapped, memBase, 8); e != unix.EIO {
		t.Errorf("wrapped errno: %v", e)
	}
}

// badCreator is a FileCreator whose eventfds fail with a non-errno error.
type badCreator struct{ ModelFiles }

func (badCreator) Eventfd(uint64, uint32) (*fs.File, error) { return nil, errors.New("no eventfds") }

// TestCreatorErrorNotErrno: a FileCreator returning a non-errno error
// panics naming its type.
func TestCreatorErrorNotErrno(t *testing.T) {
	x := newTT(t, AMD64)
	x.k.SetFileCreator(badCreator{})
	want := `syscalls: file creator syscalls.badCreator returned the error "no eventfds"`
	if msg := panicMessage(func() { x.call(sysEventfd2, 0, 0) }); !strings.HasPrefix(msg, want) {
		t.Errorf("panic %q, want %q...", msg, want)
	}
}

// TestBlockOnNonPollable: Task.Block on a file without poll operations
// panics naming its type.
func TestBlockOnNonPollable(t *testing.T) {
	x := newTT(t, AMD64)
	f := fs.New(&errFile{}, unix.O_RDWR)
	defer f.DecRef()
	want := "syscalls: Task.Block on a file whose type *syscalls.errFile has no poll operations (fs.Pollable)"
	if msg := panicMessage(func() { x.t.Block(f, Wait{Mask: waiter.EventIn}) }); msg != want {
		t.Errorf("panic %q, want %q", msg, want)
	}
}

// TestDequeueSignal: DequeueSignal takes the lowest pending signal of its
// mask, blocked or not, one at a time, and a taken signal is never
// delivered.
func TestDequeueSignal(t *testing.T) {
	x := newTT(t, AMD64)
	x.t.SetSignalMask(1 << (unix.SIGUSR2 - 1))
	x.t.Interrupt(int(unix.SIGUSR2))
	x.t.Interrupt(int(unix.SIGUSR1))
	x.t.Interrupt(int(unix.SIGHUP))
	mask := uint64(1<<(unix.SIGUSR1-1) | 1<<(unix.SIGUSR2-1))
	for _, want := range []int{int(unix.SIGUSR1), int(unix.SIGUSR2), 0} {
		if got := x.t.DequeueSignal(mask); got != want {
			t.Errorf("DequeueSignal = %d, want %d", got, want)
		}
	}
	if x.t.DeliverPendingSignals() != 1<<(unix.SIGHUP-1) || x.t.Delivered(int(unix.SIGUSR1)) != 0 || x.t.SignalPending() {
		t.Errorf("delivered USR1 %d, pending %#x", x.t.Delivered(int(unix.SIGUSR1)), x.t.PendingSignals())
	}
}
