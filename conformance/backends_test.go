package conformance_test

// Backends besides linux are registered by their own packages; importing
// them here makes TestCorpus run the whole corpus on each of them, as the
// CLI does (cmd/epollconf/backends.go). A model divergence that is not in
// known-divergences.txt fails `go test ./conformance/...`.
import (
	_ "github.com/guestpoll/guestpoll/conformance/boxedbackend"
	_ "github.com/guestpoll/guestpoll/conformance/hostfdbackend"
	_ "github.com/guestpoll/guestpoll/conformance/modelbackend"
	_ "github.com/guestpoll/guestpoll/conformance/modelcrbackend"
)
