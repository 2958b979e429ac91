// Package checkpoint saves the whole observable state of a model kernel
// (package syscalls with kernel/fd, kernel/fs and kernel/epoll) to bytes,
// and restores it into a brand-new kernel, so that the guest cannot tell:
// the gVisor "runsc checkpoint" use, for the model.
//
// # What is saved
//
// The graph reachable from the tasks given to Save (and from
// SaveOptions.Roots): every task's signal mask, pending signals, delivered
// counts and rlimits; every fd table (numbers, FD_CLOEXEC, RLIMIT_NOFILE,
// whether it is a private table made by CLOSE_RANGE_UNSHARE); every guest
// address space (a GuestMemory's mappings and the pages that are not all
// zeros, or the bytes of a registered MemoryType); every
// file (status flags and the type's state: a pipe's slots with their
// offsets and packet marks, its open ends and poll_usage; an eventfd's
// counter and mode; an AF_UNIX socket's type, connection, shutdown, pending
// error, send-buffer charge and queued skbs with their truesize and
// sender, including released sockets that a live one still names; a
// timerfd's count, expired and armed state, interval and remaining time;
// a regular file's pages, size and offset; for a file of an embedder's
// registered type, the bytes its FileType.Save gives and the files it
// names); every epoll instance
// (registrations with their key, stored interest, data, ONESHOT and
// EXCLUSIVE state, the ready list in order, nested links) and the
// domain's max_user_watches and EPOLLWAKEUP setting; the kernel's fdinfo
// inode numbers and next pid; every process (SaveOptions.Processes, the
// tasks', the ones pidfds and signalfds refer to, and their parents and
// children: pid, parent, running, zombie or reaped, exit status, the
// signals pending for it as a whole and the ones it ignores or catches,
// its table and memory while it runs) and each task's process and tid;
// every pidfd (its process) and signalfd (its mask, creating task and
// process), and for each epoll registration of a signalfd the process
// whose queue it hooks (the thread that added it). Each object is saved
// once and referred to by index, so sharing survives: one file behind two fds or two tables, one pipe behind
// its two ends, one epoll watched by two others.
//
// Two orders that Linux makes observable are kept: the ready list's, and
// the order of the registrations of one file on its wait queue (which
// decides the order in which a wakeup queues them, and which exclusive
// entry takes a wake-one). The latter is the order of their ADDs, which is
// also the order of the file's watch list; each registration saves its
// position there (WatchRank) and restore registers them in that order.
//
// Timerfds are saved relative to the clock: remaining time (negative once
// passed, so that missed periods are still counted) and interval. Restore
// arms them relative to the new kernel's clock (RestoreOptions.Clock),
// after every registration is in place, so an expiry due at once is seen.
// An absolute CLOCK_REALTIME timer becomes relative: a later clock_settime
// on the new host does not move it (the model's clocks are never set under
// a timer anyway).
//
// Host fds (package hostfd) cannot be serialized. Each is saved as a name
// that SaveOptions.HostName gives; Restore asks RestoreOptions.Host for a
// fresh host fd under that name (as gVisor asks for re-donated fds) and
// fails with ErrMissingHost if there is none. The new fd's state is the
// host's, not the saved one: registrations on it are polled once at
// restore and queued if ready, as an epoll_ctl ADD does (what CRIU's
// restore of an epoll does for every target), so an edge-triggered entry
// may see one more event.
//
// # Foreign file types and guest memory
//
// An embedder's own file types (an fs.Impl of its package: a socket of its
// TCP stack, a signalfd, a device) are saved by the embedder, through a
// Registry given in SaveOptions.Types and RestoreOptions.Types:
//
//	reg := &checkpoint.Registry{}
//	reg.RegisterFile(checkpoint.FileType{
//		Name:      "mykernel.listener",   // stable across programs
//		Impl:      (*listener)(nil),       // matched by dynamic type
//		Save:      saveListener,           // func(*SaveContext, *fs.File) ([]byte, error)
//		Restore:   restoreListener,        // func(*RestoreContext, []byte) (*fs.File, error)
//		Readiness: checkpoint.ReadinessExact,
//	})
//
// Save gives the type's Save every file of its type once, in a quiescent
// kernel; the bytes it returns are the type's own format, opaque to this
// package. The file's status flags and pollability are saved by this
// package. A file may name other files with SaveContext.Ref (an accept
// queue's connections, a peer): each named file is saved too, whatever
// its type, once however often it is named, and is held by the naming
// file (it need not be in any fd table). Ref returns a small index,
// which the type writes into its bytes; at restore RestoreContext.Ref
// turns it back into the new file. SaveContext.Task gives a task's index
// in the task list (Restored.Tasks has the same order). Files of a type
// can be pollable (registrations on them are saved like any other) or
// not (epoll_ctl refuses them with EPERM, as before the checkpoint).
//
// Restore calls the type's Restore once per file, after the model's own
// files, host fds and (empty) epoll instances exist, and before any
// registration is restored or timer armed; a foreign file it names is
// restored first, on demand. The new file must have the saved flags
// (RestoreContext.Flags) and the saved pollability, or Restore fails.
// Files that name each other (a cycle) are linked in a function given to
// RestoreContext.Defer, which runs once every file, fd table and task
// exists. A type missing from RestoreOptions.Types is ErrUnknownType; an
// error of a type's Restore fails the whole Restore, which releases what
// it built.
//
// Readiness: the ready list and every registration's state are saved as
// they are. A type whose restored files have exactly the saved readiness
// says so with ReadinessExact (for all its files, in FileType.Readiness,
// or per file with RestoreContext.SetReadiness): its registrations are
// then restored as saved and nothing is polled, so an edge-triggered
// registration whose edge the guest already harvested reports nothing,
// as on the original kernel. ReadinessRepolled (the default, and what
// host fds get) polls each registration on the file once at the end of
// Restore and queues it if ready, as an epoll_ctl ADD does: right for a
// file whose state lives outside the checkpoint, at the cost of one more
// edge-triggered event.
//
// Guest memory: a task's syscalls.Memory is saved by this package if it
// is a *syscalls.GuestMemory; another type is saved by a MemoryType
// registered with Registry.RegisterMemory (its Save and Restore turn the
// whole address space into bytes and back). A memory shared by several
// tasks is saved once and restored shared.
//
// # Quiescence
//
// Save must be called when no task of the kernel is inside a system call
// (the embedder stops its guest threads between calls, as CRIU freezes a
// process). Calls in progress are not saved, and one caught half-way
// (a pipe2 between reserving and installing its numbers, an epoll_wait
// harvesting) makes Save fail (fd.ErrReserved, epoll.ErrBusy) rather than
// save a state Linux never shows. Timer expiries are held off for the
// duration of Save (fs.FreezeTimers), so none is seen counted but not yet
// notified. Host-side readiness changes may still arrive during Save; they
// are covered by the re-poll above.
//
// A guest thread blocked in epoll_wait, read, write or poll is not
// quiescent. The embedder ends such calls first, without a signal, with
// syscalls.Task.Stop (SaveStopped does it for a set of tasks, then
// continues them), and the call returns what Linux returns to a thread
// that is stopped (SIGSTOP, or CRIU's freeze) and continued, with no
// signal handler running (signal(7); checked on Linux 6.18 with SIGSTOP
// then SIGCONT to threads blocked in each call):
//
//   - epoll_wait, epoll_pwait and epoll_pwait2 return EINTR, with or
//     without a timeout (ep_poll returns EINTR itself, never a restart
//     code), and pwait's temporary mask is restored;
//   - read and readv (pipe, eventfd, timerfd, AF_UNIX socket), write and
//     writev, poll and ppoll that have transferred nothing are restarted
//     by Linux transparently (ERESTARTSYS, ERESTARTNOHAND or
//     ERESTART_RESTARTBLOCK with no handler): the model returns
//     syscalls.ErrRestart, which the embedder never shows the guest but
//     answers by issuing the same call again once the thread runs, on the
//     restored kernel (or the original one);
//   - a blocking write that has transferred part of its bytes returns that
//     count (pipe_write stops at a pending signal, and a stop is one).
//
// So the guest sees, after a restore, exactly what a thread frozen and
// thawed in those calls sees, and nothing of an interrupted call has to be
// saved. One difference remains, in timing only: Linux restarts poll with
// the time that was left (its restart block keeps the end time), and so
// does the task that was stopped, but a restored task does not have that
// deadline: its re-issued poll waits its whole timeout again. (ppoll
// needs nothing saved: it wrote the time left to its timespec.) A
// signal delivered to the call at the same time makes it EINTR as usual,
// its handler having run. A task that is not blocked is not disturbed: a
// call that need not block runs as usual while the task is stopped.
//
// # Format (version 3)
//
// The format has one source, the description in package
// checkpoint/internal/format: the encoder, the decoder (with its range
// and size checks) and the listing below are generated from it by
// formatgen (go generate), and tests check that they are up to date and
// that the description covers every field of the Go types.
//
// A checkpoint is: the 8 bytes "GPOLLCKP", the version (uvarint), the
// body, and a CRC-32 (IEEE, little endian) of everything before it.
// Numbers are varints (encoding/binary: uvarint for unsigned values,
// zig-zag varint for signed ones), booleans one byte (0 or 1), byte
// strings a uvarint length and the bytes, pages exactly 4096 bytes with
// no length, lists a uvarint count and the elements; a field is signed
// or unsigned as its Go type (Image and the state types of packages fs,
// epoll, fd and syscalls that it holds, whose field names the listing
// uses), and an enumeration (a file's Kind, a socket's Shutdown, a task's
// Arch) is a uvarint with a maximum. "X if C" is written only when C
// holds, "X[n]" is n values without a count, and "[R: ...]" a list of
// records R. The body is, in order:
//
//	kernel:   MaxUserWatches, KeepWakeup, NextIno, [Ino: File, Ino], NextPid
//	files:    [File: Kind, Flags, Object, FPipe,
//	            Eventfd if Kind is eventfd {Count, Semaphore},
//	            Timer if Kind is timerfd {ClockID, Ticks, Expired, Armed,
//	            HasExpiry, Expiry, Interval},
//	            Regular if Kind is regular {Size, Pos, [RegularPage: Index,
//	            Data (page)]}]
//	          [Pipe: Readers, Writers, Polled, [PipeSlot: Off, Packet,
//	            Data], RingSlots, FIFO, RCounter, WCounter]
//	          [Socket: Type, Connected, Shutdown, Err, Peer, Dead, Wmem,
//	            Sndbuf, [Skb: Consumed, Truesize, Sender, Data], OOB,
//	            Listening, Backlog, [Pending], Name, Bound]
//	          FIFONodes
//	          [Path: Path, FIFO]
//	          UnixAutobind
//	epolls:   [Epoll: File, [Item: Target, Fd, Events, Data, WatchRank,
//	            Caller], [Ready]]
//	hosts:    [Host: File, Name]
//	foreign:  [Foreign: File, Type, Pollable, [Refs], Data]
//	tables:   [Table: Soft, Hard, Private, [Slot: Fd, File, Cloexec]]
//	memories: [Memory: Type, Guest if Type is empty {[Map: Start, End],
//	            [Page: Addr, Data (page)]}, Data if Type is not empty]
//	tasks:    [Task: Table, Memory, Arch, Mask, Pending, Delivered[64],
//	            Rlimits[16][2], Process, Tid]
//	processes:[Process: Pid, Parent, State, Status, Table, Memory, Forked,
//	            Implicit, Shared, Ignored, Caught]
//	pidfds:   [Pidfd: File, Process]
//	signalfds:[Signalfd: File, Mask, Creator, Owner]
//	roots:    [Roots]
//
// Decode rejects anything else: a bad magic, version or checksum, a
// truncated number, a count larger than the remaining input could hold
// (so no length field allocates more than a small multiple of the input),
// trailing bytes, and every inconsistency Image.Validate finds (indices out
// of range, a socket pair not connected back or with a wrong charge, a
// pipe whose ends do not match its counts, a registration of a file that
// is not pollable or twice under one key, watch ranks that are not a
// permutation, a ready list naming an item twice, a cycle of epolls or a
// chain deeper than Linux allows, a file held by nothing, ...). Restore
// validates before building anything, so a rejected input leaves no
// state behind (a foreign type's bytes are its own: its Restore checks
// them, and an error there makes Restore release what it built). Version changes are not compatible: a reader accepts only its
// own version (version 1 images, written before foreign types and memory
// types existed, are refused with an error naming both versions).
//
// # Lock order
//
// Save takes, in this order: every timerfd's expiry lock (fs.FreezeTimers,
// for each round of files found: those of the fd tables and roots, then
// those the registered types name), calling each FileType.Save after its
// file's round is frozen and before any lock below (a type's Save may
// take its own file's locks, and must not wait for a timer expiry or a
// guest thread), then each file's state lock in turn, then every saved
// instance's EventPoll.mu together (instances in discovery order) with
// each file's watch lock and each instance's wait lock in turn
// inside. Nothing
// else runs in a quiescent kernel but timer expiries (held off) and host
// pollers (which take only queue and epoll wait locks), so this does not
// deadlock. Restore builds objects nobody else can reach yet (a type's
// Restore and deferred functions run on Restore's goroutine, holding none
// of this package's locks).
package checkpoint
