//go:build linux && amd64

package seccompbox

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// guestBin is the C guest (testdata/guest.c), built by TestMain; buildErr
// says why it could not be.
var guestBin, buildErr = "", error(nil)

func TestMain(m *testing.M) {
	RunShimIfRequested()
	dir, err := os.MkdirTemp("", "seccompbox-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	guestBin = filepath.Join(dir, "guest")
	out, err := exec.Command("gcc", "-O", "-Wall", "-pthread", "-o", guestBin, "testdata/guest.c").CombinedOutput()
	if err != nil {
		buildErr = fmt.Errorf("building testdata/guest.c with gcc (gcc is part of the go machine kind): %v\n%s", err, out)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func needGuest(t *testing.T) {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// openFDs counts this process's open fds.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/thread-self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// runNative runs the guest scenario without a box.
func runNative(t testing.TB, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(guestBin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = exitCode(ee.ProcessState)
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), code
}

func exitCode(st *os.ProcessState) int {
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}

// runBoxed runs the guest scenario under a box, and checks that the box
// left no fd and no goroutine behind.
func runBoxed(t testing.TB, opts Options, args ...string) (string, int, *Box) {
	t.Helper()
	fds, gs := openFDs(t), runtime.NumGoroutine()
	var out, log bytes.Buffer
	cmd := exec.Command(guestBin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	opts.Log = &log
	b, err := Start(cmd, opts)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := b.Wait()
	if st == nil {
		t.Fatal("no process state")
	}
	if n := openFDs(t); n != fds {
		t.Errorf("%d fds open after the box, %d before", n, fds)
	}
	// A goroutine that has run its deferred Done may still be exiting:
	// give the runtime a moment to retire it before calling it a leak.
	for i := 0; i < 500 && runtime.NumGoroutine() > gs; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > gs {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after the box, %d before:\n%s", n, gs, buf[:runtime.Stack(buf, true)])
	}
	if log.Len() > 0 {
		t.Logf("box log: %s", log.String())
	}
	return out.String(), exitCode(st), b
}

// TestScenariosMatchLinux runs each scenario of testdata/guest.c natively
// and under a box: the outputs (every result and errno epoll gave) must be
// the same.
func TestScenariosMatchLinux(t *testing.T) { testScenarios(t, Options{}) }

// TestScenariosInVaults runs the scenarios with every probe in a vault
// (vault.go), as those made once the box's main fd table is half used:
// readiness, wakeups, identity and release through a vault must give the
// same results.
func TestScenariosInVaults(t *testing.T) { testScenarios(t, Options{allVaults: true}) }

func testScenarios(t *testing.T, opts Options) {
	needGuest(t)
	for _, sc := range []string{
		"triggers",   // LT, ET, ONESHOT, pwait2 timeout, poll of an epoll fd, nesting, ELOOP, closing a nested instance
		"errnos",     // every errno of create, ctl and wait, in Linux's order
		"partial",    // a fault part-way through the copy-out
		"signals",    // a blocked wait interrupted by a handler without SA_RESTART
		"threads",    // 6 threads blocked at once, 1200 wakeups
		"forked",     // a forked child waits on its parent's instance
		"closing",    // registrations do not keep the guest's files open
		"nestclose",  // closing an instance takes it out of the nesting checks at once
		"pollother",  // a select or poll polls only the epoll instances it names
		"wakekeys",   // edge-triggered re-queues follow Linux's wakeup keys of each file type
		"stale",      // a wakeup of a file drained since still queues its entry, in order (600 rounds)
		"longjumped", // a handler leaves a blocked wait by siglongjmp; the next wait is a new call
		"uring",      // a registration made as libuv makes it: through io_uring if io_uring_setup works
	} {
		t.Run(sc, func(t *testing.T) {
			want, wantCode := runNative(t, sc)
			got, code, _ := runBoxed(t, opts, sc)
			if got != want || code != wantCode {
				t.Errorf("boxed (exit %d):\n%s\nnative (exit %d):\n%s", code, got, wantCode, want)
			}
		})
	}
}

// TestRestartedWaitEINTR: a handler with SA_RESTART would make the kernel
// restart the trapped wait, where Linux's epoll_wait returns EINTR; the
// box rewrites the signal frame at rt_sigreturn so that the guest sees
// EINTR.
func TestRestartedWaitEINTR(t *testing.T) {
	needGuest(t)
	want, _ := runNative(t, "signals-restart")
	got, _, b := runBoxed(t, Options{}, "signals-restart")
	if got != want {
		t.Errorf("boxed:\n%s\nnative:\n%s", got, want)
	}
	if n := b.stats[statCancelled].count.Load(); n < 1 {
		t.Errorf("no interrupted wait counted")
	}
	if n := b.stats[statSettled].count.Load(); n != 1 {
		t.Errorf("%d interrupted calls settled at sigreturn, want 1", n)
	}
}

// interruptOnce returns a beforeAnswer hook that, for the first answer of
// each kind pick names (nil: not to be interrupted), sends sig to the
// guest thread and waits until it has left the call; kinds counts them.
func interruptOnce(t *testing.T, sig unix.Signal, pick func(n *notif) any) (hook func(*Box, *notif), kinds func() int) {
	var mu sync.Mutex
	seen := map[any]bool{}
	hook = func(b *Box, n *notif) {
		k := pick(n)
		mu.Lock()
		defer mu.Unlock()
		if k == nil || seen[k] {
			return
		}
		seen[k] = true
		if err := unix.Tgkill(tgidOf(t, n.pid), int(n.pid), sig); err != nil {
			t.Errorf("tgkill: %v", err)
			return
		}
		for end := time.Now().Add(5 * time.Second); notifIDValid(b.listener, n.id); {
			if time.Now().After(end) {
				t.Errorf("the guest thread did not leave the interrupted call")
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	kinds = func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}
	return hook, kinds
}

// interruptedScenario runs guest scenario sc natively and under a box
// whose hook interrupts the first answer of each kind pick names with sig
// (interruptOnce): the outputs must match, kinds answers must have been
// interrupted, and counter stat must read statWant.
func interruptedScenario(t *testing.T, sc string, sig unix.Signal, pick func(n *notif) any, kinds int, stat int, statWant int64) {
	t.Helper()
	want, wantCode := runNative(t, sc)
	hook, interrupted := interruptOnce(t, sig, pick)
	got, code, b := runBoxed(t, Options{beforeAnswer: hook}, sc)
	if got != want || code != wantCode {
		t.Errorf("boxed (exit %d):\n%s\nnative (exit %d):\n%s", code, got, wantCode, want)
	}
	if n := interrupted(); n != kinds {
		t.Errorf("interrupted %d answers, want %d", n, kinds)
	}
	if n := b.stats[stat].count.Load(); n != statWant {
		t.Errorf("%s: %d, want %d", statNames[stat], n, statWant)
	}
}

// onlyNr picks the calls numbered nr, all of one kind.
func onlyNr(nr int32) func(n *notif) any {
	return func(n *notif) any {
		if n.nr == nr {
			return nr
		}
		return nil
	}
}

// TestUndeliveredAnswerPutsEventsBack: a guest thread interrupted after
// the copy-out of its events and before the answer loses nothing: the
// events are queued again, the ONESHOT registration still armed, and the
// guest's next wait (its retry after EINTR) gets what the native run's
// first wait got. Both parts of the scenario (maxevents 6: inline, 7: on
// a worker) are interrupted.
func TestUndeliveredAnswerPutsEventsBack(t *testing.T) {
	needGuest(t)
	pick := func(n *notif) any {
		if maxev := int32(n.args[2]); isWait(n.nr) && (maxev == 6 || maxev == 7) {
			return maxev
		}
		return nil
	}
	for _, sc := range []string{"undelivered", "undelivered-restart"} {
		t.Run(sc, func(t *testing.T) { interruptedScenario(t, sc, unix.SIGUSR1, pick, 2, statRolledBack, 2) })
	}
}

// TestDroppedAnswerIsMended: an answer that NOTIF_SEND takes after a
// signal woke the guest thread from its wait for it, and before the thread
// looked at it, is dropped by the kernel (seccomp_do_user_notification
// takes notify_lock again only after wait_for_completion_interruptible
// returned): the thread handles the signal as if nothing had come. That
// window is a few instructions wide; the test opens it for sure by
// interrupting the thread before each answer of a wait with maxevents 9
// (scenario dropped) or of the first epoll_ctl (ctlsignal), and by making
// the box take the refusal of such an answer for a success
// (Options.answersDropped), which is what the kernel reports for one it
// drops. Without the mend at the handler's rt_sigreturn, the wait's event
// was consumed from the model and lost (the retry timed out), and the
// ctl's restart failed EEXIST (or it returned EINTR). Scenario errsignal's
// ctl and wait on an eventfd, which the box continues to the host, where
// they fail at once, returned EINTR where Linux gives EINVAL.
func TestDroppedAnswerIsMended(t *testing.T) {
	needGuest(t)
	waits := func(n *notif) any {
		if isWait(n.nr) && n.args[2] == 9 {
			return n.id // every such answer
		}
		return nil
	}
	// The ctl and the wait on an eventfd, which the box continues to the
	// host, where they fail at once: a dropped continue is a restart.
	continued := func(n *notif) any {
		if n.nr == unix.SYS_EPOLL_CTL && n.args[1] == unix.EPOLL_CTL_ADD || n.nr == unix.SYS_EPOLL_WAIT && n.args[2] == 2 {
			return n.nr
		}
		return nil
	}
	for _, tc := range []struct {
		sc     string
		pick   func(n *notif) any
		rounds int
	}{
		{"dropped", waits, 20},
		{"dropped-restart", waits, 20},
		{"ctlsignal", onlyNr(unix.SYS_EPOLL_CTL), 1},
		{"ctlsignal-restart", onlyNr(unix.SYS_EPOLL_CTL), 1},
		{"errsignal", continued, 2},
		{"errsignal-restart", continued, 2},
	} {
		t.Run(tc.sc, func(t *testing.T) {
			want, wantCode := runNative(t, tc.sc)
			hook, interrupted := interruptOnce(t, unix.SIGUSR1, tc.pick)
			got, code, b := runBoxed(t, Options{beforeAnswer: hook, answersDropped: true}, tc.sc)
			if got != want || code != wantCode {
				t.Errorf("boxed (exit %d):\n%s\nnative (exit %d):\n%s", code, got, wantCode, want)
			}
			if n := interrupted(); n != tc.rounds {
				t.Errorf("interrupted %d answers, want %d", n, tc.rounds)
			}
			if n := b.stats[statMended].count.Load(); n != int64(tc.rounds) {
				t.Errorf("%d dropped answers mended, want %d", n, tc.rounds)
			}
		})
	}
}

// TestInterruptedCtlAnswersItsResult: an epoll_ctl interrupted after the
// box made the registration and before the answer returns 0, as on Linux:
// the box writes the result into the signal frame at rt_sigreturn, whether
// the handler would have made the kernel restart the call or return EINTR.
func TestInterruptedCtlAnswersItsResult(t *testing.T) {
	needGuest(t)
	for _, sc := range []string{"ctlsignal", "ctlsignal-restart"} {
		t.Run(sc, func(t *testing.T) {
			interruptedScenario(t, sc, unix.SIGUSR1, onlyNr(unix.SYS_EPOLL_CTL), 1, statSettled, 1)
		})
	}
}

// TestInterruptedZeroTimeoutWaitGetsItsEvents: a zero-timeout wait whose
// answer is interrupted after its harvest (the events are put back) is
// run again, as Linux's, which never sleeps and so never returns EINTR:
// the box turns the handler's frame into a restart of the wait, and serves
// a restart of it as a new call. Natively the handler runs once, after
// the wait; boxed too, before the wait's second run.
func TestInterruptedZeroTimeoutWaitGetsItsEvents(t *testing.T) {
	needGuest(t)
	pick := func(n *notif) any {
		if isWait(n.nr) && n.args[3] == 0 {
			return "zero"
		}
		return nil
	}
	for _, sc := range []string{"zerosignal", "zerosignal-restart"} {
		t.Run(sc, func(t *testing.T) { interruptedScenario(t, sc, unix.SIGUSR1, pick, 1, statRolledBack, 1) })
	}
}

// TestInterruptedQueuedPwait2GetsItsEvents: the same for a blocking
// epoll_pwait2 that finds an event queued, whose first harvest the box
// makes on the receiver as for epoll_wait (before, a pwait2 always went
// to a worker as a wait that slept, and returned EINTR).
func TestInterruptedQueuedPwait2GetsItsEvents(t *testing.T) {
	needGuest(t)
	for _, sc := range []string{"queuedpwait2", "queuedpwait2-restart"} {
		t.Run(sc, func(t *testing.T) {
			interruptedScenario(t, sc, unix.SIGUSR1, onlyNr(unix.SYS_EPOLL_PWAIT2), 1, statRolledBack, 1)
		})
	}
}

// TestInterruptedCreateGetsItsFd: an epoll_create interrupted just before
// the box installs its placeholder still returns an epoll fd, as on
// Linux: the box installs it at the handler's rt_sigreturn, through that
// call's notification, and writes its number into the signal frame.
func TestInterruptedCreateGetsItsFd(t *testing.T) {
	needGuest(t)
	for _, sc := range []string{"createsignal", "createsignal-restart"} {
		t.Run(sc, func(t *testing.T) {
			interruptedScenario(t, sc, unix.SIGUSR1, onlyNr(unix.SYS_EPOLL_CREATE1), 1, statSettled, 1)
		})
	}
}

// TestFrameReadWaitsForTheThreadToSleep: /proc/TID/syscall reads
// "running" for a thread that has trapped its rt_sigreturn but is not
// asleep in it yet (preempted on its way to sleep: frameaddr.go); the box
// must wait for it, not leave the frame as the kernel saved it. The hook
// makes the box's first three reads of the frame report "running", as
// the kernel does in that window, for an epoll_create interrupted before
// its placeholder was installed and an epoll_ctl interrupted before its
// answer, with and without SA_RESTART. Without the wait, the create and
// the ctl returned EINTR (the handlers without SA_RESTART; with it the
// kernel restarts the call, which the box answers from its record).
func TestFrameReadWaitsForTheThreadToSleep(t *testing.T) {
	needGuest(t)
	for _, tc := range []struct {
		sc string
		nr int32
	}{
		{"createsignal", unix.SYS_EPOLL_CREATE1},
		{"createsignal-restart", unix.SYS_EPOLL_CREATE1},
		{"ctlsignal", unix.SYS_EPOLL_CTL},
		{"ctlsignal-restart", unix.SYS_EPOLL_CTL},
	} {
		t.Run(tc.sc, func(t *testing.T) {
			want, wantCode := runNative(t, tc.sc)
			hook, interrupted := interruptOnce(t, unix.SIGUSR1, onlyNr(tc.nr))
			var mu sync.Mutex
			reads := 0
			running := func(b *Box, n *notif) bool {
				mu.Lock()
				defer mu.Unlock()
				reads++
				return reads <= 3
			}
			got, code, b := runBoxed(t, Options{beforeAnswer: hook, frameReadRunning: running}, tc.sc)
			if got != want || code != wantCode {
				t.Errorf("boxed (exit %d):\n%s\nnative (exit %d):\n%s", code, got, wantCode, want)
			}
			if n := interrupted(); n != 1 {
				t.Errorf("interrupted %d calls, want 1", n)
			}
			if n := b.stats[statFrameWaited].count.Load(); n != 1 {
				t.Errorf("%s: %d, want 1", statNames[statFrameWaited], n)
			}
			if n := b.stats[statSettled].count.Load(); n != 1 {
				t.Errorf("%s: %d, want 1", statNames[statSettled], n)
			}
		})
	}
}

// TestInstalledCreateSurvivesAnInterruptedSigreturn: the placeholder of
// an interrupted epoll_create is installed at its handler's rt_sigreturn,
// and then that rt_sigreturn is interrupted too (the hook sends SIGUSR2
// between the install and the frame write, which the box then skips):
// the create's result must wait for the rt_sigreturn's restart, which
// writes the fd into the frame. Without the record, the restart found
// nothing to settle: the installed fd leaked in the guest and the create
// was run again (another fd, not the lowest free one), or returned EINTR
// once the second after a notification gap had passed.
func TestInstalledCreateSurvivesAnInterruptedSigreturn(t *testing.T) {
	needGuest(t)
	for _, sc := range []string{"createrace", "createrace-restart"} {
		t.Run(sc, func(t *testing.T) {
			want, wantCode := runNative(t, sc)
			hook, interrupted := interruptOnce(t, unix.SIGUSR1, onlyNr(unix.SYS_EPOLL_CREATE1))
			race, raced := interruptOnce(t, unix.SIGUSR2, onlyNr(unix.SYS_RT_SIGRETURN))
			got, code, b := runBoxed(t, Options{beforeAnswer: hook, afterLeftInstall: race}, sc)
			if got != want || code != wantCode {
				t.Errorf("boxed (exit %d):\n%s\nnative (exit %d):\n%s", code, got, wantCode, want)
			}
			if n, m := interrupted(), raced(); n != 1 || m != 1 {
				t.Errorf("interrupted %d creates and %d rt_sigreturns, want 1 each", n, m)
			}
			// The SIGUSR2 handler's frame (a restart of the interrupted
			// rt_sigreturn) and the create's.
			if n := b.stats[statSettled].count.Load(); n != 2 {
				t.Errorf("%s: %d, want 2", statNames[statSettled], n)
			}
		})
	}
}

// TestLockedIoctlsRetryEINTR: NOTIF_ID_VALID and NOTIF_SEND take the
// filter's notify_lock with mutex_lock_interruptible, so a signal to the
// box's thread (the Go runtime's preemption signal, say) while a guest
// thread or a worker holds the lock fails them with EINTR before they did
// anything. The box must make them again, not take EINTR for a withdrawn
// notification: a frame rewrite skipped left the interrupted create's or
// ctl's EINTR, a thread's first call was continued to the host. The test
// fails every other NOTIF_ID_VALID attempt with EINTR, as the kernel
// does in that race, in the scenarios of the interrupted create and ctl.
func TestLockedIoctlsRetryEINTR(t *testing.T) {
	needGuest(t)
	var attempts atomic.Int64
	fail := func(req uintptr) bool { return req == ioctlNotifIDValid && attempts.Add(1)%2 == 1 }
	injectEINTR.Store(&fail)
	defer injectEINTR.Store(nil)
	for _, tc := range []struct {
		sc string
		nr int32
	}{
		{"createsignal", unix.SYS_EPOLL_CREATE1},
		{"ctlsignal", unix.SYS_EPOLL_CTL},
	} {
		t.Run(tc.sc, func(t *testing.T) {
			interruptedScenario(t, tc.sc, unix.SIGUSR1, onlyNr(tc.nr), 1, statSettled, 1)
		})
	}
	if attempts.Load() == 0 {
		t.Error("no NOTIF_ID_VALID was made")
	}
}

// TestInterruptedErrorsKeepTheirErrno: each call of scenario errsignal
// fails at once on Linux, which therefore never gives it EINTR: a create
// with bad flags and a DEL of a closed fd (the box answers the error), a
// ctl and a blocking wait on an eventfd (the box continues them to the
// host), a blocking wait with maxevents -1 and a blocking pwait2 with a
// bad sigsetsize (on one of the box's instances: they must never go to a
// worker as if they could sleep). The test interrupts each just before
// the box answers or continues it; the guest must still get the errno,
// with or without SA_RESTART: the box keeps the answer, or the call is run
// again, through the handler's frame.
func TestInterruptedErrorsKeepTheirErrno(t *testing.T) {
	needGuest(t)
	pick := func(n *notif) any {
		switch {
		case n.nr == unix.SYS_EPOLL_CREATE1 && n.args[0] == 1,
			n.nr == unix.SYS_EPOLL_CTL && n.args[2] == 12345,
			n.nr == unix.SYS_EPOLL_CTL && n.args[1] == unix.EPOLL_CTL_ADD,
			isWait(n.nr) && (int32(n.args[2]) == -1 || n.args[2] == 2):
			return [2]uint64{uint64(n.nr), n.args[0]}
		}
		return nil
	}
	for _, sc := range []string{"errsignal", "errsignal-restart"} {
		t.Run(sc, func(t *testing.T) {
			want, wantCode := runNative(t, sc)
			hook, interrupted := interruptOnce(t, unix.SIGUSR1, pick)
			got, code, b := runBoxed(t, Options{beforeAnswer: hook, beforeWait: hook}, sc)
			if got != want || code != wantCode {
				t.Errorf("boxed (exit %d):\n%s\nnative (exit %d):\n%s", code, got, wantCode, want)
			}
			if n := interrupted(); n != 6 {
				t.Errorf("interrupted %d calls, want 6", n)
			}
			if n := b.stats[statSettled].count.Load(); n != 6 {
				t.Errorf("%d interrupted calls settled at sigreturn, want 6", n)
			}
		})
	}
}

// TestInterruptedSigreturnRestarts: a signal that interrupts a trapped
// rt_sigreturn (the test's hook sends SIGUSR2 before the box continues the
// SIGUSR1 handler's) must not make rt_sigreturn return EINTR into the
// restorer: the box turns the SIGUSR2 handler's frame into a restart of
// the rt_sigreturn, and the guest runs on as natively.
func TestInterruptedSigreturnRestarts(t *testing.T) {
	needGuest(t)
	interruptedScenario(t, "nestedreturn", unix.SIGUSR2, onlyNr(unix.SYS_RT_SIGRETURN), 1, statSettled, 1)
}

// trappedSP is the stack pointer of thread tid's trapped rt_sigreturn, or
// 0 while it is not in one.
func trappedSP(tid int) uint64 {
	st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", tid))
	f := strings.Fields(string(st))
	if len(f) != 9 || f[0] != "15" {
		return 0
	}
	sp, _ := strconv.ParseUint(strings.TrimPrefix(f[7], "0x"), 16, 64)
	return sp
}

// waitForSP waits up to 5 s for thread tid's trappedSP to satisfy ok, and
// returns it (0, with an error, if it never does).
func waitForSP(t *testing.T, tid int, what string, ok func(sp uint64) bool) uint64 {
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if sp := trappedSP(tid); ok(sp) {
			return sp
		}
	}
	t.Errorf("the second thread never %s", what)
	return 0
}

// TestWithdrawnSigreturnRestarts: as TestInterruptedSigreturnRestarts,
// but the rt_sigreturn is interrupted before the box receives it (the
// receiver is held in the hook of another thread's epoll_ctl meanwhile):
// the box learns of it only from the gap in the notification ids.
func TestWithdrawnSigreturnRestarts(t *testing.T) {
	needGuest(t)
	want, wantCode := runNative(t, "nestedqueued")
	var mu sync.Mutex
	done := false
	hook := func(b *Box, n *notif) {
		mu.Lock()
		defer mu.Unlock()
		if n.nr != unix.SYS_EPOLL_CTL || n.args[2] != 100 || done {
			return
		}
		done = true
		tgid := tgidOf(t, n.pid)
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", tgid))
		if err != nil {
			t.Error(err)
			return
		}
		other := 0
		for _, e := range ents {
			if tid, _ := strconv.Atoi(e.Name()); tid != int(n.pid) {
				other = tid
			}
		}
		unix.Tgkill(tgid, other, unix.SIGUSR1)
		sp1 := waitForSP(t, other, "trapped its SIGUSR1 handler's rt_sigreturn", func(sp uint64) bool { return sp != 0 })
		unix.Tgkill(tgid, other, unix.SIGUSR2)
		waitForSP(t, other, "trapped its SIGUSR2 handler's rt_sigreturn", func(sp uint64) bool { return sp != 0 && sp != sp1 })
	}
	got, code, b := runBoxed(t, Options{beforeAnswer: hook}, "nestedqueued")
	if got != want || code != wantCode {
		t.Errorf("boxed (exit %d):\n%s\nnative (exit %d):\n%s", code, got, wantCode, want)
	}
	if n := b.stats[statSettled].count.Load(); n != 1 {
		t.Errorf("%d frames mended, want 1", n)
	}
}

// TestFrameRewriteIsAtomic: a signal that comes while the box rewrites
// an rt_sigreturn's frame (the hook sends SIGUSR2 after the box checked
// the notification and before it writes) must not leave the frame half
// rewritten: rip on the syscall instruction with rax already -EINTR would
// restart system call -4, which the filter kills (SIGSYS, exit 159).
func TestFrameRewriteIsAtomic(t *testing.T) {
	needGuest(t)
	want, wantCode := runNative(t, "framerace")
	var mu sync.Mutex
	sent := 0
	hook := func(b *Box, n *notif) {
		mu.Lock()
		defer mu.Unlock()
		if sent++; sent > 1 {
			return
		}
		if err := unix.Tgkill(tgidOf(t, n.pid), int(n.pid), unix.SIGUSR2); err != nil {
			t.Errorf("tgkill: %v", err)
			return
		}
		for end := time.Now().Add(5 * time.Second); notifIDValid(b.listener, n.id); time.Sleep(time.Millisecond) {
			if time.Now().After(end) {
				t.Errorf("the guest thread did not leave its rt_sigreturn")
				return
			}
		}
	}
	got, code, b := runBoxed(t, Options{beforeFrameWrite: hook}, "framerace")
	if got != want || code != wantCode {
		t.Errorf("boxed (exit %d):\n%s\nnative (exit %d):\n%s", code, got, wantCode, want)
	}
	if sent < 1 {
		t.Errorf("no frame was rewritten")
	}
	// The wait's frame, and the SIGUSR2 handler's (a restart of the
	// interrupted rt_sigreturn).
	if n := b.stats[statSettled].count.Load(); n != 2 {
		t.Errorf("%d frames mended, want 2", n)
	}
}

// TestDaemonOutlivesGuest: a daemon the guest forks goes on after the
// guest has exited; the box serves it until it is gone (the listener hangs
// up when no task uses the filter), so its handled signals and epoll
// calls work as natively, where once they got ENOSYS and it crashed.
func TestDaemonOutlivesGuest(t *testing.T) {
	needGuest(t)
	dir := t.TempDir()
	// daemonLog waits for the daemon's log at path to be complete.
	daemonLog := func(path string) string {
		var b []byte
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			if b, _ = os.ReadFile(path); strings.HasSuffix(string(b), "done\n") {
				break
			}
		}
		return string(b)
	}
	native := filepath.Join(dir, "native")
	want, wantCode := runNative(t, "daemon", native)
	wantLog := daemonLog(native)
	boxed := filepath.Join(dir, "boxed")
	start := time.Now()
	got, code, _ := runBoxed(t, Options{}, "daemon", boxed)
	waited := time.Since(start)
	if b, _ := os.ReadFile(boxed); !strings.HasSuffix(string(b), "done\n") {
		t.Errorf("Wait returned (after %v) before the daemon was done: %q", waited, b)
	}
	gotLog := daemonLog(boxed)
	if got != want || code != wantCode || gotLog != wantLog {
		t.Errorf("boxed (exit %d):\n%s\ndaemon:\n%s\nnative (exit %d):\n%s\ndaemon:\n%s", code, got, gotLog, wantCode, want, wantLog)
	}
}

// TestWithdrawnCallIsRestarted: an epoll_ctl, or an epoll_wait that Linux
// answers without sleeping (a zero timeout, an event queued, maxevents
// -1), interrupted by a handler without SA_RESTART before the box
// received it (the receiver is held in the hook of another thread's
// epoll_ctl meanwhile) would return EINTR, which Linux's never does (the
// ctl's registration not made). The box sees the gap in the notification
// ids, and at the handler's rt_sigreturn turns the frame into a restart of
// the call, which it then serves.
func TestWithdrawnCallIsRestarted(t *testing.T) {
	needGuest(t)
	for _, tc := range []struct {
		sc string
		nr int
	}{
		{"withdrawnctl", unix.SYS_EPOLL_CTL},
		{"withdrawnwait", unix.SYS_EPOLL_WAIT},
		{"withdrawnqueued", unix.SYS_EPOLL_WAIT},
		{"withdrawnbad", unix.SYS_EPOLL_WAIT},
	} {
		t.Run(tc.sc, func(t *testing.T) {
			want, wantCode := runNative(t, tc.sc)
			var mu sync.Mutex
			done := false
			hook := func(b *Box, n *notif) {
				mu.Lock()
				defer mu.Unlock()
				if n.nr != unix.SYS_EPOLL_CTL || n.args[2] != 100 || done {
					return
				}
				done = true
				tgid := tgidOf(t, n.pid)
				other := otherThread(t, tgid, int(n.pid))
				waitSyscall(t, other, tc.nr)
				unix.Tgkill(tgid, other, unix.SIGUSR1)
				waitSyscall(t, other, unix.SYS_RT_SIGRETURN)
			}
			got, code, b := runBoxed(t, Options{beforeAnswer: hook}, tc.sc)
			if got != want || code != wantCode {
				t.Errorf("boxed (exit %d):\n%s\nnative (exit %d):\n%s", code, got, wantCode, want)
			}
			if n := b.stats[statSettled].count.Load(); n != 1 {
				t.Errorf("%d frames mended, want 1", n)
			}
		})
	}
}

// otherThread returns a thread of process tgid other than tid.
func otherThread(t *testing.T, tgid, tid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", tgid))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if n, _ := strconv.Atoi(e.Name()); n != tid {
			return n
		}
	}
	t.Fatalf("process %d has no thread but %d", tgid, tid)
	return 0
}

// waitSyscall waits until thread tid is in system call nr.
func waitSyscall(t *testing.T, tid int, nr int) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", tid))
		if f := strings.Fields(string(st)); len(f) == 9 && f[0] == strconv.Itoa(nr) {
			return
		}
	}
	t.Errorf("thread %d never made system call %d", tid, nr)
}

// fdsAtMarkers returns a beforeWait hook that counts the box's fds at
// each wait with maxevents 13, and the counts.
func fdsAtMarkers(t *testing.T) (func(*Box, *notif), func() []int) {
	var mu sync.Mutex
	var marks []int
	hook := func(b *Box, n *notif) {
		if isWait(n.nr) && n.args[2] == 13 {
			mu.Lock()
			marks = append(marks, openFDs(t))
			mu.Unlock()
		}
	}
	return hook, func() []int {
		mu.Lock()
		defer mu.Unlock()
		return append([]int(nil), marks...)
	}
}

// TestClosedInstancesDoNotPileUp: instances the guest makes and closes at
// full speed are collected as they pile up, not once a second: the box's
// fd use stays bounded (it held two fds per closed instance until the next
// sweep, ~10,000 in a second of such a loop).
func TestClosedInstancesDoNotPileUp(t *testing.T) {
	needGuest(t)
	want, wantCode := runNative(t, "createclose")
	hook, marks := fdsAtMarkers(t)
	got, code, _ := runBoxed(t, Options{beforeWait: hook}, "createclose")
	if got != want || code != wantCode {
		t.Errorf("boxed (exit %d):\n%s\nnative (exit %d):\n%s", code, got, wantCode, want)
	}
	m := marks()
	if len(m) != 2 {
		t.Fatalf("%d marker waits seen, want 2", len(m))
	}
	if grown := m[1] - m[0]; grown > 500 {
		t.Errorf("the box holds %d more fds after 3000 instances made and closed", grown)
	}
}

// TestManyRegistrations: 102,000 registrations, in 6 guest processes at
// once, cost the box 204,000 probes, ten times the 20,000 fds this
// machine's limit gives a process (the box cannot raise it without
// CAP_SYS_RESOURCE): the run must match the native one, and the box's
// main fd table must stay within half the limit (the probes beyond are in
// vaults, fd tables of their own). Without vaults the registrations beyond
// the limit fail ENOSPC (Linux's answer when no more watches may be
// added), and the box says why on its log.
func TestManyRegistrations(t *testing.T) {
	needGuest(t)
	args := []string{"manyprocs", "6", "17000"}
	want, wantCode := runNative(t, args...)
	var mu sync.Mutex
	mainFDs := -1
	hook := func(b *Box, n *notif) {
		if isWait(n.nr) && n.args[2] == 13 {
			mu.Lock()
			mainFDs = openFDs(t)
			mu.Unlock()
		}
	}
	got, code, b := runBoxed(t, Options{beforeWait: hook}, args...)
	if got != want || code != wantCode {
		t.Errorf("boxed (exit %d):\n%s\nnative (exit %d):\n%s", code, got, wantCode, want)
	}
	if mainFDs < 0 || mainFDs > b.fdLimit/2+reservedFds {
		t.Errorf("the box's main table held %d fds with 102,000 registrations (limit %d)", mainFDs, b.fdLimit)
	}

	var out, log bytes.Buffer
	cmd := exec.Command(guestBin, "manyregs", "12000")
	cmd.Stdout, cmd.Stderr = &out, &out
	nb, err := Start(cmd, Options{Log: &log, noVaults: true})
	if err != nil {
		t.Fatal(err)
	}
	nb.Wait()
	if nb.fdLimit < 30000 && (!strings.Contains(log.String(), "fd limit") || !strings.Contains(out.String(), "ENOSPC")) {
		t.Errorf("without vaults, the box ran out of fds (limit %d) but gave no warning and ENOSPC:\nlog: %s\n%s", nb.fdLimit, log.String(), out.String())
	}
}

// TestNewThreadOfAFullBox: a thread whose first call comes when the box
// is out of fds (here, where it cannot raise its limit) must still be
// served by the model: its calls were continued to the host on the
// placeholder when no pidfd could be opened for it (issue 19 item 5b), so
// its MOD failed ENOENT and its wait saw the doorbell.
func TestNewThreadOfAFullBox(t *testing.T) {
	needGuest(t)
	// One thread (the reserve of fds for pidfds serves it), then 400 alive
	// at once (more than the reserve: pidfds of other threads are closed
	// to make room, and opened again when needed).
	for _, args := range [][]string{{"fullthread", "12000"}, {"fullthread", "12000", "400"}} {
		want, wantCode := runNative(t, args...)
		got, code, _ := runBoxed(t, Options{noVaults: true}, args...)
		if got != want || code != wantCode {
			t.Errorf("%v: boxed (exit %d):\n%s\nnative (exit %d):\n%s", args, code, got, wantCode, want)
		}
	}
}

// TestDeadRegistrationsAreReleased: registrations whose files the guest
// closed without EPOLL_CTL_DEL, each at a new fd number, are gone in
// Linux at the close; the box must not keep their proxies and probe fds
// (it did until a later epoll_ctl named the same number). The test counts
// the box's fds at the scenario's two marker waits.
func TestDeadRegistrationsAreReleased(t *testing.T) {
	needGuest(t)
	want, wantCode := runNative(t, "deadregs")
	var mu sync.Mutex
	var marks []int
	hook := func(b *Box, n *notif) {
		if isWait(n.nr) && n.args[2] == 13 {
			mu.Lock()
			marks = append(marks, openFDs(t))
			mu.Unlock()
		}
	}
	got, code, _ := runBoxed(t, Options{beforeWait: hook}, "deadregs")
	if got != want || code != wantCode {
		t.Errorf("boxed (exit %d):\n%s\nnative (exit %d):\n%s", code, got, wantCode, want)
	}
	if len(marks) != 2 {
		t.Fatalf("%d marker waits seen, want 2", len(marks))
	}
	if grown := marks[1] - marks[0]; grown > 10 {
		t.Errorf("the box holds %d more fds after 200 dead registrations", grown)
	}
}

// TestCtlCostIndependentOfInstances: an epoll_ctl whose target is not an
// epoll file is not compared with every instance (it was, one MOD each:
// 4 ms a call with 5,000 instances).
func TestCtlCostIndependentOfInstances(t *testing.T) {
	needGuest(t)
	want, wantCode := runNative(t, "manyinstances")
	got, code, b := runBoxed(t, Options{}, "manyinstances")
	if got != want || code != wantCode {
		t.Errorf("boxed (exit %d):\n%s\nnative (exit %d):\n%s", code, got, wantCode, want)
	}
	// 200 calls on pipes and 501 instances: none needs a comparison.
	if n := b.stats[statCompared].count.Load(); n > 0 {
		t.Errorf("%d comparisons with instances for 200 calls on pipes", n)
	}
}

// TestStoppedWaitEINTR: a wait interrupted by SIGSTOP and SIGCONT is
// restarted by the kernel (no handler runs); Linux's epoll_wait returns
// EINTR, and so must the box's answer to the restart.
func TestStoppedWaitEINTR(t *testing.T) {
	needGuest(t)
	want, _ := runNative(t, "stopped")
	if !strings.Contains(want, "EINTR") {
		t.Fatalf("native run: %q, want EINTR (has the kernel changed?)", want)
	}
	got, _, _ := runBoxed(t, Options{}, "stopped")
	if got != want {
		t.Errorf("boxed:\n%s\nnative:\n%s", got, want)
	}
}

// TestIdleBoxSleeps: while the guest sleeps, so does the box. The
// receiver's ppoll once reused a timespec that the kernel writes the time
// left back into: after the first idle second every ppoll returned at
// once, and the box burnt a CPU for as long as the guest slept.
func TestIdleBoxSleeps(t *testing.T) {
	needGuest(t)
	want, wantCode := runNative(t, "idle")
	cpu := func() time.Duration {
		var ru unix.Rusage
		if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	before := cpu()
	got, code, _ := runBoxed(t, Options{}, "idle")
	used := cpu() - before
	if got != want || code != wantCode {
		t.Errorf("boxed (exit %d):\n%s\nnative (exit %d):\n%s", code, got, wantCode, want)
	}
	// The guest sleeps 2.2 s; the box's own work is a few milliseconds.
	if used > 400*time.Millisecond {
		t.Errorf("the box used %v of CPU while its guest slept 2.2 s", used)
	}
}

// tgidOf returns the thread group of thread tid.
func tgidOf(t *testing.T, tid uint32) int {
	t.Helper()
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no Tgid in /proc/%d/status", tid)
	return 0
}

// TestExitStatus: the box reports the guest's exit status and death by a
// signal.
func TestExitStatus(t *testing.T) {
	needGuest(t)
	if _, code, _ := runBoxed(t, Options{}, "exit", "7"); code != 7 {
		t.Errorf("exit 7: got %d", code)
	}
	if _, code, _ := runBoxed(t, Options{}, "raise"); code != 128+int(syscall.SIGTERM) {
		t.Errorf("raise SIGTERM: got %d", code)
	}
}

// TestSignal: Box.Signal reaches the guest.
func TestSignal(t *testing.T) {
	needGuest(t)
	cmd := exec.Command(guestBin, "sleep")
	b, err := Start(cmd, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	st, _ := b.Wait()
	if code := exitCode(st); code != 128+int(syscall.SIGTERM) {
		t.Errorf("got exit %d", code)
	}
}

// TestStats: every trapped call is counted.
func TestStats(t *testing.T) {
	needGuest(t)
	_, _, b := runBoxed(t, Options{}, "partial")
	got := map[string]int64{}
	var inlineMean time.Duration
	for _, s := range b.Stats() {
		got[s.Name] = s.Count
		if s.Name == "waits served inline" {
			inlineMean = s.Mean
		}
	}
	// partial: 1 epoll_create1, 3 + 1 epoll_ctl, 7 epoll_wait, each with
	// a zero timeout: served inline, none handed to a worker.
	if got["epoll_create1"] != 1 || got["epoll_ctl"] != 4 || got["epoll_wait"] != 7 ||
		got["waits served inline"] != 7 || got["waits handed to a worker"] != 0 || inlineMean <= 0 {
		t.Errorf("stats: %v (inline waits' mean %v)", got, inlineMean)
	}
}
