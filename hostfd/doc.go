// Package hostfd makes real host fds ordinary files of the model
// (fs.File), so that a guest can epoll a host socket or pipe next to
// emulated files, with Linux's epoll semantics.
//
// # What the package owns
//
//   - Bridge: the imported host fds and the pollers (NewBridge, Import,
//     Close), with one of two notifiers (Options.Notifier): ppoll pollers
//     (NotifyPpoll, the default) or an edge-triggered host epoll
//     (NotifyEpoll); see "The bridge". Import takes ownership of a host
//     fd; the creation methods
//     (Pipe, Eventfd, SocketPair, Socket, Timerfd) make host files and
//     import them, and have the shape of syscalls.FileCreator, so a
//     Bridge can back a model kernel's creation system calls (the
//     conformance suite's "hostfd" backend does exactly that).
//   - Do (op.go): the embedder's own operation (accept4, recvmsg with
//     control data, sendmsg, ioctl, ...) on the host fd of an imported
//     file, with the fd held open and the bridge's arming kept right
//     ("Embedder operations").
//   - The fs.Impl of each kind of host fd: pipes, sockets (fs.Socket),
//     eventfds, timerfds (fs.TimerFile, whose settime and gettime go to
//     the host), any other fd Linux's epoll accepts, and the fds it
//     refuses ("Pollability"). Pipes, sockets and the
//     other fds are fs.SequenceIO: their reads and writes go through a
//     staging buffer limited to the accessible part of the guest's buffer,
//     so that a fault never loses a byte the host consumed (seqio.go says
//     exactly how this approximates Linux). Eventfds and timerfds are
//     staged by the syscall layer, as exact as Linux (their value is
//     consumed before the copy that faults).
//   - Timerfd makes a host timerfd only on the host's clock (fs.RealClock,
//     or nil); a kernel on another fs.Clock (virtual time) gets the
//     model's timerfd on that clock, since a host timer cannot follow it.
//   - Listening sockets and messages (listen.go, message.go): a socket
//     serves fs.Listener (bind, listen, connect and accept4 on the host
//     fd, the address namespace the host's; an accepted fd is imported
//     as a socket of the bridge) and fs.MessageIO (sendto and recvfrom
//     with MSG_ flags on the host fd), so that the syscall layer's
//     socket calls act on host sockets. A connect to a listener of the
//     bridge wakes the listener's queue itself, as unix_stream_connect
//     does; the bridge keeps a peer_wait for its listeners, where a
//     blocking connect to a full one waits (listen.go says what a
//     listener outside the bridge cannot give).
//   - Donation of fds over host unix sockets (donate.go: Conn, Listener,
//     SCM_RIGHTS with framing) and batched datagram I/O (mmsg.go).
//
// # Ownership: every host fd is closed exactly once
//
// An imported fd belongs to its File. It is closed when the File's last
// reference is dropped (fs.Impl.Release), never earlier, never twice: the
// release marks the file closed under its lock before anything else, and
// only the first release gets to close. (The host sees the close only when
// no other process holds a copy: a process that forks, os/exec included,
// lends every fd to its children until they exec, close-on-exec or not, so
// a peer may see HUP or ERR a moment late.) While the embedder's
// operations run on the fd (Do), the last reference going does not close
// it: the last operation to end closes it (a file's lifecycle: open,
// releasing, closed). Import closes the fd itself when
// it fails, so the caller never closes an fd it passed to Import. Before
// the close, the fd is taken out of its poller's ppoll set and the release
// waits until the poller has dropped the number (or, with NotifyEpoll, it
// is deleted from the host epolls, and a report already harvested for it
// is dropped by its slot's generation), so no system call of the package
// ever names a closed fd number (which another open may have reused). Operations (read, write, readiness) may only be called by
// holders of a File reference, as everywhere in the model; the poller and
// a local peer's wakeups reach a file only under its lock, after checking
// that it is open.
//
// Host fds are non-blocking and close-on-exec whatever the File's status
// flags say: the File's O_NONBLOCK is the guest's, and blocking is the
// syscall layer's business (it sleeps on the file's queue, interruptibly,
// as for every model file). O_APPEND and O_DIRECT set with F_SETFL are
// applied to the host fd before the next write. Non-blocking operations
// use raw system calls (unix.RawSyscall): no scheduler hooks, no
// allocation.
//
// # Pollability
//
// A pipe, socket, eventfd or timerfd is pollable. An fd of any other kind
// is asked to the host at import: epoll_ctl ADD on a probe epoll instance
// of the bridge (then DEL). An fd Linux's epoll refuses with EPERM (no
// poll operation: a regular file, a directory, a memfd, /dev/null,
// /dev/zero, most /proc files) is imported without fs.Pollable, so the
// model's epoll_ctl ADD refuses it with EPERM as Linux does; it has no
// poller slot, and its reads and writes go to the host as for any kind.
// An fd the host accepts (a tty, /proc/self/mounts, an epoll fd) is
// pollable (KindOther).
//
// # The bridge: how host readiness reaches the model's queues
//
// A readiness query (Pollable.Readiness) is a zero-timeout ppoll of the fd.
// Notifications come from two places (1. and 2.); 2. is one of two
// notifiers (Options.Notifier). This section describes the default,
// NotifyPpoll; "The edge mode" below describes NotifyEpoll. 3. is what
// keeps the ppoll pollers cheap:
//
//  1. Operations the model performs itself notify synchronously, inside the
//     call, with Linux's wakeup keys, as the host kernel wakes its own wait
//     queues: a write to a pipe or socket wakes its local peer's queue (the
//     other end of a pipe or socketpair created by this package) with
//     IN|RDNORM (pipe) or IN|PRI|RDNORM|RDBAND (socket); a socket read
//     wakes the peer with OUT|WRNORM|WRBAND if the peer is writable; a pipe
//     read wakes a writer that had seen the pipe full; an eventfd write
//     wakes IN and a read OUT; shutdown and close wake with key 0 (both
//     sockets of a stream or seqpacket pair, the other end of a pipe).
//  2. Everything else (another process writing to a donated socket, a
//     timerfd expiring, a host peer closing) is seen by a poller: a
//     goroutine blocked in ppoll over the fds that currently have waiters,
//     plus an eventfd that wakes it when that set grows or when it must
//     stop. The fds are sharded over Options.Shards pollers (4 by default),
//     so 10,000 watched fds cost 5 OS threads (with the fast poller of
//     3.), not 10,000. The ppoll is a plain blocking system call: the
//     thread gives up its P while it sleeps. A change to one fd's
//     interest is O(1): the slot is queued for the poller, which copies
//     only the changed slots into its ppoll array before the next round
//     (it never rebuilds the array). The kernel still scans a shard's
//     whole array on each ppoll call, which is what ppoll costs; sharding
//     divides it, and the poller's own pass over the results stops at the
//     last entry ppoll reported ready.
//  3. The re-arm poller. After an event the group is disarmed (below) and
//     re-armed when the guest has drained the fd; waking the home poller
//     for that re-arm would cost its shard a second full ppoll per event.
//     Instead, a re-arm of an fd its home poller already watches (only
//     its events change) goes to one extra poller per bridge, the fast
//     one, which watches at most 64 fds: its rounds are cheap, and the
//     home poller takes the fd back (applies the re-armed events) at its
//     next round. So one event costs its shard one ppoll pass, plus a
//     round of the small poller (BenchmarkManyFDs reports ppolls/op and
//     fast-ppolls/op, and the same run without the fast poller). A bridge
//     has Options.Shards+1 poller threads.
//
// Arming. ppoll is level-triggered, so a poller that kept watching a ready
// fd would report it in a loop. Readiness is therefore split into groups
// (IN|RDNORM, PRI|RDBAND, OUT|WRNORM|WRBAND, RDHUP, HUP|ERR, MSG), and a
// group is reported once, then "disarmed" until its level is seen low
// again. A group is re-armed when the bridge sees it low: a read (write),
// or an embedder operation through Do that consumes the group, that fails
// with EAGAIN re-arms IN (OUT); after a successful read (write)
// that left the group disarmed, a readiness query checks, if anyone waits;
// the first waiter's registration, when a group is disarmed, makes the
// same query; and every Readiness call (epoll_ctl ADD, each harvest by
// epoll_wait, each poll) re-arms the groups it finds low. The poller watches an fd for the
// events of its armed groups only, and only while someone waits on it; an
// fd whose HUP or ERR was reported leaves the ppoll set (ppoll reports
// them whatever is asked, and both are final for pipes and sockets) until
// a readiness query finds them low again. While an operation of the model
// is about to report a group itself (1. above), the poller leaves that
// group alone, so that no host change is reported twice.
//
// # The edge mode (NotifyEpoll)
//
// With Options.Notifier NotifyEpoll, 2. above is two host epoll
// instances, each watched by a goroutine blocked in epoll_wait (edge.go),
// as gVisor's fdnotifier does: every pollable fd is registered in both
// from import to release, edge-triggered, the arrival set for IN, PRI and
// MSG, the space set for OUT and RDHUP. Linux queues an edge-triggered
// item again on every wakeup of the fd's wait queue whose key it takes
// (ep_poll_callback), so the host reports each arrival, a second one while
// the fd is still readable included, and the set that reports it tells
// the key: a write-space wakeup (key OUT) reaches only the space set, a
// data wakeup only the arrival set, a wakeup with key 0 or HUP or ERR
// both. The bridge passes a host edge on to the file's queue:
//
//   - IN, PRI and MSG from the arrival set and OUT from the space set on
//     every host edge, even while high, as Linux wakes an edge-triggered
//     entry on every wakeup whose key it takes;
//   - RDHUP, HUP and ERR when they rise after being seen low, with the
//     arming of the ppoll mode (below);
//   - except what the model reports itself (1. above): a group an
//     operation in flight will report (busy) is left to it, and an edge
//     the operation did not report is given when it ends (so none is
//     lost); the host's wakeup for a change the model already reported
//     (an "echo", harvested after the operation) reports only groups seen
//     low since. The report ADD queues for an fd already ready at import
//     counts as an echo too.
//
// The registration never changes, so the mode costs no system call per
// event besides the epoll_wait that harvests it, and a bridge has two
// poller threads whatever the number of fds (the ppoll mode has
// Options.Shards+1, each scanning its fds on every round). Sync makes
// each poller run a round with a zero timeout. BenchmarkBridge measures
// both modes in one run.
//
// # What an edge-triggered guest gets, and how it differs from Linux
//
// Guaranteed (both modes):
//
//   - No lost wakeup: whenever the level of a group rises after a guest
//     observed it low (EAGAIN, or a readiness check during epoll_wait,
//     poll or epoll_ctl), the file's queue is notified, so an ET entry gets
//     a new edge. A guest that reads (writes) until EAGAIN, as the ET
//     contract asks, always gets the next edge.
//   - Every change the model makes itself (a write to one end of a local
//     pipe or socketpair, an eventfd write, ...) is a new edge, delivered
//     synchronously, even while the file is still readable: exactly
//     Linux's behaviour, including "another write while still readable".
//     A connect to a listener of the bridge is one too (the listener's
//     IN). The two ends of a connection made by connect and accept4 are
//     not local peers (listen.go): their writes reach each other as a
//     host peer's do.
//   - Each host change is reported at most once (no duplicate edges from
//     the two sources).
//
// Approximated, NotifyPpoll: a change made outside the model (a host
// peer, another process, the host kernel) while the group is still high
// and nobody has seen it low is invisible to a level-based ppoll: a second
// write by a host peer into a socket the guest has not drained, or a
// second connection from outside the bridge to a listener whose first is
// not accepted yet, gives the guest no new edge, where Linux would give
// one. The next edge comes
// once the guest drains the data (and sees EAGAIN, through a model read
// or Do) or any readiness check finds the level low.
//
// Approximated, NotifyEpoll: the key of a host wakeup is known to the
// set (data or space), not exactly: a wakeup with key 0, HUP or ERR is an
// IN edge (if IN is ready) and an OUT edge (if OUT is ready) as on Linux,
// but the key passed to the model's queue is the set's ready bits, not
// Linux's key, which matters only to EPOLLEXCLUSIVE walks. An outside
// arrival whose host wakeup is harvested together with the echo of a
// model operation on the same fd (or with the report ADD queued at
// import) is one edge, not two: a missing "second arrival" edge, never a
// lost wakeup (the guest that drains to EAGAIN gets the next one).
//
// Both modes: host-side events are delivered asynchronously (a poller
// round-trip, microseconds) where Linux wakes inside the writer's system
// call. Linux's per-skb wakeups (a large write queues several skbs, a read
// that frees several wakes the writer several times) are one wakeup here
// for the model's own operations; this is visible only to EPOLLEXCLUSIVE
// walks. The conformance corpus runs on the "hostfd" and "hostfd-epoll"
// backends; see conformance/known-divergences.txt.
//
// # Embedder operations (Do)
//
// The model performs read and write (and readv, writev, shutdown); an
// embedder's own operation on an imported fd (accept4 on a listener,
// recvmsg with SCM_RIGHTS, sendmsg, an ioctl) goes through Do(f, consumes,
// op), which calls op with the raw host fd. Do keeps what the model's own
// operations keep:
//
//   - the fd is open for the whole of op (op may even race the release of
//     f's last reference: the close waits for op, once);
//   - for each group op consumes (IN for accept4 or recvmsg, OUT for
//     sendmsg, PRI for MSG_OOB), EAGAIN from op re-arms it, as a model
//     read or write seeing EAGAIN does; without Do, an embedder that
//     accepts on the host fd itself until EAGAIN leaves IN disarmed, and
//     with NotifyPpoll the next connection never reaches the queue;
//   - a local peer (the other end of a pipe or socketpair made by the
//     bridge) gets the wakeup a model read or write would give it, at once.
//
// op runs with no lock of the package held; it may call back into the
// model (Readiness, even Do on another file).
//
// # Sync: delivering host events now
//
// The poller delivers host events asynchronously: under CPU load, the
// thread that returns from ppoll may wait for the host scheduler for tens
// or hundreds of milliseconds before it notifies the queue, where Linux
// wakes the queue from the event itself (a timer interrupt, the writer's
// system call). Bridge.Sync closes that gap for whoever needs it: when it
// returns, every host event that happened before the call has been
// delivered (each poller completed a fresh round). The hostfd conformance
// backends ("hostfd" with NotifyPpoll, "hostfd-epoll" with NotifyEpoll)
// call it before every system call, which makes their results independent
// of the load.
//
// # Blocking
//
// A task blocked in read or write on an imported file sleeps on the
// file's queue as a plain waiter and retries on every wakeup (package
// syscalls' loop for non-pipe files). On a Linux pipe it would wait as an
// exclusive waiter (kernel/fs/blocking.go) and receive the pipe's
// "wake the next reader/writer" wakeups; host pipes do neither: a wakeup
// reaches every blocked task (each retries and sleeps again if it finds
// nothing), so no wakeup is lost, but an EPOLLEXCLUSIVE walk over a queue
// that also holds a blocked reader or writer is not stopped by that task
// as on Linux. The conformance corpus has no script where this shows.
//
// # Lock order
//
//	hostFile.mu  >  shard.mu  >  fast shard.mu  (re-arms, ppoll mode)
//	Bridge.mu  >  shard.mu       (attach only)
//	Bridge.mu  >  edgePoller.mu  (attach only)
//	hostFile.rdMu  >  hostFile.mu  (message reads, seqio.go)
//	waiter.Queue locks are taken with none of these held (notifications
//	are sent after unlocking, package waiter's rule)
//
// A file's lock guards its arming state, its lifecycle (open, releasing,
// closed) and its count of Do operations in flight; a zero-timeout ppoll
// of a local peer runs under the peer's lock, so that the peer cannot be
// closed meanwhile. The ppoll poller takes shard.mu to apply changes and
// never holds it across ppoll or while taking a file's lock (Sync waits
// on shard.cond with only shard.mu held); the edge poller looks a slot up
// under edgePoller.mu and reports to the file after unlocking it, never
// holding it across epoll_wait. A release (or the last Do, which closes
// for it) waits for the pollers (shard.cond, edgePoller.mu) with no file
// lock held. Do runs the embedder's op with no lock of the package held.
//
// The guarded fields carry +checklocks annotations, and the functions that
// need a lock are named and annotated as docs/locking.md says (fooLocked:
// the receiver's mu). hostFile.everFast stays in prose: the shard writes
// it through its file table, a path to the file the tool cannot match
// with the caller's.
package hostfd
