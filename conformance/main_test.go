package conformance_test

import (
	"os"
	"testing"

	"github.com/guestpoll/guestpoll/conformance"
)

// TestMain lets the test binary serve as the linux backend's child process.
func TestMain(m *testing.M) {
	conformance.RunChildIfRequested()
	os.Exit(m.Run())
}
