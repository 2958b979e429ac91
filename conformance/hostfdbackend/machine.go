package hostfdbackend

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/guestpoll/guestpoll/conformance"
	"github.com/guestpoll/guestpoll/conformance/modelbackend"
	"github.com/guestpoll/guestpoll/hostfd"
	"github.com/guestpoll/guestpoll/syscalls"
)

func init() {
	conformance.Register(conformance.BackendSpec{
		Name:       "hostfd",
		NewMachine: func() (conformance.Machine, error) { return NewWith(hostfd.NotifyPpoll) },
		// A fresh child process per script, as for linux: a process
		// that forks meanwhile (the linux backend's children, started
		// from the runner's process) holds copies of every host fd
		// until its child execs, so a close would reach the host late
		// (a pipe's other end not seeing HUP or ERR yet).
		Isolated: true,
		Doc:      "the kernel model with every pipe, eventfd, socket and timerfd a real host fd (package hostfd), in a child process per script",
	})
	conformance.Register(conformance.BackendSpec{
		Name:       "hostfd-epoll",
		NewMachine: func() (conformance.Machine, error) { return NewWith(hostfd.NotifyEpoll) },
		Isolated:   true, // as "hostfd"
		Doc:        "the hostfd backend with a bridge that learns host readiness from an edge-triggered host epoll (hostfd.NotifyEpoll)",
	})
}

// Machine is the model backend's machine on a kernel whose files are host
// fds: it adds the bridge's Sync before every system call and the host
// fd check to Close.
type Machine struct {
	*modelbackend.Machine
	bridge *hostfd.Bridge
}

// New returns a machine with a fresh kernel, a bridge of its own (the
// default notifier, ppoll) and an empty process.
func New() (*Machine, error) { return NewWith(hostfd.NotifyPpoll) }

// NewWith is New with a bridge that uses notifier.
func NewWith(notifier hostfd.Notifier) (*Machine, error) {
	b, err := hostfd.NewBridge(hostfd.Options{Shards: 1, Notifier: notifier})
	if err != nil {
		return nil, err
	}
	k := syscalls.NewKernel()
	k.SetFileCreator(b)
	return &Machine{Machine: modelbackend.NewOnKernel(k), bridge: b}, nil
}

// Syscall runs one system call on t's task once the host events that
// already happened (a host timerfd expiring during a sleep step) have
// reached the model's queues, as Linux delivers them at once: otherwise a
// poller that the host scheduler has not run yet makes the result depend
// on the load.
func (m *Machine) Syscall(t conformance.ThreadID, nr uintptr, args [6]uintptr) (uintptr, syscall.Errno) {
	m.bridge.Sync()
	return m.Machine.Syscall(t, nr, args)
}

// Close closes whatever fds the script left open, so every file is
// released and every host fd closed, then stops the bridge's poller; it
// fails if a registration or a host fd survived.
func (m *Machine) Close() error {
	err := m.Machine.Close()
	live := m.bridge.Live()
	m.bridge.Close()
	if live != 0 {
		err = errors.Join(err, fmt.Errorf("hostfd: %d host fds still open after every fd was closed", live))
	}
	return err
}
