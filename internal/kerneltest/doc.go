// Package kerneltest holds test doubles shared by the model's tests: a
// pollable file whose readiness and wakeups a test sets by hand, and a
// blocking thread for epoll waits, and the host-kernel helpers that the
// benchmarks' impl=host variants share (host.go). It is not part of the API.
package kerneltest
