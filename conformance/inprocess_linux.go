//go:build linux && amd64

package conformance

import "sync"

var inProcessPrep struct {
	once sync.Once
	err  error
}

// NewInProcessLinuxMachine returns a Machine that executes a script's calls
// on the host kernel in the calling process, without the fresh child
// process the linux backend uses. It exists for callers that run many
// small scripts quickly (the differential fuzzer, conformance/fuzzgen);
// the suite and the CLI keep using the isolated backend.
//
// The first call prepares the process as the child process is prepared
// (SIGPIPE ignored, SIGUSR1 caught without SA_RESTART, the runtime's
// netpoller initialised). Results equal the linux backend's for scripts
// that respect what sharing a process implies:
//
//   - Fd numbers differ from the child's (the caller's own fds are open),
//     so a script must not name raw fd numbers the process uses, and must
//     not lower RLIMIT_NOFILE (the runtime shares the limit).
//   - Nothing else in the process may open or close fds while the script
//     runs, or lowest-free allocation would differ.
//   - Asynchronous preemption stays on (GODEBUG cannot be changed at run
//     time), so a call that can sleep may fail with a spurious EINTR; a
//     caller running scripts without interrupts retries those.
//   - Format version 3's steps are not served (they would fork or signal
//     the calling process): the run stops at one as an unsupported step.
//   - With interrupts false, script threads are not locked to OS threads,
//     which makes each step several times cheaper (no thread hand-off), and
//     'interrupt T' fails the run with a runner error. With interrupts
//     true, threads are locked as in the child process.
//
// Execute closes every fd the script created, and Close unmaps the
// machine's memory.
func NewInProcessLinuxMachine(interrupts bool) (Machine, error) {
	inProcessPrep.once.Do(func() { inProcessPrep.err = prepareChildProcess() })
	if inProcessPrep.err != nil {
		return nil, inProcessPrep.err
	}
	m, err := newLinuxMachine()
	if err != nil {
		return nil, err
	}
	m.(*linuxMachine).unlocked = !interrupts
	return m, nil
}
