//go:build linux && amd64

package conformance_test

import (
	"strings"
	"testing"

	"github.com/guestpoll/guestpoll/conformance"
)

// TestInProcessLinuxMachine runs a threaded script on the in-process linux
// machine, with and without locked threads, against its recorded
// expectations; an interrupt needs locked threads.
func TestInProcessLinuxMachine(t *testing.T) {
	sc, err := conformance.Parse("inproc.script", `
r, w = pipe2 NONBLOCK             => fd fd
ep = epoll_create1 0              => fd
epoll_ctl ep ADD r IN 0x1         => 0
W & epoll_wait ep 8 5000          => -
sleep 20                          => -
write w 1                         => 1
join W                            => 1 [IN 0x1]
fdinfo ep                         => [r IN|ERR|HUP 0x1]
`)
	if err != nil {
		t.Fatal(err)
	}
	for _, interrupts := range []bool{false, true} {
		m, err := conformance.NewInProcessLinuxMachine(interrupts)
		if err != nil {
			t.Fatal(err)
		}
		tr := conformance.Execute(m, sc, conformance.Options{}, nil)
		tr.Backend = "linux"
		if v := conformance.Compare(sc, tr, nil); v.Status != conformance.StatusPass {
			t.Errorf("interrupts=%v: %s %s %v", interrupts, v.Status, v.Error, v.Divergences)
		}
	}

	sc, err = conformance.Parse("intr.script", `
r, w = pipe2 0
T & read r 1
sleep 20
interrupt T
join T
`)
	if err != nil {
		t.Fatal(err)
	}
	m, err := conformance.NewInProcessLinuxMachine(false)
	if err != nil {
		t.Fatal(err)
	}
	tr := conformance.Execute(m, sc, conformance.Options{CleanupTimeout: 1e9}, nil)
	if !strings.Contains(tr.Abort, "cannot interrupt") {
		t.Errorf("an interrupt without locked threads: trace abort %q", tr.Abort)
	}
}

// The in-process machine shares the calling process, so it serves no
// format version 3 step (a fork or a signal would hit the test binary).
func TestInProcessLinuxMachineNoV3(t *testing.T) {
	m, err := conformance.NewInProcessLinuxMachine(false)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := conformance.Parse("v3.script", "kill SELF USR2\n")
	if err != nil {
		t.Fatal(err)
	}
	tr := conformance.Execute(m, sc, conformance.Options{}, nil)
	if tr.Unsupported != "kill" {
		t.Fatalf("unsupported %q, abort %q", tr.Unsupported, tr.Abort)
	}
}
