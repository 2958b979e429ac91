package main

// Backends other than linux register themselves from their own packages
// (conformance.RegisterBackend in an init function). To make one available
// to epollconf, blank-import its package here, for example:
//
//	import _ "github.com/guestpoll/guestpoll/conformance/modelbackend"
//
// The same import goes into conformance/backends_test.go so that
// `go test ./conformance/...` runs the corpus on it too.

import (
	_ "github.com/guestpoll/guestpoll/conformance/boxedbackend"
	_ "github.com/guestpoll/guestpoll/conformance/hostfdbackend"
	_ "github.com/guestpoll/guestpoll/conformance/modelbackend"
	_ "github.com/guestpoll/guestpoll/conformance/modelcrbackend"
)
