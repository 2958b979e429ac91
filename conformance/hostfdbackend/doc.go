// Package hostfdbackend registers the conformance suite's "hostfd"
// backend: the model kernel of the "model" backend, entered through the
// syscall layer, except that every pipe, eventfd, socketpair, socket and
// timerfd a script creates is a real host fd imported through package
// hostfd (epoll itself, the fd table and regular files stay the model's).
//
// Blank-import it to make the backend available:
//
//	import _ "github.com/guestpoll/guestpoll/conformance/hostfdbackend"
//
// Invariants: one Machine is one guest process on a fresh kernel with a
// bridge of its own (one poller); each script thread is one syscalls.Task;
// Close closes every fd left, stops the bridge, and fails if an epoll
// registration survived or a host fd is still open.
//
// Lock order: Machine.mu guards the task map and the allocation cursor and
// is never held across a system call.
package hostfdbackend
