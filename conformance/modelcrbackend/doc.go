// Package modelcrbackend registers the conformance suite's "model-cr"
// backend: the model backend's machine (a fresh model kernel per script,
// entered only through the syscall layer), which in addition is
// checkpointed and restored into a brand-new kernel between every two
// steps where no thread call is running (conformance.Checkpointer). The
// whole corpus must give the linux trace on it: that is the proof that a
// checkpoint (package checkpoint) loses nothing a guest can observe.
//
// Blank-import it to make the backend available:
//
//	import _ "github.com/guestpoll/guestpoll/conformance/modelcrbackend"
//
// Invariants: as the model backend's (one Machine is one guest process,
// one task per script thread, Close fails on leaked registrations); in
// addition, after each checkpoint every task, the process's fd table and
// the address space are the restored ones, and the old kernel is torn down
// completely (its tasks exit, its table is closed, and a registration
// surviving that is reported as an error).
//
// The Machine is modelbackend's, plus Checkpoint, which swaps in the
// restored process with modelbackend.Machine.ReplaceProcess and then runs the
// model backend's whole-process invariant checks on it. Lock order: the
// model backend's; a checkpoint runs only while no system call is in
// progress.
package modelcrbackend
