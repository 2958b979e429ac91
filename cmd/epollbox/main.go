//go:build linux && amd64

// Command epollbox runs an unmodified Linux program with every epoll system
// call it makes (epoll_create, epoll_create1, epoll_ctl, epoll_wait,
// epoll_pwait, epoll_pwait2) trapped by seccomp user notification and
// served by guestpoll's kernel model and syscall layer. Its other fds stay
// real host fds. See docs/epollbox.md and package seccompbox.
//
//	epollbox [-stats] [-no-poll-sync] -- PROGRAM [ARGS...]
//
// epollbox exits with the program's exit status (128+N when a signal N
// killed it) once the program and every process it started that still uses
// the box (a daemon it forked) have exited, and forwards SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1,
// SIGUSR2 and SIGWINCH to it. It exists for linux/amd64 only (the filter
// and the syscall numbers are x86-64's).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"text/tabwriter"

	"github.com/guestpoll/guestpoll/seccompbox"
)

func main() {
	seccompbox.RunShimIfRequested()
	os.Exit(run(os.Args[1:]))
}

func run(argv []string) int {
	fs := flag.NewFlagSet("epollbox", flag.ContinueOnError)
	stats := fs.Bool("stats", false, "print the count and mean service time of each trapped call at exit")
	noPoll := fs.Bool("no-poll-sync", false, "do not trap poll/ppoll/select/pselect6 (a poll of an epoll fd may then lag behind)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: epollbox [flags] -- PROGRAM [ARGS...]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(argv); err != nil {
		return 2
	}
	args := fs.Args()
	if len(args) == 0 {
		fs.Usage()
		return 2
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "epollbox: %v\n", err)
		return 127
	}
	cmd := &exec.Cmd{Path: path, Args: args, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH)
	defer signal.Stop(sigs)
	box, err := seccompbox.Start(cmd, seccompbox.Options{NoPollSync: *noPoll})
	if err != nil {
		fmt.Fprintf(os.Stderr, "epollbox: %v\n", err)
		return 126
	}
	done := make(chan struct{})
	fwd := make(chan struct{})
	go func() {
		defer close(fwd)
		for {
			select {
			case s := <-sigs:
				box.Signal(s)
			case <-done:
				return
			}
		}
	}()
	st, _ := box.Wait()
	close(done)
	<-fwd
	if *stats {
		w := tabwriter.NewWriter(os.Stderr, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(w, "call\tcount\tmean\tmax\t\n")
		for _, s := range box.Stats() {
			mean, max := "-", "-"
			if s.Mean > 0 {
				mean = s.Mean.String()
			}
			if s.Max > 0 {
				max = s.Max.String()
			}
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t\n", s.Name, s.Count, mean, max)
		}
		w.Flush()
	}
	if st == nil {
		return 126
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}
