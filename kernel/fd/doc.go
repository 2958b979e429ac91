// Package fd holds fd tables: the map from a task's file descriptor numbers
// to open file descriptions (fs.File), with FD_CLOEXEC per number and the
// RLIMIT_NOFILE soft limit.
//
// # Invariants
//
//   - Each installed number holds exactly one reference on its File.
//   - A new number is always the lowest free one at or above the requested
//     minimum, and below the limit (else EMFILE), as in Linux.
//   - A number may be reserved (Reserve) before its file exists, as Linux's
//     get_unused_fd_flags does: it is neither free nor open until
//     InstallReserved or Unreserve, so no other thread can see a file that
//     a failing pipe2 or socketpair is about to drop.
//   - Tasks Attach to the table they use and Detach when done. A table made
//     by NewTable belongs to its maker, who closes it (CloseAll); a table
//     made by Unshare (close_range with CLOSE_RANGE_UNSHARE on a shared
//     table) belongs to its tasks and is closed when the last one detaches.
//   - Closing a number drops its reference after the table lock is released,
//     because a final release may take epoll locks.
//   - CheckInvariants (invariants.go) verifies the table's side of these
//     for fuzzers and tests.
//   - Save and RestoreTable (state.go) turn a table into plain values and
//     back for package checkpoint; a reserved number makes Save fail
//     (ErrReserved): a call is in progress.
//   - GetFile, the lookup of every system call, takes no lock: it reads a
//     mirror of the installed files that every change updates under the
//     lock in a single store (a dup2 onto an open number replaces it, never
//     clearing it first), then references the file and checks that the
//     number still holds it, as Linux's RCU lookup does.
//   - Borrow, the lookup of the syscall layer's hot paths, is GetFile
//     unless the table is task-owned (SetTaskOwned: only its tasks' own
//     calls change it) and at most one task is attached; then it takes no
//     reference either (Linux's __fget_light for a files_struct with
//     count 1), since only the calling task could drop the table's.
//
// # Misuse
//
// Each installed number owns one reference; dropping it from outside the
// table (a DecRef too many) leaves a released file installed. Any lookup
// that finds one panics naming the fd and the misuse: GetFile (which would
// otherwise retry forever, since it cannot reference the file), Get, Dup,
// Dup2 and Fork; a Close of it panics in File.DecRef. The locked lookups
// release the table lock on the way out. Install and InstallReserved of a
// nil or released file panic too.
//
// # Lock order
//
// Table's fields are annotated +checklocks:mu and the functions that need
// it are named fooLocked, as docs/locking.md says; publishLocked refreshes
// the lockless lookup array.
//
// Table.mu is a leaf: nothing else is locked under it, and File.DecRef is
// never called while holding it. GetFile takes no lock.
package fd
