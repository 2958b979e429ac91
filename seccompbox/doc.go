// Package seccompbox runs an unmodified Linux program (the guest) with its
// epoll system calls (epoll_create, epoll_create1, epoll_ctl, epoll_wait,
// epoll_pwait, epoll_pwait2) trapped by seccomp user notification and
// served by guestpoll's kernel model (kernel/epoll) through its syscall
// layer (syscalls), while every other fd of the guest stays a real host fd.
// cmd/epollbox is its command; conformance/boxedbackend runs the
// conformance corpus through it. docs/epollbox.md explains the design and
// measures it.
//
// # What the package owns
//
//   - The shim (RunShimIfRequested): the current executable re-run by Start;
//     it locks its thread, sets NO_NEW_PRIVS, installs a cBPF filter with
//     a new listener (kill for other arches and x32 numbers, user
//     notification for the epoll calls and rt_sigreturn, and for poll,
//     ppoll, select and pselect6 unless Options.NoPollSync, ENOSYS for
//     io_uring_setup, whose operations no filter sees), sends the
//     listener over an inherited SEQPACKET socket and execs the guest. Its
//     signals stay blocked from the filter to the exec, since a handled
//     signal's rt_sigreturn would wait for a listener not yet sent.
//   - The Box (Start, Wait): the supervisor. One receiver goroutine, locked
//     to its OS thread, takes each notification and serves inline all that
//     cannot block (create, ctl, waits with a zero timeout, the first
//     harvest of a blocking wait when events are queued, the poll sync); a
//     wait that must block goes to the worker goroutine of its guest
//     thread, which blocks in the model.
//   - Instances (instance.go): each guest epoll is a model epoll plus its
//     placeholder, a real host epoll installed in the guest with
//     SECCOMP_IOCTL_NOTIF_ADDFD and the SEND flag (installed and answered
//     in one step), so poll, select, nesting in a host epoll and fork work.
//     The placeholder holds a doorbell eventfd that the box keeps readable
//     while the model instance has events queued.
//   - Proxies (proxy.go): the model file of each registered guest file. No
//     reference on the guest's file is kept: the file is registered, level-
//     triggered, in host "probe" epolls through a transient duplicate that
//     is closed at once, so the guest's close releases it as natively (and
//     its probe items with it). Readiness is a zero-timeout epoll_wait of a
//     probe, skipped for a side whose last poll found nothing ready until
//     a wakeup of it is harvested (proxy.idleSide); wakeups reach the model through a central host epoll holding
//     the probes, edge-triggered. Each probe also holds an always-readable
//     eventfd (Box.ready), so that a poll of the central epoll never prunes
//     a probe from its ready list (Linux's poll of an epoll fd drops
//     entries that are not ready), which would lose the wakeup of a file
//     drained since.
//   - Vaults (vault.go): fd tables of the box's own besides its main one,
//     where probes and full always-ready eventfds go once the main table is
//     half used, so that the box's fds stay bounded however many files are
//     registered (RLIMIT_NOFILE bounds the numbers of each table). A vault
//     is a locked thread with an unshared table, filled through its own
//     seccomp listener (NOTIF_ADDFD with SETFD) and read with pidfd_getfd;
//     it never runs on the main thread, and the box reads its own fds
//     through /proc/thread-self.
//   - Guest memory (memory.go): process_vm_readv/writev, as the syscall
//     layer's Memory.
//   - Each guest thread's trapped calls (lifecycle.go, threadCalls): the
//     phases of a wait (running, queued, served, answered, refused,
//     abandoned) and the call a thread left unanswered (a wait, a ctl, a
//     create) until its next call or its rt_sigreturn settles it.
//
// The serving code is split by concern: dispatch.go (the receiver's
// handle), thread.go (guest threads, their pidfds and workers),
// identity.go (the slot, instances behind guest fds), create.go, ctl.go,
// wait.go, pollsync.go, sigreturn.go, frameaddr.go (where a signal frame
// is), and sweepers.go (the background
// sweeper and doorbell refresher).
//
// # Identity: the slot
//
// Every comparison of guest files uses the host kernel's own key of epoll
// items, (file, fd): the guest fd is duplicated (pidfd_getfd, then dup3) to
// one fixed fd number of the box, the slot, at the top of its fd limit, and
// a MOD of a probe's item at that number succeeds only if the file is the
// one registered there. This finds the instance behind a guest epoll fd
// (through any dup or fork), tells whether a ctl names the file of an
// existing registration (EEXIST, MOD, DEL) or a new one (a reused number),
// and costs two fd operations per check. The slot is closed after each use.
//
// # Keeping the model in step with the host
//
// Every wait and ctl first harvests the central epoll (drainHost): each
// change the guest made before the call (a write to a watched pipe) has run
// its host wakeup callbacks by then, so the model's ready list is what
// Linux's would be. A poller goroutine does the same asynchronously for
// waits already blocked. A trapped poll/select recomputes the doorbells of
// the guest's epoll fds it names (Linux's poll of an epoll fd) and is then
// continued.
//
// # Signals and interrupted calls
//
//   - A guest thread interrupted out of a trapped call leaves a pending
//     notification behind: the box finds out when the same thread sends a
//     new one (a thread has one call in flight), or by NOTIF_ID_VALID in
//     the sweeper (every 20 ms) for blocking waits, and interrupts the
//     model wait. Guest memory is never written for a notification that is
//     no longer valid: the copy-out checks first, and a failed first copy
//     leaves the harvested events queued (the model's EventWriter
//     contract).
//   - A wait that harvested events is answered from inside the harvest,
//     after the copy-out and before the model consumes the events
//     (syscalls.Task.SetEventCommit, epoll.EventCommitter). If the answer
//     cannot be delivered (the thread was interrupted in between), the
//     model puts every event back at the head of its ready list, untouched
//     and ONESHOT registrations still armed, as Linux's interrupted
//     epoll_wait leaves them: the thread's next wait gets them. Host
//     wakeups are held back (pollMu) from the answer to the end of the
//     harvest, so that what the guest does once answered reaches the ready
//     list after the harvest's re-queued items, as in Linux.
//   - rt_sigreturn is trapped (sigreturn.go): when a handler returns, the
//     signal frame says whether the kernel is about to restart the
//     interrupted call (SA_RESTART) or return EINTR, and the box rewrites
//     it to Linux's answer: EINTR for a wait that slept, a restart for one
//     that did not (Linux's never returns EINTR without sleeping), the
//     applied result for a ctl, the placeholder (installed then) for a
//     create. A trapped rt_sigreturn can itself be interrupted: the
//     handler frame of the interrupting signal is turned into a restart of
//     it, since returning EINTR into a signal restorer would crash the
//     guest. A wait that slept, restarted with no handler run (a stop: the
//     same call from the same place with the same arguments, and no
//     rt_sigreturn between), is answered EINTR.
//   - A call withdrawn before the box received it (a gap in the ids; the
//     first id received counts as following one) that Linux never fails
//     with EINTR (epoll_ctl, epoll_create, a wait with a zero timeout,
//     events queued or arguments refused before it would sleep) is
//     restarted from its handler's frame (Box.restartUnseen), recognised
//     by its wrapper's code (mov $nr, %eax; syscall: a generic wrapper
//     keeps its EINTR, docs/epollbox.md).
//   - A ctl or create whose answer (a result or an error) could not be
//     delivered is answered again, without being done twice, when the
//     same call comes back (the replay cache), or written into the
//     handler's frame; a call the box was continuing to the host is run
//     again. A wait whose arguments Linux refuses before it would sleep
//     (failsEarly) is answered on the receiver, never handed to a worker.
//   - An answer NOTIF_SEND took but the kernel dropped (the thread was
//     woken by a signal just before: seccomp_do_user_notification) is
//     written into the frame at the first handler's rt_sigreturn
//     (answeredCall, sigFrame.mendDropped).
//   - A frame's place is the thread's stack pointer, from
//     /proc/TID/syscall, which reads "running" while the thread is still
//     on its way to sleep in the trapped call: the box waits for it to sleep as long as the notification
//     is pending (frameaddr.go). An epoll_create whose placeholder was
//     installed at rt_sigreturn keeps its result as the thread's left
//     call until the frame has it, so that an interrupted rt_sigreturn's
//     restart writes it.
//   - NOTIF_SEND and NOTIF_ID_VALID take notify_lock interruptibly: a
//     signal to the box's thread while the lock is held elsewhere fails
//     them with EINTR, having done nothing; they are made again
//     (lockedIoctl), never taken for a withdrawn notification.
//   - A blocking epoll_pwait or epoll_pwait2 with a signal mask cannot be
//     emulated (the box cannot change the guest thread's mask): it is
//     served without the mask and reported once on Options.Log.
//   - SECCOMP_IOCTL_NOTIF_ADDFD with SEND waits interruptibly after marking
//     the notification answered: a signal to the supervisor's thread then
//     makes the guest's epoll_create return 0. The receiver blocks every
//     signal around that ioctl.
//
// # Invariants
//
//   - The box keeps no reference on any guest file: only transient
//     duplicates, closed before the notification is answered.
//   - A notification is answered at most once; nothing is written to guest
//     memory for an answered or withdrawn one (each write checks first).
//   - A signal frame is rewritten in one write (rax to rip) after one
//     check, so the guest restores either the kernel's frame or the box's,
//     never half of each (sigFrame.rewrite says why that is atomic).
//   - Wait returns when the guest has exited and no task uses the filter
//     any more (the listener hung up: a daemon the guest forked is served
//     to its end), and stops every goroutine of the box and closes every fd
//     it opened.
//
// # Lock order
//
//	slotMu > Box.mu > instance.mu > exclMu
//	pollMu > proxMu (read) > proxy.mu; a proxy's queue is notified with
//	pollMu held, and model locks are taken below it (the model calls
//	proxy.Readiness, which takes proxy.mu)
//	a model instance's harvest lock > pollMu: a wait's answer is sent from
//	inside the harvest (server.commit) with pollMu held until the harvest
//	ends; wakeups, the only model code run under pollMu, take ready-list
//	locks, never a harvest lock
//	threadCalls.mu is a leaf apart from the worker task's signal lock
//	(Interrupt, DiscardSignals); a wait's answer (server.commit) is sent
//	with it held, so that the thread's record and the answer change
//	together
//	proxy.mu > readyMu > vaultMu > vault.mu: a proxy's probes are made,
//	moved to a vault and released under its lock; vault.mu is held across
//	a NOTIF_ADDFD to the vault thread
//	instance.bellMu is a leaf
//
// collect (the sweeper's, and newInstance's when the instances have
// doubled) holds none of the box's locks while it takes another, nor
// while it drops the references that release proxies and model instances.
// The receiver alone owns the pidfds, each thread's last instance
// (thread.lastEp), the slot's contents between slotMu's lock and unlock,
// and the notification-id bookkeeping (lastID, lastGap, gapUntil,
// checkFrame).
//
// Model locks are never held while the box takes its own, except proxy.mu
// (under Readiness) and the bell waker, which only sends on a channel.
//
// The guarded fields carry +checklocks annotations, and the functions that
// need a lock are named and annotated as docs/locking.md says. commit's
// hand-over of pollMu to serveWait (above) is one place the tool cannot
// follow; a call's phase is the other: threadCalls reaches a call as a
// parameter or as inFlight, the tool only as c.th.calls, so call.phase
// and call.moveLocked keep their lock (threadCalls.mu) in prose.
package seccompbox
