// Package fs holds open file descriptions (File) and the file types of the
// model: pipes, eventfds, AF_UNIX sockets, timerfds and regular files. The
// epoll instance is a file type too, but it lives in package epoll.
//
// # What a File owns
//
// A File is reference counted: fd tables, dup'd fds and in-progress system
// calls each hold a reference. Epoll registrations do not; they hang on the
// file's watch list instead, and the file's final DecRef removes every one
// of them (Linux's eventpoll_release) before releasing the implementation.
//
// File types implement Impl (read, write, release) and, when epoll may watch
// them, Pollable (readiness and wait-queue registration). Reads and writes
// never block here: they return EAGAIN, and the syscall layer waits on the
// file's queue.
//
// # Wakeup keys
//
// Each type notifies its queues with the same keys Linux passes to its wait
// queue wakeups, on the same state changes, because edge-triggered epoll
// observes every one of them (see linux-epoll-semantics.md §9).
//
// # Lock order
//
//	epoll instance mutex  >  File.watchMu
//	file state lock (pipe, eventfd, socket, timerfd mutex)  >  nothing
//
// A file never holds its state lock while notifying a queue: it records what
// to notify, unlocks, then notifies (see package waiter). Readiness takes only
// the state lock.
package fs
