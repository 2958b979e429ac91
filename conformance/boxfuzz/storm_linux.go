//go:build linux && amd64

package boxfuzz

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/guestpoll/guestpoll/conformance"
	"github.com/guestpoll/guestpoll/conformance/boxedbackend"
	"golang.org/x/sys/unix"
)

// LenientEnv, set to 1 in the environment of the fuzzing process, makes
// the boxed side retry every call that fails with EINTR, as the native
// side retries the calls Linux may interrupt. It hides the box's spurious
// EINTRs (issue 19 item 14) so that a run can look past them for lost
// events and calls applied twice; findings made without it are the real
// ones.
const LenientEnv = "GUESTPOLL_BOXFUZZ_LENIENT"

func init() {
	lenient := os.Getenv(LenientEnv) == "1"
	for level, every := range StormIntervals {
		conformance.Register(conformance.BackendSpec{
			Name:       nativeBackend(level),
			NewMachine: stormFactory(every, false),
			Isolated:   true,
			// As for the linux and boxed backends: only the script's
			// threads take a process-directed SIGUSR1 or SIGUSR2.
			StartBlocked: 1<<(unix.SIGUSR1-1) | 1<<(unix.SIGUSR2-1),
			Doc:          fmt.Sprintf("boxfuzz: the linux backend's child with a SIGUSR1 storm every ~%v", every),
		})
		conformance.Register(conformance.BackendSpec{
			Name:         boxedBackend(level),
			NewMachine:   stormFactory(every, lenient),
			Isolated:     true,
			StartBlocked: 1<<(unix.SIGUSR1-1) | 1<<(unix.SIGUSR2-1),
			Launch:       boxedbackend.Launch,
			Doc:          fmt.Sprintf("boxfuzz: the boxed backend's child with a SIGUSR1 storm every ~%v", every),
		})
	}
	// The children of both sides are re-runs of the current binary. Doing
	// this here, and not only in a TestMain, lets any binary that links
	// the package run the target: a libFuzzer build (which has no
	// TestMain) and cmd/epollfuzz.
	conformance.RunChildIfRequested()
}

func nativeBackend(level int) string { return fmt.Sprintf("boxfuzz-linux-storm%d", level) }
func boxedBackend(level int) string  { return fmt.Sprintf("boxfuzz-boxed-storm%d", level) }

func stormFactory(every time.Duration, retryAll bool) func() (conformance.Machine, error) {
	return func() (conformance.Machine, error) {
		inner, err := conformance.NewLinuxMachine()
		if err != nil {
			return nil, err
		}
		m := &stormMachine{Machine: inner, every: every, retryAll: retryAll, pid: unix.Getpid(),
			tids: map[conformance.ThreadID]int{}, stop: make(chan struct{}), done: make(chan struct{})}
		if every > 0 {
			go m.storm()
		} else {
			close(m.done)
		}
		return m, nil
	}
}

// stormMachine is the linux machine (of the conformance child, natively or
// under the box) with a storm: a goroutine sends SIGUSR1, the signal the
// child catches without SA_RESTART, to every script thread every `every`
// (jittered by ±50 %) while the script runs. It retries a call that
// failed with EINTR where Linux may interrupt it (see mayRetry), so that
// the native trace stays what it is without the storm, and every other
// EINTR shows as a divergence.
type stormMachine struct {
	conformance.Machine
	every    time.Duration
	retryAll bool
	pid      int

	mu sync.Mutex
	// +checklocks:mu
	tids map[conformance.ThreadID]int // script threads, locked to their OS threads by the linux machine

	stop chan struct{}
	done chan struct{}
}

func (m *stormMachine) StartThread(t conformance.ThreadID) error {
	if err := m.Machine.StartThread(t); err != nil {
		return err
	}
	m.mu.Lock()
	m.tids[t] = unix.Gettid()
	m.mu.Unlock()
	return nil
}

// StopThread forgets the thread before it ends, so no signal reaches its
// id once the runtime may have ended the OS thread.
func (m *stormMachine) StopThread(t conformance.ThreadID) {
	m.mu.Lock()
	delete(m.tids, t)
	m.mu.Unlock()
	m.Machine.StopThread(t)
}

func (m *stormMachine) storm() {
	defer close(m.done)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(m.pid)))
	timer := time.NewTimer(m.every)
	defer timer.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-timer.C:
		}
		m.mu.Lock()
		for _, tid := range m.tids {
			unix.Tgkill(m.pid, tid, unix.SIGUSR1)
		}
		m.mu.Unlock()
		timer.Reset(m.every/2 + time.Duration(rng.Int64N(int64(m.every))))
	}
}

// Syscall retries an EINTR where Linux may give one to the generated
// scripts' calls (mayRetry), shortening a finite timeout by the time
// already spent, as a program that retries does.
func (m *stormMachine) Syscall(t conformance.ThreadID, nr uintptr, a [6]uintptr) (uintptr, syscall.Errno) {
	idx, hasTimeout := timeoutArg(nr)
	start := time.Now()
	for {
		r, e := m.Machine.Syscall(t, nr, a)
		if e != unix.EINTR || !m.mayRetry(t, nr, a) {
			return r, e
		}
		if hasTimeout && int32(a[idx]) > 0 {
			left := int64(int32(a[idx])) - time.Since(start).Milliseconds()
			a[idx] = uintptr(max(left, 0))
			start = time.Now()
		}
	}
}

// mayRetry says whether an EINTR of call nr (arguments a) on thread t is
// one Linux may give the generated scripts, which the harness then
// retries on both sides: a poll (Linux interrupts even a zero-timeout
// poll that found nothing ready), a wait on a helper thread (the handoff
// waits, which really sleep), and an epoll_pwait2 with a timeout of a few
// nanoseconds (the generator's "0 1"), which Linux's ep_poll treats as
// one that sleeps: with nothing queued it looks at signals before it
// sleeps (one with events queued Prepare makes blocking, never retried).
// On the main thread any other generated epoll wait never sleeps (timeout
// 0, or events already queued, or arguments that fail first) and Linux
// never interrupts epoll_ctl or epoll_create, so there an EINTR is a
// divergence (unless retryAll, LenientEnv).
func (m *stormMachine) mayRetry(t conformance.ThreadID, nr uintptr, a [6]uintptr) bool {
	switch {
	case m.retryAll, nr == unix.SYS_POLL, nr == unix.SYS_PPOLL:
		return true
	case t != conformance.MainThread:
		return nr == unix.SYS_EPOLL_WAIT || nr == unix.SYS_EPOLL_PWAIT || nr == unix.SYS_EPOLL_PWAIT2
	case nr == unix.SYS_EPOLL_PWAIT2 && a[3] != 0:
		var ts [16]byte
		if m.ReadMem(uint64(a[3]), ts[:]) != nil {
			return false
		}
		sec, nsec := int64(binary.LittleEndian.Uint64(ts[:])), int64(binary.LittleEndian.Uint64(ts[8:]))
		return sec == 0 && nsec > 0 && nsec < 1e9
	}
	return false
}

// timeoutArg returns which argument of call nr is a timeout in
// milliseconds.
func timeoutArg(nr uintptr) (int, bool) {
	switch nr {
	case unix.SYS_POLL:
		return 2, true
	case unix.SYS_EPOLL_WAIT, unix.SYS_EPOLL_PWAIT:
		return 3, true
	}
	return 0, false
}

// Close stops the storm, then closes the linux machine.
func (m *stormMachine) Close() error {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
	return m.Machine.Close()
}
