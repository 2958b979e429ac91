// Package modelbackend registers the conformance suite's "model" backend:
// every script runs on a fresh model kernel, entered only through the
// syscall layer (package syscalls), with one guest task per script thread.
//
// Blank-import it to make the backend available:
//
//	import _ "github.com/guestpoll/guestpoll/conformance/modelbackend"
//
// Invariants: one Machine is one guest process (an fd table and an address
// space) on a fresh kernel; each script thread is one syscalls.Task created
// by StartThread and forgotten by StopThread; Close closes every fd left and
// fails if any epoll registration survived, so leaks in the model show up as
// backend errors.
//
// Lock order: Machine.mu guards the task map and the allocation cursor and
// is never held across a system call (its fields are +checklocks:mu, as
// docs/locking.md says). The kernel, table and memory are
// fixed except by ReplaceProcess (the model-cr backend's swap to a restored
// copy), which may run only while no system call is in progress.
package modelbackend
