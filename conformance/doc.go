// Package conformance is guestpoll's differential conformance suite: it
// parses conformance scripts (the format is the project's script-format
// contract, summarised in docs/conformance-format.md), runs them on
// backends, and compares the traces with the trace of the real kernel.
//
// # Pieces
//
//   - Parse turns script text into a Script: one Step per line, with the
//     file:line of every problem (ParseErrors; never a panic, nothing is
//     skipped silently). It also parses traces, which are scripts with a
//     result on every step and possibly a final "!! REASON" line.
//   - Results are structured values (Result, compared with go-cmp), so the
//     comparison ignores white space and spelling ("0x5" equals "IN|OUT",
//     "EWOULDBLOCK" equals "EAGAIN") and fd results are compared by shape
//     ("fd fd"), never by number. Expectation holds "=> *" and "=> A || B".
//   - FormatScript and FormatTrace print scripts and traces; a printed trace
//     parses back to the same steps and results (tested, and fuzzed by
//     FuzzParse).
//   - Execute is the shared executor, which runs a Script on a Machine
//     (executor.go: steps, threads and joins; worker.go: a script thread;
//     guestmem.go: guest memory; cleanup.go: the end of a run).
//   - Backends are registered by name (Register, RegisterBackend) and looked
//     up with LookupBackend. The "linux" backend is built in.
//   - Compare, ApplyKnown, RunSuite, WriteText, WriteJSON and RecordFiles
//     are the comparison, the known-divergences list, the suite runner, the
//     reports and recording; cmd/epollconf is a thin CLI over them.
//
// # The executor and the Machine seam
//
// Every backend shares the step semantics because every step is carried
// out by Execute, which only asks a Machine to execute raw x86-64 Linux
// system calls and to access guest memory:
//
//   - Execute builds every guest structure itself in memory from
//     Machine.Alloc: the packed 12-byte struct epoll_event (u32 events at 0,
//     u64 data at 4), struct pollfd, struct timespec, struct itimerspec,
//     struct rlimit, the 8-byte sigset (sigsetsize 8), int[2] for pipe2 and
//     socketpair, the name "conf" for memfd_create; and decodes results the
//     same way. Each thread has its own scratch page, its own events buffer
//     (EventsBufferSize bytes, large enough for MaxEvents events, mapped
//     lazily) and its own read/write buffer.
//   - The calls made are exactly: epoll_create, epoll_create1, pipe2,
//     eventfd2, socketpair(AF_UNIX), socket(AF_UNIX), timerfd_create,
//     memfd_create("conf", 0) for open_regular, dup, dup2, dup3, close,
//     write, read, timerfd_settime (with clock_gettime on the timer's clock
//     for "+MS"), shutdown, fcntl (F_SETFL, F_GETFL, F_GETFD), getrlimit and
//     setrlimit (RLIMIT_NOFILE), poll (one pollfd), epoll_ctl, epoll_wait,
//     epoll_pwait, epoll_pwait2, plus getrlimit/setrlimit and close during
//     cleanup; and for format version 3 (see "Format version 3" below)
//     socket+bind+listen, socket+connect, accept4, rt_sigprocmask, kill,
//     getpid, tgkill, signalfd4, read, mkdirat+mknodat+openat, sendto,
//     recvfrom, fcntl (F_SETPIPE_SZ, F_GETPIPE_SZ), pidfd_open and wait4,
//     plus kill, wait4 and unlinkat during cleanup. Integer arguments are
//     passed sign-extended, as C does.
//   - fdinfo is the one step that is not a system call: Machine.Fdinfo
//     returns the text of /proc/self/fdinfo/N, and the executor parses it
//     (ParseFdinfo), sorts it and names the targets.
//   - BADPTR is Machine.BadPtr: an inaccessible user address.
//   - Threads: the executor runs each script thread (and the main script
//     thread, MainThread) on a goroutine of its own, brackets it with
//     Machine.StartThread/StopThread, and sends "interrupt T" through
//     Machine.Interrupt.
//   - Checkpoints: a Machine that also implements Checkpointer (model-cr)
//     is asked to checkpoint before every step but the first at which no
//     thread has a call running or queued.
//
// Adding a backend therefore means implementing Machine (see machine.go for
// the exact contract of each method) and registering it:
//
//	conformance.RegisterBackend("model", func() (conformance.Machine, error) { ... })
//
// in the init function of the backend's package, which cmd/epollconf
// blank-imports (backends.go); conformance/backends_test.go blank-imports it
// too when TestCorpus is to cover it. BackendSpec.Isolated runs a backend's
// scripts each in a fresh child process instead of in the current one.
//
// # Operations
//
// Every script operation is one entry of the operations table (type
// operation, operation.go), kept in the ops_*.go file of its family
// (ops_create.go, ops_fd.go, ops_epoll.go, ops_io.go; version 3's
// ops_process.go, ops_signal.go, ops_v3files.go) beside the functions
// it names. An entry carries the operation's syntax (name, signatures,
// result kind, what 'NAMES =' binds, cross-argument checks), which Parse,
// the printer and the result parser use; its exec function, which runs it
// on a Machine through an execution (execution.go: resolved arguments,
// timed system calls, the thread's scratch memory); an optional apply for
// its effects on names (the default binds the fds it returned); and its
// fuzzing part: the generator's opcode, weight, decoder and encoder
// (FuzzDecodeOp and FuzzEncodeCall dispatch on them for package fuzzgen,
// over the byte codec of conformance/internal/fuzzcodec), or a
// notGenerated reason. Adding an operation is adding one entry, plus any
// new system call number or flag-name table it needs (tables.go); its mask
// names become reserved keywords by themselves. A generated operation
// takes the next free opcode: opcodes are never renumbered, so that stored
// fuzz inputs keep their meaning. TestOperationsComplete fails on an entry
// that lacks a part. Version 3's operations have opcodes after every
// earlier one, and a generator makes only those its filter accepts
// (FuzzServes: the ones a backend serves; fuzzops.go), so a generator
// without them decodes as before they existed. fork's opcode also runs
// the next operation as a step of a fork (fuzzops_v3.go).
//
// # Format version 3
//
// Version 3's operations carry version 3 in their table entry. The
// executor runs one only on a Machine that implements OperationServer and
// says it serves it; the process steps (fork, exit, waitpid, pidfd_open,
// tkill) also need a ProcessMachine (process.go: the exact API a backend
// implements). On any other Machine the trace stops at the step with
// "!! unsupported step: FILE:LINE: this backend does not implement
// "OP" ..." and Trace.Unsupported names the operation. A known-divergences
// line "step:OP @backend,... reason" makes such a stop a known divergence
// for those backends (a stop the oracle did not share is never excused).
//
// The calls, exactly (x86-64 numbers), each on the thread running the
// step and in the memory of its process:
//
//   - listen_socket: socket(41)(AF_UNIX, TYPE|FLAGS, 0); bind(49)(fd,
//     sockaddr_un, len) with an abstract address (sun_path[0] = 0) made
//     of "guestpoll-conf.", the run's random nonce and a counter,
//     len = 2 + 1 + length of the name; listen(50)(fd, BACKLOG). A failed
//     bind or listen closes the socket and is the step's result.
//   - connect: socket(41) as above, connect(42)(fd, the address
//     listen_socket bound for L, len); a failure closes the socket.
//   - accept4(288)(L, NULL, NULL, FLAGS).
//   - sigmask: rt_sigprocmask(14)(HOW, &set or NULL/BADPTR, NULL, 8).
//   - kill: kill(62)(pid, SIGNAL); for SELF the pid is getpid(39)'s
//     answer on the same thread. tkill: tgkill(234)(the script process's
//     pid, the thread's tid, SIGNAL), both from the ProcessMachine.
//   - signalfd: signalfd4(289)(-1, &set, 8, FLAGS). signalfd_read:
//     read(0)(fd, buf, 128), ssi_signo at offset 0.
//   - fifo_open: mkdirat(258)(AT_FDCWD, "/tmp/guestpoll-conf-NONCE",
//     0700) and mknodat(259)(AT_FDCWD, ".../NAME", S_IFIFO|0600, 0), both
//     EEXIST-tolerant and made by every fifo_open (whichever runs first
//     creates), then openat(257)(AT_FDCWD, ".../NAME", FLAGS, 0). Cleanup
//     unlinkat(263)s each FIFO, then the directory (AT_REMOVEDIR).
//   - send: sendto(44)(fd, buf, N, FLAGS, NULL, 0); recv: recvfrom(45)(fd,
//     buf, N, FLAGS, NULL, NULL).
//   - fcntl_setpipe_sz / fcntl_getpipe_sz: fcntl(72)(fd, 1031, N) and
//     fcntl(72)(fd, 1032).
//   - fork: ProcessMachine.Fork on the main thread's goroutine; the
//     child's one thread is then started like a script thread. exit:
//     StopThread of the child's thread, then ProcessMachine.Exit (which
//     returns once the child is a zombie). waitpid: wait4(61)(pid,
//     &status, 0, NULL). pidfd_open: pidfd_open(434)(pid, FLAGS).
//   - At the end, after the script's fds are closed: kill(62)(pid,
//     SIGKILL) and wait4(61)(pid, NULL, 0, NULL) for every child not
//     reaped, on the main thread.
//
// Decisions where the contract is open:
//
//   - Names are global: 'P & c = connect ...' binds c for every step, and
//     a name stands for its number in whichever process runs the step.
//     Fds a child creates are not the script process's to close at the end
//     (its exit, or the final SIGKILL, closes them); a child's close does
//     not forget the parent's fd. Which names count as open, and how
//     fdinfo names a number, is one bookkeeping for all processes.
//   - exit P returns once P is a zombie, so the next step sees the exit
//     (pidfd IN, HUP of pipes P held) without a race. waitpid's result is
//     the exit status of a process that exited, and minus the signal
//     number for one a signal killed (kill P USR2 gives -12). A process
//     name is used by one fork only; 'P &' after 'exit P' is a parse error.
//   - A script thread starts with the main thread's signal mask at its
//     start (as pthread_create from the main thread), the main thread with
//     an empty one. tkill names a running thread: one with a call not yet
//     joined (or MAIN).
//   - connect's L is a name a listen_socket step bound; the address stays
//     known after L is closed.
//
// # The linux backend
//
// Each script runs in a fresh child process: the current binary re-executed
// (os.Executable) with GUESTPOLL_CONFORMANCE_CHILD=1 and
// GODEBUG=asyncpreemptoff=1 (so that no SIGURG interrupts epoll_wait). Every
// binary that can run it calls RunChildIfRequested first thing in main and
// TestMain. The script goes in on stdin (JSON); outcomes come back one JSON
// line at a time on a copy of stdout at fd 900 or above (so a script may
// close fd 1), which keeps the steps done so far if the child dies. The
// child closes the fds it inherited without close-on-exec, ignores SIGPIPE
// (signal.Ignore, so the kernel discards it and writes fail with EPIPE),
// installs a SIGUSR1 handler with signal.Notify and then clears SA_RESTART
// from it with a raw rt_sigaction (Go installs its handlers with
// SA_RESTART), and initialises the Go runtime's netpoller before the
// script so that the runtime's own fds are not created mid-script. Script
// threads are goroutines locked to their OS thread; they are never
// unlocked, so each ends with its goroutine. Calls go through
// unix.Syscall6. "interrupt T" is tgkill(pid, tid, SIGUSR1); after an
// interrupt, the thread's next call is preceded by a getpid so that a
// signal that arrived just as the interrupted call returned is handled
// there and cannot hit the next call. Memory is anonymous MAP_NORESERVE
// mmaps; BADPTR points into a PROT_NONE mapping. Fdinfo reads
// /proc/self/fdinfo/N, lifting RLIMIT_NOFILE's soft limit to the hard limit
// around the open when a script lowered it (with a raw prlimit64, which
// does not disturb the Go runtime's own RLIMIT_NOFILE bookkeeping; a
// creation racing with it on another script thread could see the lifted
// limit, and the open takes the lowest free fd for a moment). The
// parent kills a child that outlives a generous watchdog (2 minutes plus
// the script's sleeps and within bounds plus the join and cleanup
// timeouts), and then ends the trace with "!! REASON".
//
// Format version 3 on linux. The child starts with SIGUSR1 and SIGUSR2
// blocked (BackendSpec.StartBlocked: the runner blocks them on the thread
// that starts the child), so every thread the Go runtime makes blocks them
// for good and a process-directed signal reaches only the script's
// threads, whose masks the machine sets (StartThread). SIGUSR2 and
// SIGCHLD get their default actions with a raw rt_sigaction (the runtime
// installs handlers for both; with a handler, a child's SIGCHLD would
// interrupt waits). 'fork P' cannot fork a Go process, so it starts, from
// the main script thread, a re-execution of the binary in fork mode
// (linuxproc_linux.go, forkchild_linux.go) with syscall.ForkExec, whose
// Files are the parent's whole fd table at the same numbers: the child
// holds the same open file descriptions, epoll instances included,
// exactly as after fork(2). Free numbers are filled with a placeholder the
// child closes, the runner's own fds are closed, FD_CLOEXEC is set again
// where the parent had it (Files clears it), and the child starts with
// the main thread's mask (SIGUSR1 and SIGUSR2 added for its runtime
// threads only) and the runner's handlers. It is the script process's
// child (waitpid, pidfds and SIGCHLD work; Pdeathsig kills it with its
// parent thread) and serves the executor over a socketpair whose parent
// end sits at fd 800 or above: system calls on its one locked thread, and
// its own guest memory (alloc, read, write). A small C program that does
// the same scenarios with a real fork (an ET wait in a parent thread and
// in the child, EXCLUSIVE instances in both processes on one listener, a
// signalfd shared by fork polled directly and through a shared epoll
// instance, a pidfd in ET around exit and reap, a registration kept by the
// child's reference) gave the results the corpus records. What a Go
// process cannot reproduce, and the corpus therefore avoids: the runtime
// unblocks SIGCHLD on every thread it makes, so a process-directed
// SIGCHLD that the main thread blocks is taken and discarded by a runtime
// thread instead of staying pending for a signalfd; and os/signal's
// thread has SIGUSR1 unblocked, so a process-directed SIGUSR1 (kill, not
// interrupt's tgkill) may be handled there. Listing /proc/self/fd and the
// control socketpair briefly use low fd numbers during a fork step.
//
// NewInProcessLinuxMachine gives the same machine for use inside the
// calling process (prepared once as the child is), for the differential
// fuzzer (conformance/fuzzgen), which runs thousands of small scripts a
// second and cannot afford a process per script. Without interrupts, its
// script threads are not locked to OS threads, which makes each step a
// cheap goroutine hand-off; see its documentation for what scripts must
// avoid when they share a process.
//
// # Goroutines and locks
//
// Execute runs the steps on the calling goroutine. Only that goroutine
// touches the name table (fdNames), the set of fds to close at the end and
// the timer clocks, so they need no lock. Each script thread is a worker
// goroutine with a FIFO of jobs; worker.mu guards the queue, the running
// job and the stop flag, and a sync.Cond wakes the worker. A job's done
// channel is closed under worker.mu when it finishes; joins and main-thread
// calls wait on it with a timeout (Options.JoinTimeout, 30 s). Interrupt
// holds worker.mu while it calls Machine.Interrupt, so the worker cannot
// start its next job meanwhile. executor.rlMu guards the saved
// RLIMIT_NOFILE (setrlimit_nofile may run on any thread). Machine methods
// are called concurrently from the workers and the executor. Processes
// (executor.procs, process.state) are touched only by the executor
// goroutine, but for a fork's pid, which its call sets and its apply reads
// after the call's done channel closed. In the linux machine, linuxMachine.mu
// guards the thread and child maps and is never held across a call;
// linuxChild.mu serialises the requests on one child's control socket
// (held across a blocking call, so Interrupt only touches the atomic flush
// flag and sends the signal). The guarded fields carry +checklocks
// annotations (docs/locking.md).
//
// RunSuite runs (script, backend) units on -j goroutines. Runs of
// timing-sensitive scripts (those with a thread, sleep, interrupt or
// within) take a sync.RWMutex exclusively, all others share it, so that
// timing-sensitive scripts never compete for the two CPUs. A
// timing-sensitive script that diverges or fails is run again, alone, on
// every backend (Retries, default 1 in the CLI and tests); the last run
// decides and the report says so.
//
// # Decisions where the contract is open
//
//   - Names. A name may not be a step word (join, sleep, interrupt, within)
//     or an operation name. Using a name that no earlier step binds is a
//     parse error. Binding a name that is still open, or using a name whose
//     creating call failed, is found only while running: the trace ends
//     with "!! script error: FILE:LINE: ..." on every backend, and the
//     verdict is an error.
//   - Threads. The arguments of 'T & CALL' are resolved (names to numbers)
//     when the 'T &' step executes; the call's effects on names (bindings,
//     closes, dup2 onto a name) and the naming of its fdinfo result happen
//     when it is joined. A 'within' on a thread's call is checked and
//     reported at its join. 'interrupt T' sends nothing when T has no call
//     running. Threads of one name started after a full join are new
//     threads (new ThreadID, new OS thread on linux).
//   - dup2 and dup3 take no 'NAME =' binding: NEW, when it is a name, is
//     bound again. dup2 of a number onto itself changes nothing.
//   - Pointers. epoll_ctl's three-argument form passes NULL. The events
//     buffer of epoll_pwait and epoll_pwait2 is replaced by an optional
//     last NULL or BADPTR after SIGNALS (epoll_pwait2 needs SIGNALS written
//     out to have one: 'epoll_pwait2 ep 8 0 0 NULL BADPTR'). A fifth
//     epoll_pwait2 token is always SIGNALS.
//   - Numbers. 32-bit positions (fds, SIZE, MAXEVENTS, timeouts, flags)
//     accept -2^31..2^32-1; 64-bit ones (DATA, VALUE, SEC, NSEC, SIGNALS
//     numbers, setrlimit_nofile N, INTERVAL_MS) any 64-bit value, negative
//     numbers in two's complement. TYPE, CLOCK, OP and HOW take one name or
//     a number. poll's EVENTS is 16 bits and takes no private flags (ET,
//     ONESHOT, WAKEUP, EXCLUSIVE). write and read counts go up to MaxIO
//     (about 2 GiB); the bytes written are zeros.
//   - timerfd_settime. Milliseconds split with truncating division, so a
//     negative VALUE_MS gives a negative tv_nsec (EINVAL, as Linux says). A
//     plain number with ABSTIME is an absolute time in milliseconds on the
//     timer's clock. The clock for "+MS" is the CLOCK the timer was created
//     with (followed through dup, dup2 and dup3); for an fd the script did
//     not create with timerfd_create, CLOCK_MONOTONIC.
//   - setrlimit_nofile N keeps the current hard limit. RLIMIT_NOFILE is
//     read before the first one and restored at the end.
//   - close. Any result but EBADF counts as closed (Linux releases the fd
//     even when close reports an error).
//   - Results. fcntl_getfl is printed as the access mode and flags joined
//     by '|' ("RDWR|NONBLOCK"); expectations may also separate them with
//     spaces. eventfd_read of fewer than 8 bytes shows the count and the
//     little-endian value of the bytes read. fdinfo entries with the same
//     target number are ordered by mask, then data. Errno numbers without
//     a name print as "E<number>" (e.g. a leaked kernel-internal code);
//     EWOULDBLOCK, ENOTSUP and EDEADLOCK are accepted as aliases. Masks in
//     results may end with one number for unnamed bits, as printed; masks
//     in arguments never mix names and numbers. An expectation's count must
//     match the events listed ("=> 2 [IN 0x1]" is a parse error). "=> -" is
//     only for 'T &', sleep and interrupt; TIMEOUT and errno names are
//     accepted on calls and joins. "=>" with nothing after it is only valid
//     for fdinfo (the empty list).
//   - Traces. A "!! REASON" line may only be the last step line, needs a
//     reason, and a script containing one is refused when run. A trace that
//     ends with "!!" (a TIMEOUT, a runner error, a crashed child, a thread
//     that could not be joined at the end, a script error) is an error of
//     that backend, never a divergence, even for a script listed as a known
//     divergence. Printed traces may carry comments with fd numbers and
//     timings; comments are ignored when parsing.
//   - Comparison. A step with an expectation is checked against it on
//     every backend, linux included; a step without one is compared with
//     the linux trace (on other backends). A step the linux trace lacks (it
//     stopped early) makes the other backend's verdict an error.
//   - Ending. Queued calls are dropped; the script's fds (bound or not) are
//     closed in ascending order by the main thread (by a helper thread if
//     the main thread is stuck); running calls are then interrupted
//     repeatedly for Options.CleanupTimeout (5 s); fds returned by calls
//     that finished during cleanup are closed; RLIMIT_NOFILE is restored.
//     Machine.Close is skipped when a thread could not be joined.
//   - Known divergences (known-divergences.txt beside this file): each line
//     is "relative/path.script [@backend,...] reason", the path relative to
//     the list's directory. Without @backends an entry applies to every
//     backend except linux (linux is the oracle; a linux expectation
//     failure is a recording problem). A listed script that passes is
//     reported as fixed and does not fail the run.
//   - Recording writes the result after the existing "=>" (or adds one,
//     aligned with the script's other expectations), keeps comments, blank
//     lines, "*" and "A || B", adds nothing to steps without a result, and
//     refuses a trace that stopped early or missed a within bound.
package conformance
