// Package fuzzgen is guestpoll's differential fuzzer: it decodes fuzzer
// bytes into conformance scripts (the format: docs/conformance-format.md) and runs
// them on the host kernel and on the model. Any difference is a model bug
// with a ready-made reproducer (or a generator bug, see below).
//
// # Pieces
//
//   - Generate (gen.go) decodes bytes into a script. Each operation is an
//     opcode byte (weighted towards epoll_ctl, waits and I/O) and a few
//     argument bytes: fd references, table selectors, masks (a table entry,
//     or raw bits after an escape byte), data. Each operation's decoder,
//     encoder, opcode and weight are its entry in package conformance's
//     operations table (conformance.FuzzDecodeOp, FuzzEncodeCall); the byte
//     codec and the fd-table simulation they share are
//     conformance/internal/fuzzcodec. The universe is
//     several epoll instances, pipes (also packet mode), eventfds, stream,
//     datagram and seqpacket socketpairs, unconnected sockets, timerfds,
//     regular files, dups (dup, dup2, dup3 onto names or raw numbers) and
//     the raw numbers -1, 999 and 0x7fffffff; with version 3, forks,
//     listeners and their connections, pidfds, signalfds and FIFO ends.
//     Every input decodes to a valid script; bytes past MaxOps
//     operations are ignored.
//   - Encode turns a conformance script into input bytes whose decoding is
//     the closest generated script; the fuzz targets' seed corpus is the
//     whole conformance corpus (../testdata, regression scripts included)
//     encoded this way, so `go test` runs every seed and fuzzing starts
//     from the hand-written scenarios.
//   - RunLinux runs a script on the host kernel inside this process
//     (conformance.NewInProcessLinuxMachine, threads unlocked); RunModel on
//     a fresh model machine, optionally checking its invariants after every
//     step; Diff compares the two.
//   - The targets (fuzz_test.go): FuzzEpollSequence (differential, and no
//     fd of the process leaked by the Linux run); FuzzEpollSequenceCheckpointed
//     (the same against RunModelCheckpointed: a model-cr machine that saves
//     its kernel and restores it into a new one at random points between
//     steps, chosen from the script's text so that a finding reproduces;
//     a separate target because such a run costs about 5 plain ones);
//     FuzzModelInvariants (the model alone:
//     modelbackend.Machine.CheckInvariants after every step, no fd left
//     once the executor cleaned up, no goroutine left).
//     FuzzParse (package conformance) covers the parser.
//   - cmd/epollfuzz runs every target with a summary (make fuzz), prints
//     the script a finding decodes to, and re-runs scripts differentially.
//
// # Determinism
//
// A generated script must give the same trace on every Linux run, or a
// difference would not be a model bug. The generator therefore tracks the
// fd table (which number holds which kind of file, allocated lowest-first
// as both sides do) while it decodes, and:
//
//   - binds a fresh name only on a creation that cannot fail, so no step
//     ever uses a name that was never bound; invalid creations bind none;
//   - makes every pollable file O_NONBLOCK and never clears it (F_SETFL
//     without O_NONBLOCK only on epoll and regular files), and waits and
//     polls with timeout 0 (a non-zero timeout only with an invalid
//     maxevents, which fails first), so no call blocks;
//   - arms timerfds only far in the future, disarms them, or sets an
//     expiry already past and then polls the timer with a long timeout,
//     which returns as soon as the timer fired (Linux fires it
//     asynchronously); intervals are far in the future too;
//   - never names a raw fd the process could own, and never lowers
//     RLIMIT_NOFILE (the Linux side shares the test process);
//   - leaves out what depends on the machine rather than the kernel
//     (BADPTR with 2 GiB of maxevents: where BADPTR lies differs).
//
// Fd numbers differ between the two sides (the test process has its own
// fds open), but lowest-free allocation keeps the order and the equality
// of the script's numbers, which is all a script can observe. Spurious
// EINTRs from the Go runtime's preemption signals are retried on the Linux
// side (no generated step is ever interrupted on purpose).
//
// # Format version 3
//
// GenerateFor and EncodeFor also make the version 3 operations a filter
// accepts (conformance.FuzzServes of the backend under test; Generate and
// Encode make none, and decode exactly as before version 3). The targets
// pass the model machine's filter, so they make what the model serves and
// nothing a differential run would stop at. The rules that keep such
// scripts deterministic and non-blocking (one fd table per process, a
// fork's steps joined at once, waitpid only after exit, SIGUSR2 only
// where blocked, every new socket, FIFO end and signalfd non-blocking,
// connects bound only when they succeed) are docs/fuzzing.md's; the
// simulation is conformance/internal/fuzzcodec's. RunLinux runs a script
// with version 3 steps on the linux backend, in a child process: the
// test binary calls conformance.RunChildIfRequested (main_test.go).
//
// # Threads
//
// Every Step has a Thread: "" for the main thread, or a fork's name for
// its steps ('P & CALL', each followed by 'join P'). A thread-aware
// generator adds an opcode that queues the next operation on a named
// thread ("T & CALL") and one that joins it, keeps a per-thread queue in
// its simulation, and renders blocking waits only on threads that a later
// step is guaranteed to wake (or with 'within'-free timeouts); the Linux
// side then needs NewInProcessLinuxMachine(true) for interrupts. The fd
// simulation already applies a call's effects in program order, which is
// the order joins apply them.
//
// # Invariants and locks
//
// The package holds no global state besides read-only tables. Each run
// uses its own machine; the Linux runs must not overlap with anything else
// that opens or closes fds in the process (the fuzz targets run one input
// at a time per process).
package fuzzgen
