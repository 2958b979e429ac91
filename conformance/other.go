//go:build !(linux && amd64)

package conformance

import "fmt"

// RunChildIfRequested does nothing on hosts without the linux backend.
func RunChildIfRequested() {}

func runIsolated(backend string, sc *Script, opts Options) *Trace {
	return &Trace{Backend: backend, Path: sc.Path,
		Abort: fmt.Sprintf("runner error: isolated backend %s needs a linux/amd64 host", backend)}
}
