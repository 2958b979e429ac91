package fuzzgen

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/guestpoll/guestpoll/conformance"
	"github.com/guestpoll/guestpoll/conformance/modelbackend"
)

// Options for the runs: generated scripts never wait, so a call still
// running after a few seconds is a hang (a bug), not a slow step.
var runOpts = conformance.Options{JoinTimeout: 10e9, CleanupTimeout: 2e9}

// RunModel runs sc on a fresh model machine. check, if not nil, is called
// after every step (no call is running then) and its first error is
// returned.
func RunModel(sc *conformance.Script, check func(*modelbackend.Machine) error) (*conformance.Trace, error) {
	m := modelbackend.New()
	var checkErr error
	var onStep func(conformance.Outcome)
	if check != nil {
		onStep = func(o conformance.Outcome) {
			if checkErr == nil {
				if err := check(m); err != nil {
					checkErr = fmt.Errorf("after line %d (%s): %w", sc.Steps[o.Step].Line, sc.Steps[o.Step].Text(), err)
				}
			}
		}
	}
	tr := conformance.Execute(&closeCheck{Machine: m, model: m}, sc, runOpts, onStep)
	tr.Backend, tr.Path = "model", sc.Path
	return tr, checkErr
}

// closeCheck fails Close when the executor left an fd open in the model:
// the executor must close everything the script created.
type closeCheck struct {
	conformance.Machine
	model *modelbackend.Machine
}

func (c *closeCheck) Close() error {
	n := c.model.OpenFDs()
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
	lin, err := RunLinux(sc)
	if err != nil {
		return "", err
	}
	if lin.Failed() {
		return "", fmt.Errorf("the linux run stopped: %s\n%s", lin.Abort, trace(sc, lin))
	}
	mod, _ := RunModel(sc, nil)
	v := conformance.Compare(sc, mod, lin)
	if v.Status == conformance.StatusPass {
		return "", nil
	}
	var b strings.Builder
	if v.Error != "" {
		fmt.Fprintf(&b, "model run failed: %s\n", v.Error)
	}
	for _, d := range v.Divergences {
		fmt.Fprintf(&b, "%s\n", d)
	}
	fmt.Fprintf(&b, "linux trace:\n%s\nmodel trace:\n%s", trace(sc, lin), trace(sc, mod))
	return b.String(), nil
}

func trace(sc *conformance.Script, tr *conformance.Trace) string {
	return conformance.FormatTrace(sc, tr, conformance.TraceFormat{})
}
