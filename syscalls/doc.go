// Package syscalls is guestpoll's Linux-ABI syscall layer. A guest thread is
// a Task; it issues Task.Syscall(nr, args) with the syscall numbers of its
// Arch (AMD64 or ARM64), and pointer arguments are addresses in its Memory.
// Handlers decode and validate the arguments in Linux's order (the errno
// that wins when several checks fail is the one Linux reports: see
// docs/semantics.md#create, #ctl-order and #wait), then call into the kernel
// model: the fd table (kernel/fd), files (kernel/fs) and epoll
// (kernel/epoll).
//
// # What the package owns
//
//   - The syscall tables per arch and the handlers: epoll_create[1],
//     epoll_ctl, epoll_wait/pwait/pwait2, read/write/readv/writev, close,
//     close_range, dup/dup2/dup3, fcntl, poll/ppoll, pipe/pipe2,
//     eventfd/eventfd2, socket/socketpair/shutdown (AF_UNIX only),
//     timerfd_create/settime/gettime, getrlimit/setrlimit/prlimit64,
//     clock_gettime, memfd_create. Any other number is ENOSYS.
//   - The guest ABI: struct epoll_event is 12 bytes packed (data at 4) on
//     amd64 and 16 bytes (data at 8) on arm64; timespec, itimerspec, iovec,
//     pollfd, rlimit and sigset_t are their 64-bit layouts.
//   - Blocking: a Task is the epoll.Blocker of its epoll_wait calls and
//     sleeps the same way in read, write and poll, on one reusable
//     waiter.Sleeper (whose token a wakeup or an unblocked signal posts)
//     and one time.Timer.
//   - Signals, as far as syscalls see them: Interrupt makes a signal pending;
//     one not blocked by the task's mask ends a sleep (EINTR) and is
//     consumed ("its handler runs") when the syscall returns. pwait, pwait2
//     and ppoll install their temporary mask for the call; on EINTR the
//     handler runs under it, otherwise the old mask is restored first.
//     Dispositions belong to the embedder, which owns signal delivery: it
//     calls Interrupt only for a signal Linux would deliver to the thread
//     (never one that is ignored, SIG_IGN or by default, since Linux
//     discards those without waking anybody), and acts itself on fatal
//     ones (SIGKILL ends the guest; the model need not see it).
//   - Stopping (stop.go): Stop ends a blocking call without a signal, as
//     Linux ends it for a thread stopped and continued (epoll waits EINTR;
//     reads, writes and polls that did nothing ErrRestart, for the
//     embedder to issue again), so that a checkpoint can be taken; it
//     lasts until Continue and is safe from any goroutine.
//   - Files come only from the syscalls served here, so there are no O_PATH
//     files; an embedder that installs files of its own must not install
//     one (every served syscall would treat it as an ordinary file).
//   - GuestMemory, an in-process Memory with lazily allocated pages.
//   - FDInfo, the text of /proc/self/fdinfo/N.
//   - Checkpoint state (state.go, for package checkpoint): the kernel's
//     settings and fdinfo inode numbers, each task's signal mask, pending
//     and delivered signals and rlimits, and GuestMemory's mappings and
//     pages, as plain values and back. A task must be outside Syscall
//     while it is saved.
//
// # Invariants
//
//   - A handler never keeps a file reference past its return, except the
//     ones held by the fd table.
//   - Blocking waits register the task's entries only while the call runs;
//     when Syscall returns, no entry of the task is on any wait queue.
//   - Steady-state syscalls allocate nothing: the event chunk, the I/O
//     buffer, the iovec and pollfd arrays are per-task scratch, grown at
//     most once to the largest size used (the I/O buffer, which only staged
//     reads and writes use, lazily and by powers of two up to 64 KiB, so
//     a task that never stages costs nothing: iobuf.go).
//   - Events are copied out chunk by chunk; a fault in slot k > 0 returns k
//     and leaves the rest queued (epoll.EventWriter's contract).
//
// # Concurrency and lock order
//
// A Task is one thread: Syscall must not be called concurrently on the same
// Task; its scratch state needs no lock. Only Interrupt, Stop, Continue,
// SetSignalMask and the signal accessors are safe from other goroutines;
// Task.sigMu guards the mask, the pending set and the stop, and is a leaf lock (nothing is acquired under
// it but the sleeper's channel, to post its token); a lockless mirror of
// "an unblocked signal is pending" lets SignalPending and the end of every
// syscall skip it. The fd table has its own lock, taken and released inside each fd.Table
// call; files are used outside it with a reference. Epoll and file locks
// are taken inside the kernel packages, never while the syscall layer holds
// sigMu. GuestMemory has its own RWMutex, also a leaf. Kernel.inoMu (fdinfo
// inode numbers) is a leaf taken only by FDInfo.
package syscalls
