package conformance_test

// Backends besides linux are registered by their own packages. To run the
// corpus (TestCorpus) on one of them, blank-import its package here, as
// cmd/epollconf/backends.go does, for example:
//
//	import _ "github.com/guestpoll/guestpoll/conformance/modelbackend"
