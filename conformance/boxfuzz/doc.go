// Package boxfuzz is the box-level differential fuzzer: a script from the
// conformance fuzz generator (conformance/fuzzgen) runs natively, in the
// linux backend's child process, and under the box (seccompbox, as the
// boxed backend runs it), with the same storm of signals, and the boxed
// trace is compared with the native one (conformance.Compare). Any
// difference is a divergence of the box (docs/epollbox.md), or of the
// model if the model backends diverge too.
//
// # Pieces
//
//   - Decode (config.go) splits a fuzz input into a Config (storm level,
//     blocking waits, handoffs) and the generator's input; Encode makes
//     seeds from corpus scripts.
//   - Prepare (prepare.go) rewrites the generated script so that it
//     reaches the box's blocking paths while its Linux trace stays
//     deterministic, and leaves out what the box cannot match by
//     construction: fdinfo steps (an epoll fd's fdinfo shows the box's
//     placeholder) and blocking waits with a signal mask (never made).
//   - The storm (storm_linux.go): each side's conformance child runs a
//     linux machine wrapped in a stormMachine, which sends SIGUSR1 (caught
//     without SA_RESTART) to every script thread at random intervals
//     around a level's mean, and retries an EINTR only where Linux may
//     give one to these scripts (a poll; a wait on the handoff thread,
//     which really sleeps). An EINTR of epoll_create, epoll_ctl or a
//     main-thread wait is left in the trace: natively there is none. The
//     linux machine makes the epoll calls through wrappers that load the
//     number as an immediate, as C libraries do (conformance's
//     cwrappers_linux_amd64.s): a call a signal withdraws before the box
//     receives it can be restarted only from such a wrapper (its frame
//     keeps no number), and through Go's generic syscall.Syscall6 every
//     such withdrawal would be a finding the box cannot fix
//     (docs/epollbox.md, "What it cannot do"). The
//     backends are registered per level as boxfuzz-linux-stormN and
//     boxfuzz-boxed-stormN; the boxed ones start their child through
//     boxedbackend.Launch, so the stormMachine runs inside the box. The
//     package's init turns a process started as such a child into one
//     (conformance.RunChildIfRequested), so any binary that links the
//     package can run the target: a test binary, cmd/epollfuzz, a
//     libFuzzer build.
//   - Run (diff_linux.go) prepares, runs both sides and compares.
//   - FuzzBoxedSequence (fuzz_test.go) is the native Go fuzz target; its
//     seed corpus is a few corpus scripts (each execution forks a native
//     child and a supervisor, shim and child for the box).
//
// # Determinism
//
// The generator's scripts are deterministic on Linux (fuzzgen's doc.go);
// Prepare keeps them so: a wait made blocking returns at once natively
// (ep_poll harvests before it sleeps), and a handoff is kept only when the
// model gives the same results with it. The storm does not change a
// native trace, since its EINTRs are retried. What remains racy natively
// is a handoff wait woken by a step that wakes several items of its
// instance (the helper may harvest between two of the wakeups); a finding
// must therefore be re-run natively before it is reported.
//
// # Invariants and locks
//
// A stormMachine's mutex guards its thread ids; the storm goroutine sends
// signals while holding it, so no signal reaches a thread after its
// StopThread. The package holds no other state: every run is its own
// child processes.
package boxfuzz
