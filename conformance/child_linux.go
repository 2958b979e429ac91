//go:build linux && amd64

package conformance

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// childEnv marks a process started to run one script.
const childEnv = "GUESTPOLL_CONFORMANCE_CHILD"

// childOutFD is the lowest fd number the child uses for its report
// channel (a copy of its stdout), chosen high so that scripts that close
// or reuse low numbers do not disturb it.
const childOutFD = 900

type childRequest struct {
	Backend string
	Path    string
	Text    string
	Options Options
}

type childMessage struct {
	Outcome *Outcome `json:",omitempty"`
	Trace   *Trace   `json:",omitempty"`
}

// RunChildIfRequested turns the current process into a script runner when
// it was started as one by an isolated backend (such as linux), and then
// exits. Otherwise it returns at once. Every binary that runs isolated
// backends (cmd/epollconf, and test binaries through TestMain) must call
// it first thing, before parsing flags.
func RunChildIfRequested() {
	if spec := os.Getenv(forkEnv); spec != "" {
		os.Exit(forkChildMain(spec))
	}
	if os.Getenv(childEnv) == "" {
		return
	}
	os.Exit(childMain())
}

func childMain() int {
	closeInheritedFDs()
	// The report goes to a high copy of stdout, so scripts may close fd 1.
	outFd, err := unix.FcntlInt(1, unix.F_DUPFD_CLOEXEC, childOutFD)
	if err != nil {
		fmt.Fprintf(os.Stderr, "conformance child: dup of stdout: %v\n", err)
		return 3
	}
	out := os.NewFile(uintptr(outFd), "report")
	enc := json.NewEncoder(out)
	var req childRequest
	data, err := io.ReadAll(os.Stdin)
	if err == nil {
		err = json.Unmarshal(data, &req)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "conformance child: reading the request: %v\n", err)
		return 3
	}
	finish := func(tr *Trace) int {
		if err := enc.Encode(childMessage{Trace: tr}); err != nil {
			fmt.Fprintf(os.Stderr, "conformance child: writing the trace: %v\n", err)
			return 3
		}
		return 0
	}
	sc, err := Parse(req.Path, req.Text)
	if err != nil {
		return finish(&Trace{Path: req.Path, Abort: "script error: " + oneLine(err.Error()), ScriptError: true})
	}
	spec, ok := lookupSpec(req.Backend)
	if !ok {
		return finish(&Trace{Path: req.Path, Abort: fmt.Sprintf("runner error: backend %q is not registered in the child", req.Backend)})
	}
	err = prepareChildProcess()
	if err == nil {
		err = defaultSignals()
	}
	if err != nil {
		return finish(&Trace{Path: req.Path, Abort: "runner error: preparing the child process: " + err.Error()})
	}
	var encMu sync.Mutex
	tr := runInProcess(spec, sc, req.Options, func(o Outcome) {
		encMu.Lock()
		defer encMu.Unlock()
		enc.Encode(childMessage{Outcome: &o})
	})
	return finish(tr)
}

// closeInheritedFDs closes the fds above 2 that this process inherited
// without close-on-exec from whatever started its parent, so that scripts
// start from a clean fd table. The Go runtime's own fds are close-on-exec
// and are kept.
func closeInheritedFDs() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	var fds []int
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			fds = append(fds, fd)
		}
	}
	for _, fd := range fds {
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC == 0 {
			unix.Close(fd)
		}
	}
}

// childEnviron returns the environment of a child process.
func childEnviron(env []string) []string {
	var out []string
	godebug := "asyncpreemptoff=1"
	// A race-built child would otherwise sleep a second at exit (the
	// race runtime's atexit_sleep_ms), which was most of the corpus's
	// time under go test -race.
	gorace := "atexit_sleep_ms=0"
	for _, kv := range env {
		switch {
		case strings.HasPrefix(kv, childEnv+"="):
		case strings.HasPrefix(kv, "GODEBUG="):
			if v := strings.TrimPrefix(kv, "GODEBUG="); v != "" {
				godebug = v + "," + godebug
			}
		case strings.HasPrefix(kv, "GORACE="):
			if v := strings.TrimPrefix(kv, "GORACE="); v != "" {
				gorace = v + " " + gorace
			}
		default:
			out = append(out, kv)
		}
	}
	return append(out, childEnv+"=1", "GODEBUG="+godebug, "GORACE="+gorace)
}

