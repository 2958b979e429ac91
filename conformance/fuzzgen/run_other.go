//go:build !(linux && amd64)

package fuzzgen

import (
	"errors"

	"github.com/guestpoll/guestpoll/conformance"
)

// RunLinux needs a linux/amd64 host.
func RunLinux(sc *conformance.Script) (*conformance.Trace, error) {
	return nil, errors.New("the differential fuzzer needs a linux/amd64 host")
}
