// Package modelbackend registers the conformance suite's "model" backend:
// every script runs on a fresh model kernel, entered only through the
// syscall layer (package syscalls), with one guest task per script thread.
//
// Blank-import it to make the backend available:
//
//	import _ "github.com/guestpoll/guestpoll/conformance/modelbackend"
//
// Invariants: one Machine is the script's guest process (an fd table and
// an address space, a syscalls.Process) on a fresh kernel, and the
// processes it forks (conformance.ProcessMachine, processes.go: each a
// Task.Fork with an address space of its own); each script thread is one
// syscalls.Task created by StartThread (or by Fork, for a child's main
// thread) and forgotten by StopThread; Close kills the children still
// running, closes every fd left and fails if any epoll registration
// survived, so leaks in the model show up as backend errors.
//
// Lock order: Machine.mu guards the task map, the children and the
// allocation cursor and is never held across a system call (these fields
// are +checklocks:mu, as docs/locking.md says); a child's memory has its
// own lock for its cursor, taken alone. The kernel, table and memory are
// fixed except by ReplaceProcess (the model-cr backend's swap to a restored
// copy), which may run only while no system call is in progress.
package modelbackend