// tailBuffer keeps the last bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 8192

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailMax {
		t.buf = t.buf[len(t.buf)-tailMax:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}

// readChildMessages reads the child's messages until it closes its end:
// the outcomes go to tr as they come, the final trace is returned.
func readChildMessages(stdout io.Reader, tr *Trace) (final *Trace, decodeErr error) {
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 1<<16), 1<<30)
	for lines.Scan() {
		var msg childMessage
		if err := json.Unmarshal(lines.Bytes(), &msg); err != nil {
			decodeErr = fmt.Errorf("bad message from the child: %v", err)
			continue
		}
		if msg.Outcome != nil {
			tr.Steps = append(tr.Steps, *msg.Outcome)
		}
		if msg.Trace != nil {
			final = msg.Trace
		}
	}
	if err := lines.Err(); err != nil && decodeErr == nil {
		decodeErr = err
	}
	return final, decodeErr
}

// runIsolated runs a script in a fresh child process.
func runIsolated(backend string, sc *Script, opts Options) *Trace {
	start := time.Now()
	tr := &Trace{Backend: backend, Path: sc.Path}
	fail := func(format string, args ...any) *Trace {
		tr.Abort = fmt.Sprintf(format, args...)
		tr.Duration = time.Since(start)
		return tr
	}
	exe, err := os.Executable()
	if err != nil {
		return fail("runner error: finding the executable to re-run: %v", err)
	}
	req, err := json.Marshal(childRequest{Backend: backend, Path: sc.Path, Text: scriptText(sc), Options: opts})
	if err != nil {
		return fail("runner error: %v", err)
	}
	limit := watchdog(sc, opts)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = childEnviron(os.Environ())
	if spec, ok := lookupSpec(backend); ok && spec.Launch != nil {
		path, argv, env := spec.Launch(exe)
		cmd.Path, cmd.Args = path, argv
		cmd.Env = append(cmd.Env, env...)
	}
	cmd.Stdin = bytes.NewReader(req)
	var stderr tailBuffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fail("runner error: %v", err)
	}
	if err := startBlocked(cmd, backend); err != nil {
		return fail("runner error: starting the %s child process: %v", backend, err)
	}
	final, decodeErr := readChildMessages(stdout, tr)
	waitErr := cmd.Wait()
	if final != nil && waitErr == nil && decodeErr == nil {
		final.Backend, final.Path = backend, sc.Path
		final.Duration = time.Since(start)
		return final
	}
	why := "exited without a trace"
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		why = fmt.Sprintf("killed after %v", limit)
	case waitErr != nil:
		why = waitErr.Error()
	case decodeErr != nil:
		why = decodeErr.Error()
	}
	if final != nil {
		tr.Steps = final.Steps
	}
	msg := fmt.Sprintf("%s backend process failed: %s", backend, why)
	if s := stderr.String(); s != "" {
		msg += "; stderr: " + s
	}
	return fail("%s", msg)
}

// startBlocked starts cmd with the backend's StartBlocked signals blocked
// on the starting thread, so that the child begins with them blocked.
func startBlocked(cmd *exec.Cmd, backend string) error {
	spec, _ := lookupSpec(backend)
	if spec.StartBlocked == 0 {
		return cmd.Start()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old uint64
	set := spec.StartBlocked
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, uintptr(unsafe.Pointer(&set)), uintptr(unsafe.Pointer(&old)), 8, 0, 0)
	defer unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	return cmd.Start()
}
