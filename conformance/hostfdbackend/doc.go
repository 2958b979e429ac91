// Package hostfdbackend registers the conformance suite's "hostfd"
// backend: the model kernel of the "model" backend, entered through the
// syscall layer, except that every pipe, eventfd, socketpair, socket and
// timerfd a script creates is a real host fd imported through package
// hostfd (epoll itself, the fd table and regular files stay the model's).
// The version 3 socket steps act on host sockets: listen_socket binds and
// listens on the host (its abstract address, private by the run's nonce,
// is in the host's namespace), connect connects a new host socket,
// accept4 accepts on the host and imports the new fd, and send and recv
// with flags are the host's sendto and recvfrom.
// The "hostfd-epoll" backend is the same with a bridge whose notifier is
// hostfd.NotifyEpoll (an edge-triggered host epoll) instead of the
// default ppoll pollers.
//
// Blank-import it to make the backend available:
//
//	import _ "github.com/guestpoll/guestpoll/conformance/hostfdbackend"
//
// The backend is isolated: each script runs in a fresh child process (as
// the linux backend's do). In the runner's own process, the children that
// other backends start are forked with copies of every host fd, which they
// hold until they exec; a script's close of a pipe end could then reach
// the host after its next step, and the other end would not yet report
// HUP or ERR. A child process runs one script and forks nothing.
//
// Invariants: one Machine is one guest process on a fresh kernel with a
// bridge of its own (one poller); each script thread is one syscalls.Task;
// every system call starts with hostfd.Bridge.Sync, so that the host
// events that happened before it (a timer that expired during a sleep
// step) have reached the model's queues, whatever the load;
// Close closes every fd left, stops the bridge, and fails if an epoll
// registration survived or a host fd is still open.
//
// The Machine is modelbackend's (tasks, guest memory, fdinfo, invariant
// checks) with Sync added before each call and the host fd count to Close;
// its lock order is modelbackend's.
package hostfdbackend
