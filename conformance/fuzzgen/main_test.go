package fuzzgen

import (
	"os"
	"testing"

	"github.com/guestpoll/guestpoll/conformance"
)

// TestMain lets this binary be the linux backend's child process, which
// runs the generated scripts that have version 3 steps (RunLinux).
func TestMain(m *testing.M) {
	conformance.RunChildIfRequested()
	os.Exit(m.Run())
}
