// Package kerneltest holds test doubles shared by the model's tests: a
// pollable file whose readiness and wakeups a test sets by hand, and a
// blocking thread for epoll waits. It is not part of the API.
package kerneltest
