//go:build linux && amd64

package main

import (
	"os"
	"syscall"
	"testing"

	"github.com/guestpoll/guestpoll/seccompbox"
)

func TestMain(m *testing.M) {
	// run starts this binary again as the shim.
	seccompbox.RunShimIfRequested()
	os.Exit(m.Run())
}

// TestRunExitStatus: epollbox exits with the program's status, and with
// 128+N when signal N killed it.
func TestRunExitStatus(t *testing.T) {
	if got := run([]string{"--", "/bin/sh", "-c", "exit 7"}); got != 7 {
		t.Errorf("exit 7: got %d", got)
	}
	if got := run([]string{"--", "/bin/sh", "-c", "kill -TERM $$"}); got != 128+int(syscall.SIGTERM) {
		t.Errorf("killed by SIGTERM: got %d", got)
	}
	if got := run([]string{"--", "/no/such/program"}); got != 127 {
		t.Errorf("missing program: got %d", got)
	}
	if got := run(nil); got != 2 {
		t.Errorf("no program: got %d", got)
	}
}
