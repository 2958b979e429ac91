// Package boxedbackend registers the conformance suite's "boxed" backend:
// the linux backend's child process (which makes every step's system call
// on the host kernel) run under seccompbox, so that each epoll call of the
// script, and of the Go runtime of the child, is trapped and served by
// guestpoll's model, while pipes, sockets, eventfds and timerfds stay host
// files. It is issue 9's proof that the model serves real programs with
// Linux's semantics: `epollbox -- epollconf -backends linux PATH`, script
// by script.
//
// # How it runs
//
// Each script gets a fresh supervisor process: the current executable,
// started with boxSuperviseEnv set (the package's init turns such a process
// into the supervisor before main runs). The supervisor starts the current
// executable again through seccompbox (the shim role, also handled in
// init), which execs it as the linux backend's child; the child's
// NewMachine is the linux machine. The supervisor exits with the child's
// status, and its own stderr carries any warning of the box.
//
// What cannot match Linux by construction is listed, with the reason, in
// conformance/known-divergences.txt under @boxed: an fdinfo step on an
// epoll fd reads the host's view of the placeholder, and a blocking
// epoll_pwait or epoll_pwait2 with a signal mask cannot have its mask
// installed by the box.
//
// # Invariants and lock order
//
// The package holds no state of its own: every run is its own pair of
// processes, and the supervisor frees everything when the child exits
// (seccompbox's invariants).
package boxedbackend
