// Package kerneltest holds test doubles shared by the model's tests: a
// pollable file whose readiness and wakeups a test sets by hand, a
// blocking thread for epoll waits, the host-kernel helpers that the
// benchmarks' impl=host variants share (host.go), and the benchmark
// fixtures and bodies that kernel/epoll's benchmarks and bench/peers both
// run (benchsets.go). It is not part of the API.
package kerneltest
