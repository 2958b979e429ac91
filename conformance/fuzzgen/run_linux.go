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
//
// A script with version 3 steps (forks, signals) runs on the linux
// backend instead, in a fresh child process (the in-process machine
// serves none of them): the binary must call
// conformance.RunChildIfRequested first thing in main or TestMain.
func RunLinux(sc *conformance.Script) (*conformance.Trace, error) {
	if conformance.UsesVersion3(sc) {
		b, err := conformance.LookupBackend("linux")
		if err != nil {
			return nil, err
		}
		return b.Run(sc, runOpts), nil
	}
	m, err := conformance.NewInProcessLinuxMachine(false)
	if err != nil {
		return nil, fmt.Errorf("making the in-process linux machine: %w", err)
	}
	tr := conformance.Execute(noEINTR{m}, sc, runOpts, nil)
	tr.Backend, tr.Path = "linux", sc.Path
	return tr, nil
}
