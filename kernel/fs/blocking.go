package fs

// Blocking I/O.
//
// Read and Write never block. The syscall layer implements a blocking read
// or write as a loop: try, and on EAGAIN register a waiter on the file's
// queue (File.EventRegister hooks exactly the queue a blocked Linux task
// would sleep on), sleep until woken, try again.
//
// For most types that loop sends the same wakeups as Linux. Pipes are the
// exception, because pipe_read and pipe_write send some wakeups only when
// the call slept or is about to sleep, and never send others then:
//
//   - A reader that had to sleep and then read something wakes the next
//     blocked reader (IN|RDNORM on the reader queue) if data is left; a
//     writer that had to sleep wakes the next writer (OUT|WRNORM) if space
//     is left ("wake_next_reader"/"wake_next_writer" in fs/pipe.c). A
//     sequence of non-blocking attempts never sends these.
//   - A writer about to sleep wakes readers only if the pipe was empty when
//     it started (or resumed), not because of the epoll poll_usage rule; a
//     non-blocking attempt that ends in EAGAIN does the poll_usage wakeup.
//   - A writer that resumes after sleeping does not try to merge into the
//     last slot; only the first attempt of a call does.
//
// Pipe ends therefore implement BlockingIO, and the syscall layer should use
// it for blocking pipe I/O: call ReadRound/WriteRound with IORound{WillSleep:
// true} first; on EAGAIN sleep, then call again with Resumed: true. Rounds
// consume their IOSequence, so every round of one call gets the same
// sequence; a write adds up the counts (a round returns the bytes it wrote
// together with EAGAIN when it would sleep). When a signal
// interrupts a blocked write, make one last round with WillSleep: false
// (Linux re-checks the pipe once more and then sends its end-of-call
// wakeups); a blocked read that is interrupted just returns, without another
// round. EPIPE after earlier rounds wrote data means "return the total"
// (SIGPIPE is raised either way).
//
// For the other types the retry loop is exact, with two things to know. A
// stream socket's Write returns a short count when the send buffer fills
// (as a non-blocking Linux write does); a blocking write goes on with the
// rest after waiting, and returns the total once everything is written or,
// on a signal, the count so far (EINTR only if nothing was written). And a
// datagram socket whose receive side is shut returns 0 from a read only
// when the file is blocking (EAGAIN otherwise): Read looks at O_NONBLOCK
// for that one case, so the loop never spins on it.
//
// A blocked Linux task is woken by any wakeup of the queue it sleeps on,
// whatever the key, and then re-checks; the syscall layer's waiter should
// do the same (retry on every wakeup).
//
// A task blocked on a pipe waits as an exclusive waiter
// (wait_event_interruptible_exclusive), on every other type of this package
// as a plain one; BlockingWaitExclusive says which, for the syscall layer's
// wait-queue entry (ExclusiveBlocker). This matters to EPOLLEXCLUSIVE
// walks (docs/semantics.md#exclusive). A task blocked in accept (Listener)
// is an exclusive waiter on the listener's queue, and one blocked in
// connect an exclusive waiter on the listener's peer_wait queue
// (ConnectWait); the syscall layer asks for both.

// IORound places one attempt inside a read or write call that may block.
type IORound struct {
	// Resumed reports that the call already slept at least once.
	Resumed bool
	// WillSleep reports that the caller will sleep and try again if this
	// attempt cannot complete the call (a blocking call with no signal
	// pending). False for non-blocking calls and for the last attempt of
	// an interrupted call.
	WillSleep bool
}

// BlockingIO is implemented by file types whose blocking reads and writes
// send wakeups that a plain retry of Read/Write would not (pipes).
//
// ReadRound returns what Read returns, except that with WillSleep an attempt
// that finds nothing returns EAGAIN having sent only the wakeups Linux sends
// before sleeping. WriteRound returns the bytes written by this round, and
// with WillSleep returns EAGAIN alongside a short count when the rest of the
// buffer has to wait.
type BlockingIO interface {
	ReadRound(f *File, dst IOSequence, r IORound) (int, error)
	WriteRound(f *File, src IOSequence, r IORound) (int, error)
}

// ExclusiveBlocker is implemented by file types whose tasks blocked in read
// or write wait on the file's queue as exclusive waiters (Linux's
// wait_event_interruptible_exclusive: pipes), so that one wakeup wakes one
// of them, and an EPOLLEXCLUSIVE registration on the same queue competes
// with them. A type that does not implement it gets plain waiters.
type ExclusiveBlocker interface {
	BlockingWaitExclusive(f *File) bool
}

// BlockingWaitExclusive reports whether a task blocked in read or write on
// f waits on f's queue as an exclusive waiter (pipes) rather than a plain
// one (eventfd, timerfd, sockets).
func BlockingWaitExclusive(f *File) bool {
	e, ok := f.impl.(ExclusiveBlocker)
	return ok && e.BlockingWaitExclusive(f)
}
