// Package minikernel is a tiny user-space kernel built on guestpoll's
// exported API only, as a kernel author outside the module would build
// one: the proof that a foreign file type, a foreign system call and the
// task signal hook work through every layer (epoll, the syscall table,
// blocking and restarts, host fds, checkpoint). docs/embedding.md is the
// guide it follows.
//
// # What it owns
//
//   - Kernel (kernel.go): a syscalls.Kernel whose x86-64 table also serves
//     accept4 (SysAccept4) and signalfd4 (SysSignalfd4), registered with
//     Kernel.RegisterSyscall; a hostfd.Bridge; host listeners donated by
//     name (ImportListener), kept to be given again to a restored kernel;
//     Checkpoint and Restore of the whole kernel.
//   - Listener (listener.go): a listening socket of the kernel's own with
//     an accept queue of model AF_UNIX connections; Connect is the
//     connecting side's entry point (a Go method: the peer is outside
//     the guest). Readiness and wakeup keys are a listening AF_UNIX
//     socket's.
//   - accept4 (accept.go) on a Listener or on an imported host socket,
//     whose accept the kernel performs on the host fd through hostfd.Do
//     and whose accepted host fd it imports; a blocking accept is an
//     exclusive waiter (Task.Block), so one connection wakes one task.
//   - Signalfd (signalfd.go): a signalfd fed by the task signal hook
//     (Task.SignalRegister, PendingSignals, DequeueSignal), with
//     signalfd4 and the fdinfo line sigmask.
//   - The checkpoint types (checkpoint.go): a Listener saves its backlog
//     and names its queued connections (SaveContext.Ref); a Signalfd
//     saves its task's index and mask and is linked to the restored task
//     in a deferred function. Both restore their readiness exactly
//     (checkpoint.ReadinessExact). A host listener is saved by its name.
//   - Example_epollAlone (a test file) shows the other integration level:
//     a kernel with its own open-file type using kernel/epoll alone,
//     through shadow fs.Files and its own epoll.Blocker.
//
// # Invariants
//
//   - Every host fd the kernel holds is closed exactly once: imported ones
//     by their File's release (package hostfd), the donors' copies by
//     Close.
//   - A Listener holds one reference on each queued connection; accept
//     hands it to the fd table, Release drops the rest.
//   - A Signalfd's forwarding entry is on its task's signal queue from
//     creation (or the restore's deferred link) to its release.
//   - Handlers keep no file reference past their return but the ones an
//     fd table holds (an fd number accept4 reserved is installed or
//     given back before it returns).
//
// # Lock order
//
//	task signal queue  >  Signalfd.q            (forwarding wakeups)
//	Listener.mu, Kernel.mu: leaves; no queue is notified under them
//
// Listener.q is notified after Listener.mu is released (package waiter's
// rule). Kernel.mu guards the donors' map; hostfd.Do runs with no lock of
// this package held. The guarded fields carry +checklocks annotations
// (docs/locking.md).
package minikernel
