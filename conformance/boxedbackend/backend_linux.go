//go:build linux && amd64

package boxedbackend

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/guestpoll/guestpoll/conformance"
	"github.com/guestpoll/guestpoll/seccompbox"
)

// boxSuperviseEnv marks the supervisor process of one script run.
const boxSuperviseEnv = "GUESTPOLL_BOXED_SUPERVISE"

func init() {
	seccompbox.RunShimIfRequested()
	if os.Getenv(boxSuperviseEnv) != "" {
		os.Exit(supervise())
	}
	conformance.Register(conformance.BackendSpec{
		Name:       "boxed",
		NewMachine: conformance.NewLinuxMachine,
		Isolated:   true,
		// As for the linux backend: only the script's threads take a
		// process-directed SIGUSR1 or SIGUSR2.
		StartBlocked: 1<<(syscall.SIGUSR1-1) | 1<<(syscall.SIGUSR2-1),
		Launch:       Launch,
		Doc:          "the linux backend's child run under seccompbox: every epoll call served by the model",
	})
}

// Launch is the boxed backend's conformance.BackendSpec.Launch: it starts
// exe as the supervisor of one script run, which runs exe again, under the
// box, as the conformance child. Another isolated backend whose child must
// run under the box (conformance/boxfuzz's) uses it as its own Launch; its
// NewMachine then runs inside the box. The supervisor inherits the child
// environment (which already stops race-built binaries sleeping at exit)
// and passes it on.
func Launch(exe string) (path string, argv []string, env []string) {
	return exe, []string{exe}, []string{boxSuperviseEnv + "=1"}
}

// supervise runs the current executable (as the conformance child) under
// a box and returns its exit status.
func supervise() int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "boxed: %v\n", err)
		return 3
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, boxSuperviseEnv+"=") {
			env = append(env, kv)
		}
	}
	cmd := &exec.Cmd{
		Path: exe, Args: []string{exe}, Env: env,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		// The main thread runs init, so it outlives the child: if the
		// supervisor dies, the child goes too.
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
	box, err := seccompbox.Start(cmd, seccompbox.Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "boxed: %v\n", err)
		return 3
	}
	st, _ := box.Wait()
	if st == nil {
		return 3
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		fmt.Fprintf(os.Stderr, "boxed: the child was killed by %v\n", ws.Signal())
		return 3
	}
	return st.ExitCode()
}
