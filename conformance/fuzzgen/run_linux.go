//go:build linux && amd64

package fuzzgen

import (
	"fmt"

	"github.com/guestpoll/guestpoll/conformance"
)

// RunLinux runs sc on the host kernel inside this process
// (conformance.NewInProcessLinuxMachine), retrying spurious EINTRs. The
// caller must make sure nothing else in the process opens or closes fds
// meanwhile; the executor closes every fd the script created.
func RunLinux(sc *conformance.Script) (*conformance.Trace, error) {
	m, err := conformance.NewInProcessLinuxMachine(false)
	if err != nil {
		return nil, fmt.Errorf("making the in-process linux machine: %w", err)
	}
	tr := conformance.Execute(noEINTR{m}, sc, runOpts, nil)
	tr.Backend, tr.Path = "linux", sc.Path
	return tr, nil
}
