//go:build linux && amd64

package conformance

// NewLinuxMachine returns the linux backend's Machine, for a backend that
// runs the linux backend's child process under something else (the boxed
// backend: the child runs under seccompbox, so its epoll calls reach the
// model). Like the linux backend's, it may only be used in a child process
// of an isolated backend (prepared by RunChildIfRequested).
func NewLinuxMachine() (Machine, error) { return newChildLinuxMachine() }
