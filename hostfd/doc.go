// Package hostfd makes real host fds ordinary files of the model
// (fs.File), so that a guest can epoll a host socket or pipe next to
// emulated files, with Linux's epoll semantics.
//
// # What the package owns
//
//   - Bridge: the imported host fds and the pollers (NewBridge, Import,
//     Close). Import takes ownership of a host fd; the creation methods
//     (Pipe, Eventfd, SocketPair, Socket, Timerfd) make host files and
//     import them, and have the shape of syscalls.FileCreator, so a
//     Bridge can back a model kernel's creation system calls (the
//     conformance suite's "hostfd" backend does exactly that).
//   - The fs.Impl of each kind of host fd: pipes, sockets (fs.Socket),
//     eventfds, timerfds (fs.TimerFile, whose settime and gettime go to
//     the host), and any other fd ppoll can watch. Pipes, sockets and the
//     other fds are fs.SequenceIO: their reads and writes go through a
//     staging buffer limited to the accessible part of the guest's buffer,
//     so that a fault never loses a byte the host consumed (seqio.go says
//     exactly how this approximates Linux). Eventfds and timerfds are
//     staged by the syscall layer, as exact as Linux (their value is
//     consumed before the copy that faults).
//   - Timerfd makes a host timerfd only on the host's clock (fs.RealClock,
//     or nil); a kernel on another fs.Clock (virtual time) gets the
//     model's timerfd on that clock, since a host timer cannot follow it.
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
// a peer may see HUP or ERR a moment late.) Import closes the fd itself when
// it fails, so the caller never closes an fd it passed to Import. Before
// the close, the fd is taken out of its poller's ppoll set and the release
// waits until the poller has dropped the number, so no system call of the
// package ever names a closed fd number (which another open may have
// reused). Operations (read, write, readiness) may only be called by
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
// # The bridge: how host readiness reaches the model's queues
//
// A readiness query (Pollable.Readiness) is a zero-timeout ppoll of the fd.
// Notifications come from two places (1. and 2.); 3. is what keeps the
// pollers cheap:
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
// again. A group is re-armed when the bridge sees it low: a read (write)
// that fails with EAGAIN re-arms IN (OUT); after a successful read (write)
// that left the group disarmed, a readiness query checks, if anyone waits;
// and every Readiness call (epoll_ctl ADD, each harvest by epoll_wait, each
// poll) re-arms the groups it finds low. The poller watches an fd for the
// events of its armed groups only, and only while someone waits on it; an
// fd whose HUP or ERR was reported leaves the ppoll set (ppoll reports
// them whatever is asked, and both are final for pipes and sockets) until
// a readiness query finds them low again. While an operation of the model
// is about to report a group itself (1. above), the poller leaves that
// group alone, so that no host change is reported twice.
//
// # What an edge-triggered guest gets, and how it differs from Linux
//
// Guaranteed:
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
//   - Each host change is reported at most once (no duplicate edges from
//     the two sources).
//
// Approximated: a change made outside the model (a host peer, another
// process, the host kernel) while the group is still high and nobody has
// seen it low is invisible to a level-based ppoll: a second write by a
// host peer into a socket the guest has not drained gives the guest no new
// edge, where Linux would give one. The next edge comes once the guest
// drains the data (and sees EAGAIN) or any readiness check finds the level
// low. Host-side events are also delivered asynchronously (a poller
// round-trip, microseconds) where Linux wakes inside the writer's system
// call. Linux's per-skb wakeups (a large write queues several skbs, a read
// that frees several wakes the writer several times) are one wakeup here;
// this is visible only to EPOLLEXCLUSIVE walks. The conformance corpus
// runs on the "hostfd" backend; see conformance/known-divergences.txt.
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
// backend calls it before every system call, which makes its results
// independent of the load.
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
//	hostFile.mu  >  shard.mu
//	waiter.Queue locks are taken with neither held (notifications are sent
//	after unlocking, package waiter's rule)
//	Bridge.mu  >  shard.mu  (attach only)
//	home shard.mu  >  fast shard.mu
//	hostFile.rdMu  >  hostFile.mu  (message reads, seqio.go)
//
// A file's lock guards its arming state and its "closed" flag; a zero-
// timeout ppoll of a local peer runs under the peer's lock, so that the
// peer cannot be closed meanwhile. The poller takes shard.mu to apply
// changes and never holds it across ppoll or while taking a file's lock
// (Sync waits on shard.cond with only shard.mu held);
// a release waits for the poller (shard.cond) with no file lock held.
//
// The guarded fields carry +checklocks annotations, and the functions that
// need a lock are named and annotated as docs/locking.md says (fooLocked:
// the receiver's mu). hostFile.everFast stays in prose: the shard writes
// it through its file table, a path to the file the tool cannot match
// with the caller's.
package hostfd
