// Package fs holds open file descriptions (File) and the file types of the
// model: pipes and FIFOs, eventfds, AF_UNIX sockets (listening ones
// included), timerfds and regular files, and the names a kernel gives
// them: the abstract AF_UNIX address table (UnixNamespace) and a minimal
// path namespace of directories and FIFOs (PathNamespace). The epoll
// instance is a file type too, but it lives in package epoll.
//
// # What a File owns
//
// A File is reference counted: fd tables, dup'd fds and in-progress system
// calls each hold a reference. Epoll registrations do not; they hang on the
// file's watch list instead, and the file's final DecRef removes every one
// of them (Linux's eventpoll_release) before releasing the implementation.
//
// File types implement Impl (read, write, release) and, when epoll may watch
// them, Pollable (readiness and wait-queue registration). A type whose
// readiness and queue depend on the thread that asks (a signalfd, in
// package syscalls) also implements CallerPollable: File.ReadinessFor and
// File.EventRegisterFor pass it the caller, asserted once at New like
// Pollable, so other types pay nothing for it. Reads and writes
// never block here: they return EAGAIN, and the syscall layer waits on the
// file's queue. Errors are unix.Errno values (wrapped ones are found with
// errors.As); any other error is a misuse, on which the syscall layer
// panics naming the file type (docs/embedding.md#errors).
//
// # Optional interfaces
//
// Everything else a file type may provide is an optional interface, found
// by type assertion on the Impl. A type of another package (an embedder's
// socket, signalfd or device) implements the ones it needs; all are
// exported. Each entry: what it gives, who implements it, who asks.
//
//   - Pollable (file.go): readiness and queue hooks; without it epoll_ctl
//     is EPERM and reads and writes never block. Pipe ends, eventfd,
//     AF_UNIX sockets, timerfd, epoll.EventPoll, hostfd's files. Asked
//     once by New; used through File.Readiness, File.EventRegister and
//     File.EventUnregister by package epoll and by syscalls (epoll_ctl,
//     blocking I/O, poll).
//   - HookQueuer (watch.go): every hook of the file goes on one queue for
//     its life, whose lock then guards the file's watch list, so an epoll
//     ADD or DEL takes one lock pair on it instead of two. eventfd, pipe
//     ends, AF_UNIX sockets, timerfd. Asked once by New (ignored for a
//     CallerPollable type).
//   - DirectIO (file.go): whether F_SETFL may set O_DIRECT (else EINVAL).
//     Pipe ends; hostfd (the host decides). Asked by File.SetStatusFlags.
//   - SequenceIO (iosequence.go): read and write through the caller's
//     memory (an IOSequence) with Linux's partial-fault behaviour. Regular
//     files, AF_UNIX sockets, hostfd's pipes, sockets and other files.
//     Asked by syscalls' read, write, readv and writev; a type without it
//     is staged through a buffer and its Read and Write are called.
//   - BlockingIO (blocking.go): the rounds of a blocking read or write,
//     for types that send wakeups only around sleeping. Pipe ends. Asked
//     by syscalls' read and write (before SequenceIO), and by syscalls'
//     fdinfo, which gives its files the pipefs device.
//   - ExclusiveBlocker (blocking.go): tasks blocked in read or write wait
//     as exclusive waiters (docs/semantics.md#exclusive). Pipe ends. Asked
//     by BlockingWaitExclusive, which syscalls' blocking I/O calls.
//   - FixedSizeIO (iosequence.go): reads and writes move one fixed-size
//     value, so a write of another length copies nothing in. eventfd,
//     timerfd, hostfd's eventfds and timerfds. Asked by syscalls' write.
//   - WriteUnsupported (iosequence.go): write is EINVAL before the buffer
//     is looked at (no FMODE_CAN_WRITE). timerfd. Asked by syscalls' write.
//   - Shutdowner (socket.go): shutdown(2). AF_UNIX sockets, hostfd's
//     sockets. Asked by syscalls' shutdown (ENOTSOCK without it) and
//     fdinfo (sockfs device).
//   - TimerFile (timerfd.go): timerfd_settime and timerfd_gettime. timerfd,
//     hostfd's timerfds. Asked by syscalls' timerfd calls (EINVAL without
//     it) and fdinfo (anonymous inode).
//   - Offsetter (fdinfo.go): the file offset fdinfo shows as pos. Regular
//     files. Asked by syscalls.FDInfo.
//   - SharedInode (fdinfo.go): files sharing one inode (pipe ends). Asked
//     by syscalls.FDInfo for the inode number, and by syscalls' Kernel
//     state (Save, Restore) to keep the files sharing it after a restore.
//   - FDInfoWriter (fdinfo.go): fdinfo lines of the type's own. No type
//     of this module yet. Asked by syscalls.FDInfo.
//   - InvariantChecker (invariants.go): internal consistency for fuzzers
//     and tests. Pipe ends, AF_UNIX sockets, timerfd, epoll.EventPoll.
//     Asked by CheckInvariants, which the conformance model backend calls
//     after every step.
//   - Queries the module provides for its embedders and tests but does not
//     ask itself: Socket (socket.go: type, SIOCOUTQ, SIOCINQ; AF_UNIX and
//     hostfd sockets), PipeInfo (pipe.go: F_GETPIPE_SZ, FIONREAD, slots;
//     pipe ends), EventfdInfo (eventfd.go: the counter), Seeker,
//     PositionalIO and Truncater (regular.go: lseek, pread/pwrite,
//     ftruncate; regular files).
//
// Assertions that are not extension points: epoll.FromFile recognises
// *epoll.EventPoll, package hostfd its own files (an unexported interface),
// and the checkpoint state of this package (state.go) the concrete types
// above; a file of another type is not saved by them.
//
// # Misuse
//
// A File used against its contract panics with a message naming the
// misuse, rather than corrupting state: IncRef or DecRef of a released
// file (a reference dropped twice), Read or Write of a released file,
// EventRegister or EventUnregister of a file that is not Pollable, New of
// a nil Impl (or of a HookQueuer whose HookQueue is nil), AddWatch or
// HookWatch of a Watch without an Owner (a Hook whose Waker is not a
// WatchOwner) or already linked, RemoveWatch of a Watch at either end of
// another file's list. AddWatch and HookWatch of a released file link and
// hook nothing and report false.
//
// # Wakeup keys
//
// Each type notifies its queues with the same keys Linux passes to its wait
// queue wakeups, on the same state changes, because edge-triggered epoll
// observes every one of them (docs/semantics.md#wakeup-keys).
//
// # File types
//
// One file per type; each file's header comment gives the details.
//
//   - Pipes (pipe.go, NewPipe): 16 slots of up to 4096 bytes (F_SETPIPE_SZ,
//     PipeSizer, resizes the ring to any power of two of pages up to
//     PipeMaxSize, waking writers), with Linux's merge rule, PIPE_BUF
//     atomicity and O_DIRECT packets. Read end IN|RDNORM
//     with data, HUP without writers; write end OUT|WRNORM while a slot is
//     free, ERR without readers. A write wakes readers (IN|RDNORM) if the
//     pipe was empty or has ever been polled; a read wakes writers
//     (OUT|WRNORM) when it frees a slot of a full pipe; losing the last
//     reader or writer wakes both queues with key 0. Blocking pipe I/O has
//     its own wakeups: see BlockingIO (blocking.go).
//   - FIFOs (fifo.go, PathNamespace.Mkdir/Mknod/OpenFIFO/Unlink): a model
//     pipe per FIFO while any file of it is open, with fifo_open's rules
//     (ENXIO, waiting for the other side through FIFOOpen, the first of a
//     side waking both queues with key 0) and pipe_poll's HUP that waits
//     for a writer to have come (f_pipe). An O_RDWR file hooks its own
//     queue, which repeats every notification of both sides.
//   - eventfd (eventfd.go, NewEventfd): IN while the counter is non-zero, OUT
//     while it is below 0xfffffffffffffffe; every successful write wakes
//     with IN, every successful read with OUT.
//   - AF_UNIX sockets (socket.go, NewSocketPair, NewSocket, Shutdowner):
//     stream, datagram and seqpacket, one wait queue per socket, skb
//     truesize accounting against SO_SNDBUF; data wakes the receiver with
//     IN|PRI|RDNORM|RDBAND per skb, each freed skb wakes its sender with
//     OUT|WRNORM|WRBAND if the sender is writable, shutdown and close wake
//     with key 0. Listener (unixlisten.go): bind, listen, connect and
//     accept, with unix_recvq_full's backlog, a connection waking the
//     listener once (IN|PRI|RDNORM|RDBAND, wake-one) and connects to a
//     full listener waiting on its peer_wait queue (ConnectWait; another
//     package's Listener gives its own queue with NewConnectWait).
//     MessageIO (oob.go): MSG_OOB on streams (PRI while an out-of-band
//     byte is pending, the mark, the byte left behind) and MSG_PEEK.
//   - timerfd (timerfd.go, NewTimerfd, TimerFile) on a Clock (clock.go:
//     RealClock, FakeClock): IN while expirations are unread; each expiry
//     wakes with IN; a periodic timer is re-armed by read/gettime, so it
//     fires once per read cycle.
//   - Regular files (regular.go, NewRegular): memfd-like bytes with an
//     offset; not Pollable, so epoll_ctl refuses them with EPERM.
//
// State (state.go, namestate.go) turns a set of files and the kernel's
// names into plain values and back, for package checkpoint:
// SaveFilesAndNames, FilesState.Validate, RestoreFilesAndNames (SaveFiles
// and RestoreFiles without the names).
//
// CheckInvariants (invariants.go) checks a file's internal consistency for
// fuzzers. Notifications owed by an operation are collected in a small
// stack array (wakeups.go) and sent after the state lock is released.
//
// # Lock order
//
//	timerfd fireMu  >  file state lock (pipe, socket, timerfd mutex)  >  FakeClock mutex
//	epoll instance mutex  >  a file's watch lock  >  (bottom-up) the watch lock of an epoll watching it
//	UnixNamespace.mu  >  socket lock (bind only; connect looks the name up first)
//	listener's socket lock  >  the lock of a connection pair (connect)
//	PathNamespace.mu  >  FIFO node mutex (unlink); a FIFO node's and its pipe's mutexes never nest
//
// The fields these locks guard carry +checklocks annotations, and the
// functions that need one are named and annotated as docs/locking.md says
// (fooLocked: the receiver's mu; the watch functions' fooLocked: the
// file's watch lock). A Watch's links stay in prose: a Watch does not know
// the file whose watch lock guards them.
//
// A file's watch lock is the lock of a waiter.Queue (File.watchQ): for a
// HookQueuer type (eventfd, pipe end, socket, timerfd) the queue its epoll
// hooks go on, so that
// HookWatch and RemoveWatch hook and link in one critical section; for
// every other type a queue of its own that nobody hooks. Wakers run under
// a queue's lock, so the watch list of a HookQueuer is under a lock that
// wakers run under: nothing that holds it notifies that queue, and
// ForEachWatch callbacks take only the watch locks of the epolls above
// (bottom-up, as the nesting checks walk), never a lock a waker takes.
//
// A timerfd's fireMu is held by its expiry for the whole expiry (count and
// wakeup) and by a checkpoint for the whole save (FreezeTimers): nothing
// else takes it, and an expiry holds no other lock when it takes it.
//
// An eventfd has no state lock: its counter is one atomic word.
//
// Pipes, sockets and regular files copy through the caller's IOSequence
// while they hold their state lock, so guest memory (the IOSequence's copy
// functions) comes after every file state lock and must never call back
// into a file.
//
// The two sockets of a pair share one state lock, and so do a client and
// the embryo a connect makes for it (the accepted socket keeps it);
// unixSocket's +checklocksalias tells the tool that peer.mu is mu. A timerfd calls its
// Clock (AfterFunc, Stop, Now) under its lock; a Clock runs callbacks
// without its own lock held, and never synchronously inside AfterFunc.
//
// A file never holds its state lock while notifying a queue: it records what
// to notify, unlocks, then notifies (see package waiter). Readiness takes only
// the state lock.
package fs
