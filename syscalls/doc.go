// Package syscalls is guestpoll's Linux-ABI syscall layer. A guest thread is
// a Task; it issues Task.Syscall(nr, args) with the syscall numbers of its
// Arch (AMD64 or ARM64), and pointer arguments are addresses in its Memory.
// Handlers decode and validate the arguments in Linux's order (the errno
// that wins when several checks fail is the one Linux reports, as in
// do_epoll_create, do_epoll_ctl and do_epoll_wait: see docs/semantics.md
// #create, #ctl-order and #wait), then call into the kernel model: the fd
// table (kernel/fd), files (kernel/fs) and epoll (kernel/epoll). An
// embedder adds its own syscalls beside them.
//
// # What the package owns
//
//   - The syscall tables per arch and the handlers: epoll_create[1],
//     epoll_ctl, epoll_wait/pwait/pwait2, read/write/readv/writev, close,
//     close_range, dup/dup2/dup3, fcntl, poll/ppoll, pipe/pipe2,
//     eventfd/eventfd2, socket/socketpair/shutdown (AF_UNIX only),
//     bind/listen/connect/accept/accept4 (AF_UNIX stream and seqpacket,
//     abstract addresses in the kernel's fs.UnixNamespace), sendto/recvfrom
//     (MSG_OOB, MSG_PEEK, MSG_DONTWAIT, MSG_NOSIGNAL), fcntl's
//     F_SETPIPE_SZ/F_GETPIPE_SZ, mkdirat/mknodat(S_IFIFO)/openat/unlinkat
//     on the kernel's fs.PathNamespace of directories and FIFOs (a
//     blocking FIFO open waits for the other side),
//     timerfd_create/settime/gettime, getrlimit/setrlimit/prlimit64,
//     clock_gettime, memfd_create, and for processes and signals
//     rt_sigprocmask, kill, tkill, tgkill, getpid, gettid, getppid,
//     wait4, pidfd_open, signalfd/signalfd4. Any other number is the
//     embedder's (below) or ENOSYS. Kernel.Names and SetNames give a
//     checkpoint the kernel's name tables.
//   - Processes (process.go): a Process is a thread group with a pid, an
//     fd table, an address space, the signals pending for it as a whole,
//     the signals it ignores and its signalfd queue. Kernel.NewProcess
//     makes one without a parent, Process.NewTask its threads, Task.Fork
//     a child with a copy of the task's fd table (every open file shared,
//     epoll instances included) and signal mask; Process.Exit (after its
//     tasks exited) closes a forked process's table, makes it a zombie
//     (its pidfds IN|RDNORM), wakes its parent's wait4 and sends the
//     parent SIGCHLD; wait4 (or Process.Reap) reaps it (pidfds HUP too,
//     pidfd_open ESRCH). Process.Kill is SIGKILL: it ends the process
//     whatever its tasks do. Tasks made by NewTask on one table are the
//     threads of one implicit process, so embedders that never fork need
//     not know about processes.
//   - Signal delivery to processes (signals.go): Process.Signal (kill) is
//     discarded if the process ignores the signal and its main thread
//     does not block it (sig_ignored: SIGCHLD is ignored by default, so a
//     child's SIGCHLD reaches a signalfd only while blocked); otherwise it
//     is made pending on a thread that does not block it (the main thread
//     first, as complete_signal picks), or, if every thread blocks it, for
//     the whole process, where every thread's signalfd sees it and the
//     first thread to unblock it takes it. Task.SendSignal is tgkill's.
//   - pidfds (pidfd.go) and signalfds (signalfd.go). A signalfd has no
//     signals of its own: as Linux's signalfd_poll and signalfd_read use
//     current, its readiness (IN) and reads are the calling thread's
//     pending signals (its own and its process's), and it hooks the
//     calling thread's process's signalfd queue. The calling task reaches
//     it through fs.CallerPollable: epoll passes the thread of the
//     epoll_ctl to the registration (so a registration is woken by the
//     signals of the process that added it) and the thread of epoll_wait
//     to the harvest (so it reports that thread's signals); poll, reads
//     and Task.Block pass the task.
//   - The embedder's syscalls (handlers.go): Kernel.RegisterSyscall serves
//     a number, per arch, with a Handler that gets the Task and the six
//     raw arguments; Kernel.SetFallbackSyscall serves every number nothing
//     else does (Task.CurrentSyscall names it). A number the package
//     serves itself may be registered too: the handler replaces the
//     package's for that kernel (a kernel whose own sockets accept serves
//     accept4), and Kernel.Builtin returns the package's handler for it to
//     delegate to. Registration is safe at any time: the table is copied
//     on write and read without a lock, and until the first replacement
//     the package's own dispatch pays one atomic load for it. An
//     embedder's call gets the same end as the package's: signal delivery
//     and the restart decision.
//   - Blocking for handlers (block.go): Task.Block(Waitable, Wait) is the
//     sleep of the package's own blocking reads and writes, exported, on a
//     pollable file or any wait queue of the embedder's (a Waitable: the
//     task's signal queue, for a call that waits for signals): register
//     on the queue (as an exclusive waiter if asked, for wake-one),
//     re-check the condition (a mask, or a Ready function), sleep until a
//     wakeup, the deadline (ETIMEDOUT) or a signal or Stop (the Wait's
//     restart code, ERESTARTSYS by default), unregister. A wakeup wins
//     over a signal that comes with it, so an exclusive waiter never loses
//     the wakeup it took.
//   - Restarts (restart.go): a handler interrupted by a signal or a Stop
//     returns one of Linux's restart codes (ErrRestart = ERESTARTSYS,
//     ErrRestartNoIntr, ErrRestartNoHand, ErrRestartBlock) or plain EINTR,
//     and Syscall settles it as Linux's signal delivery does: with no
//     handler run, every restart code restarts (Syscall returns
//     ErrRestart: the embedder issues the same call again); otherwise the
//     lowest signal delivered decides, with its SA_RESTART flag
//     (Task.SetRestartSignals, empty by default). The package's own calls
//     return the codes Linux's do (reads and writes ERESTARTSYS, poll
//     ERESTART_RESTARTBLOCK, ppoll ERESTARTNOHAND, the epoll waits EINTR).
//     A call re-issued after ErrRestartBlock sees Task.Restarting.
//   - The guest ABI: struct epoll_event is 12 bytes packed (data at 4) on
//     amd64 and 16 bytes (data at 8) on arm64; timespec, itimerspec, iovec,
//     pollfd, rlimit and sigset_t are their 64-bit layouts.
//   - Blocking: a Task is the epoll.Blocker of its epoll_wait calls and
//     sleeps the same way in read, write and poll, on one reusable
//     waiter.Sleeper (whose token a wakeup or an unblocked signal posts)
//     and one time.Timer.
//   - Signals, as far as syscalls see them (signals.go): Interrupt makes
//     a signal pending; one not blocked by the task's mask ends a sleep
//     (EINTR or a restart) and is consumed ("its handler runs") when the
//     syscall returns; Task.SignalsDelivered tells the embedder which
//     signals a call delivered, so that it runs the guest's handlers.
//     pwait, pwait2 and ppoll install their temporary mask for the call;
//     on EINTR the handler runs under it, otherwise the old mask is
//     restored first. Dispositions belong to the embedder, which owns
//     signal delivery: it calls Interrupt only for a signal Linux would
//     deliver to the thread (never one that is ignored, SIG_IGN or by
//     default, since Linux discards those without waking anybody), acts
//     itself on fatal ones (SIGKILL ends the guest; the model need not see
//     it), and keeps SetRestartSignals equal to its SA_RESTART handlers.
//   - The signalfd hook: each process has a signal queue that Interrupt
//     and Process.Signal notify (key 0, wake-one) every time a signal
//     becomes pending, blocked or not, except a standard signal (below 32)
//     already pending, as Linux's __send_signal calls signalfd_notify;
//     reaping the process notifies it with HUP (signalfd_cleanup).
//     SignalRegister and SignalUnregister hook an entry on it,
//     PendingSignals is a signalfd's readiness and DequeueSignal(mask) its
//     read (the lowest pending signal of the mask, the task's own before
//     its process's, in one step; a dequeued signal is not delivered).
//     With these an embedder can also write a signalfd of its own outside
//     the module (signalfd_test.go does).
//   - SignalPending (epoll.Blocker) is true while an unblocked signal is
//     pending and also while the task is stopped (Stop), so that every
//     sleep ends and none starts.
//   - Stopping (stop.go): Stop ends a blocking call without a signal, as
//     Linux ends it for a thread stopped and continued (epoll waits EINTR;
//     reads, writes and polls that did nothing ErrRestart, for the
//     embedder to issue again; an embedder's handler its restart code,
//     which restarts), so that a checkpoint can be taken; it lasts until
//     Continue and is safe from any goroutine.
//   - Files come only from the syscalls served here, so there are no O_PATH
//     files; an embedder that installs files of its own must not install
//     one (every served syscall would treat it as an ordinary file).
//   - GuestMemory, an in-process Memory with lazily allocated pages.
//   - FDInfo, the text of /proc/self/fdinfo/N.
//   - Checkpoint state (state.go, procstate.go, for package checkpoint):
//     the kernel's settings, next pid and fdinfo inode numbers, each
//     task's signal mask, pending and delivered signals, rlimits, process
//     and tid, each process's place in the tree, state, exit status,
//     shared pending and ignored signals, pidfds' and signalfds' links,
//     and GuestMemory's mappings and pages, as plain values and back. A
//     task must be outside Syscall while it is saved.
//
// # Invariants
//
//   - A handler never keeps a file reference past its return, except the
//     ones held by the fd table.
//   - Blocking waits register the task's entries only while the call runs
//     (Task.Block included); when Syscall returns, no entry of the task is
//     on any wait queue.
//   - Steady-state syscalls allocate nothing (an embedder's handler that
//     blocks through Task.Block included, Ready closure and all): the event chunk, the I/O
//     buffer, the iovec and pollfd arrays are per-task scratch, grown at
//     most once to the largest size used (the I/O buffer, which only staged
//     reads and writes use, lazily and by powers of two up to 64 KiB, so
//     a task that never stages costs nothing: iobuf.go).
//   - Events are copied out chunk by chunk; a fault in slot k > 0 returns k
//     and leaves the rest queued (epoll.EventWriter's contract).
//
// # Errors and misuse
//
// Files (fs.Impl and its optional interfaces) and FileCreators must return
// unix.Errno values; a wrapped errno (fmt.Errorf("...: %w", unix.EIO)) is
// unwrapped, but the blocking loops recognise EAGAIN only unwrapped. The
// package maps no other error: one that is not an errno is a misuse and
// panics, naming the file or creator type and the error. The package's
// own sentinels are errnos too: ErrRestart and the other restart codes.
// An error returned by a SetEventCommit function is the exception: it is
// documented to become EINTR unless it is an errno. A Handler returns an
// errno directly; the restart codes among them are settled, every other
// value reaches the embedder as is.
//
// Other misuse panics with a message naming it: Syscall or Exit after
// Exit, Task.Block on a file without poll operations, RegisterSyscall of
// a number past the table (512) or for an unknown arch, Process.Exit with
// tasks that have not exited or of a process that has exited,
// Process.NewTask or Task.Fork of a process that has exited.
//
// # Concurrency and lock order
//
// A Task is one thread: Syscall must not be called concurrently on the same
// Task; its scratch state (and SignalsDelivered, Restarting) needs no lock.
// Only Interrupt, SendSignal, Stop, Continue, SetSignalMask,
// SetRestartSignals, DequeueSignal, SignalRegister/Unregister, the signal
// accessors and every Process method are safe from other goroutines.
// Processes have their own locks, taken in this order:
//
//	Kernel.procs.mu       (pids, the process tree, exit states)
//	  Process.sigMu       (a process's tasks, its shared pending set)
//	    Task.sigMu        (a task's mask, pending set, delivered counts and stop)
//
// Task.sigMu is a leaf (nothing is acquired under it but the sleeper's
// channel, to post its token); a lockless mirror of "an unblocked signal
// is pending or the task is stopped", refreshed by publishSigMuLocked,
// lets SignalPending and the end of every syscall skip it. Process.shared
// and the process state are atomics
// written under their locks and read without them (PendingSignals,
// pidfd readiness). The process's queues (signalfd, pidfd, wait4) are
// notified only after every one of these locks is released, so their
// wakers may take them (a signalfd's readiness reads PendingSignals):
// queue -> procs.mu/sigMu. A signalfd's hook map lock is a leaf but for
// the queue lock taken under it to (un)hook an entry. The fd table has its own lock, taken and released
// inside each fd.Table call; files are used outside it with a reference.
// Epoll and file locks are taken inside the kernel packages, never while
// the syscall layer holds sigMu; Task.Block holds none of the package's
// locks while it registers, checks and sleeps. GuestMemory has its own
// RWMutex, also a leaf, which Map, Unmap and first writes to a page take;
// CopyIn and CopyOut take no lock: they read a lockless index that every
// change under the lock keeps up to date (memIndex). Kernel.inoMu (fdinfo inode numbers) is a leaf
// taken only by FDInfo. The handler registry's lock is a leaf taken only
// by RegisterSyscall and SetFallbackSyscall; Syscall reads the published
// table with one atomic load.
//
// The guarded fields carry +checklocks annotations, and the functions that
// need a lock are named and annotated as docs/locking.md says (a Task's
// lock is sigMu, so they end in SigMuLocked).
package syscalls
