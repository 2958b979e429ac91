package fuzzgen

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"syscall"

	"github.com/guestpoll/guestpoll/conformance"
	"github.com/guestpoll/guestpoll/conformance/modelbackend"
	"github.com/guestpoll/guestpoll/conformance/modelcrbackend"
)

// Options for the runs: generated scripts never wait, so a call still
// running after a few seconds is a hang (a bug), not a slow step.
var runOpts = conformance.Options{JoinTimeout: 10e9, CleanupTimeout: 2e9}

// RunModel runs sc on a fresh model machine. check, if not nil, is called
// after every step but spawns (no call is running then) and its first
// error is returned.
func RunModel(sc *conformance.Script, check func(*modelbackend.Machine) error) (*conformance.Trace, error) {
	m := modelbackend.New()
	var checkErr error
	var onStep func(conformance.Outcome)
	if check != nil {
		onStep = func(o conformance.Outcome) {
			// A spawn step ('P & CALL') is recorded once its call is
			// queued, while it may still run: check at its join.
			if checkErr == nil && sc.Steps[o.Step].Kind != conformance.StepSpawn {
				if err := check(m); err != nil {
					checkErr = fmt.Errorf("after line %d (%s): %w", sc.Steps[o.Step].Line, sc.Steps[o.Step].Text(), err)
				}
			}
		}
	}
	tr := conformance.Execute(&closeCheck{m}, sc, runOpts, onStep)
	tr.Backend, tr.Path = "model", sc.Path
	return tr, checkErr
}

// closeCheck fails Close when the executor left an fd open in the model:
// the executor must close everything the script created. It embeds the
// model's machine itself, so that the executor sees every interface the
// machine implements (OperationServer, ProcessMachine).
type closeCheck struct{ *modelbackend.Machine }

func (c *closeCheck) Close() error {
	n := c.OpenFDs()
	err := c.Machine.Close()
	if n != 0 {
		return errors.Join(fmt.Errorf("%d model fds still open after the executor's cleanup", n), err)
	}
	return err
}

// noEINTR retries calls that fail with EINTR. Generated scripts have no
// interrupts, so on Linux an EINTR can only come from the Go runtime's own
// signals (asynchronous preemption) hitting a call that polls, such as
// poll with timeout 0; retrying gives the result the call would have had.
type noEINTR struct{ conformance.Machine }

func (m noEINTR) Syscall(t conformance.ThreadID, nr uintptr, a [6]uintptr) (uintptr, syscall.Errno) {
	for i := 0; ; i++ {
		r, e := m.Machine.Syscall(t, nr, a)
		if e != syscall.EINTR || i == 100 {
			return r, e
		}
	}
}

// Diff runs sc on the model and on the host kernel in this process
// (LinuxInProcess) and returns the model's divergences from Linux as text,
// or "" when the traces agree. An error means a run failed in a way that is
// not a divergence (the Linux run stopped, which is a generator bug).
func Diff(sc *conformance.Script) (string, error) {
	lin, err := runLinuxChecked(sc)
	if err != nil {
		return "", err
	}
	mod, _ := RunModel(sc, nil)
	return divergence("model", sc, mod, lin), nil
}

// DiffCheckpointed is Diff in checkpoint mode: the model is checkpointed
// and restored into a new kernel at random points (chosen from the
// script's text, so a finding reproduces). It is a separate target
// because a checkpointed run costs about 5 plain model runs.
func DiffCheckpointed(sc *conformance.Script) (string, error) {
	lin, err := runLinuxChecked(sc)
	if err != nil {
		return "", err
	}
	cr, n := RunModelCheckpointed(sc, scriptSeed(sc))
	return divergence(fmt.Sprintf("model-cr (%d checkpoints at random points)", n), sc, cr, lin), nil
}

// runLinuxChecked runs sc on the host kernel and fails if the run stopped.
func runLinuxChecked(sc *conformance.Script) (*conformance.Trace, error) {
	lin, err := RunLinux(sc)
	if err != nil {
		return nil, err
	}
	if lin.Failed() {
		return nil, fmt.Errorf("the linux run stopped: %s\n%s", lin.Abort, trace(sc, lin))
	}
	return lin, nil
}

func divergence(name string, sc *conformance.Script, mod, lin *conformance.Trace) string {
	v := conformance.Compare(sc, mod, lin)
	if v.Status == conformance.StatusPass {
		return ""
	}
	var b strings.Builder
	if v.Error != "" {
		fmt.Fprintf(&b, "%s run failed: %s\n", name, v.Error)
	}
	for _, d := range v.Divergences {
		fmt.Fprintf(&b, "%s: %s\n", name, d)
	}
	fmt.Fprintf(&b, "linux trace:\n%s\n%s trace:\n%s", trace(sc, lin), name, trace(sc, mod))
	return b.String()
}

// scriptSeed derives the checkpoint points of a script from its text.
func scriptSeed(sc *conformance.Script) uint64 {
	h := fnv.New64a()
	h.Write([]byte(conformance.FormatScript(sc)))
	return h.Sum64()
}

// RunModelCheckpointed runs sc on a model-cr machine that checkpoints and
// restores its kernel at about half of the points where it may (between
// two steps with no call running), chosen by a generator seeded with
// seed. It returns the trace and how many checkpoints were taken.
func RunModelCheckpointed(sc *conformance.Script, seed uint64) (*conformance.Trace, int) {
	m := &randomCheckpoints{Machine: modelcrbackend.New(), rng: rand.New(rand.NewPCG(seed, 0x6370))}
	tr := conformance.Execute(m, sc, runOpts, nil)
	tr.Backend, tr.Path = "model-cr", sc.Path
	return tr, m.taken
}

// randomCheckpoints takes a checkpoint at some of the points the executor
// offers, and fails Close when the executor left an fd open.
type randomCheckpoints struct {
	*modelcrbackend.Machine
	rng   *rand.Rand
	taken int
}

func (m *randomCheckpoints) Checkpoint() error {
	if m.rng.IntN(2) == 0 {
		return nil
	}
	m.taken++
	return m.Machine.Checkpoint()
}

func (m *randomCheckpoints) Close() error {
	n := m.OpenFDs()
	err := m.Machine.Close()
	if n != 0 {
		return errors.Join(fmt.Errorf("%d model-cr fds still open after the executor's cleanup", n), err)
	}
	return err
}

func trace(sc *conformance.Script, tr *conformance.Trace) string {
	return conformance.FormatTrace(sc, tr, conformance.TraceFormat{})
}
