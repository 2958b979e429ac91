//go:build linux && amd64

package conformance

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
)

// crashMachine is a linux machine that kills its process when the script
// closes an fd, to test how the parent reports a child that dies.
type crashMachine struct{ Machine }

func (m crashMachine) Syscall(t ThreadID, nr uintptr, a [6]uintptr) (uintptr, syscall.Errno) {
	if nr == sysClose {
		fmt.Fprintln(os.Stderr, "crash machine: exiting")
		os.Exit(9)
	}
	return m.Machine.Syscall(t, nr, a)
}

func init() {
	// Registered only in child processes started by TestIsolatedChildCrash,
	// so that no other test sees the backend.
	if os.Getenv("CONFORMANCE_TEST_CRASH_BACKEND") != "" {
		Register(BackendSpec{Name: "crashtest", Isolated: true, NewMachine: func() (Machine, error) {
			m, err := newLinuxMachine()
			return crashMachine{m}, err
		}})
	}
}

func TestIsolatedChildCrash(t *testing.T) {
	t.Setenv("CONFORMANCE_TEST_CRASH_BACKEND", "1")
	sc := mustParse(t, "e = eventfd2 0 0\neventfd_write e 1\nclose e\neventfd_read e\n")
	tr := runIsolated("crashtest", sc, Options{})
	if !strings.Contains(tr.Abort, "crashtest backend process failed: exit status 9") ||
		!strings.Contains(tr.Abort, "crash machine: exiting") {
		t.Errorf("abort = %q", tr.Abort)
	}
	// The steps done before the crash are kept.
	if len(tr.Steps) != 2 || tr.Steps[1].Result.String() != "8" {
		t.Errorf("steps before the crash: %+v", tr.Steps)
	}
	v := Compare(sc, tr, nil)
	if v.Status != StatusError {
		t.Errorf("verdict %s, want error", v.Status)
	}
}

func TestUnknownBackendInChild(t *testing.T) {
	sc := mustParse(t, "epoll_create1 0\n")
	tr := runIsolated("no-such-backend", sc, Options{})
	if !strings.Contains(tr.Abort, `backend "no-such-backend" is not registered in the child`) {
		t.Errorf("abort = %q", tr.Abort)
	}
}

func TestSyscallNumbersMatchUnix(t *testing.T) {
	checkSyscallNumbers(t)
}
