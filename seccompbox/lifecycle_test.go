//go:build linux && amd64

package seccompbox

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeTask records what threadCalls asks of a worker's task.
type fakeTask struct{ interrupts, discards int }

func (f *fakeTask) Interrupt(sig int) {
	if sig == int(unix.SIGKILL) {
		f.interrupts++
	}
}
func (f *fakeTask) DiscardSignals(mask uint64) {
	if mask == killBit {
		f.discards++
	}
}

func waitNotif(id uint64, ip uint64) notif {
	return notif{id: id, nr: unix.SYS_EPOLL_WAIT, ip: ip, args: [6]uint64{3, 0x1000, 8, 1000}}
}

func ctlNotif(id uint64) notif {
	return notif{id: id, nr: unix.SYS_EPOLL_CTL, ip: 0x400, args: [6]uint64{3, 1, 4, 0x2000}}
}

// queuedWait returns a thread's calls with a worker (task) and a wait
// dispatched to it.
func queuedWait(t *testing.T) (*threadCalls, *call, *fakeTask) {
	t.Helper()
	tc, task := &threadCalls{}, &fakeTask{}
	c := &call{n: waitNotif(1, 0x500)}
	started := 0
	tc.dispatch(c, func() modelWait { started++; return task })
	if started != 1 || c.phase != waitQueued || tc.inFlight != c {
		t.Fatalf("dispatch: started %d, phase %v, in flight %v", started, c.phase, tc.inFlight == c)
	}
	return tc, c, task
}

func delivered(ok bool, n *int) func() bool { return func() bool { *n++; return ok } }

func TestWaitDispatchStartsOneWorker(t *testing.T) {
	tc, c, task := queuedWait(t)
	tc.start(c)
	tc.served(c)
	tc.finish(c, false, 1, delivered(true, new(int))) // answered; a second wait
	c2 := &call{n: waitNotif(2, 0x500)}
	tc.dispatch(c2, func() modelWait { t.Fatal("a second worker"); return nil })
	if !tc.start(c2) || c2.phase != waitRunning || task.discards != 2 {
		t.Fatalf("start: phase %v, discards %d", c2.phase, task.discards)
	}
}

// +checklocksignore: one goroutine; it reads the record between calls.
func TestWaitRunningServedAnswered(t *testing.T) {
	tc, c, task := queuedWait(t)
	if !tc.start(c) || c.phase != waitRunning {
		t.Fatalf("start: %v", c.phase)
	}
	tc.served(c)
	if c.phase != waitServed {
		t.Fatalf("served: %v", c.phase)
	}
	var sent int
	if refused := tc.finish(c, false, 1, delivered(true, &sent)); refused || c.phase != waitAnswered || sent != 1 {
		t.Fatalf("finish: refused %v, phase %v, sent %d", refused, c.phase, sent)
	}
	if tc.inFlight != nil || tc.left.kind != leftNothing || task.interrupts != 0 {
		t.Fatalf("after the answer: in flight %v, left %v, interrupts %d", tc.inFlight, tc.left.kind, task.interrupts)
	}
}

// +checklocksignore: one goroutine; it reads the record between calls.
func TestWaitCommitAnswered(t *testing.T) {
	tc, c, _ := queuedWait(t)
	tc.start(c)
	var sent int
	if !tc.commit(c, false, 1, delivered(true, &sent)) || c.phase != waitAnswered || tc.inFlight != nil {
		t.Fatalf("commit: phase %v", c.phase)
	}
	tc.served(c) // no change once answered
	if refused := tc.finish(c, false, 1, delivered(true, &sent)); refused || sent != 1 || c.phase != waitAnswered {
		t.Fatalf("finish after commit: refused %v, sent %d, phase %v", refused, sent, c.phase)
	}
}

// +checklocksignore: one goroutine; it reads the record between calls.
func TestWaitCommitRefusedRecordsLeftWait(t *testing.T) {
	for _, stale := range []bool{false, true} {
		tc, c, _ := queuedWait(t)
		tc.start(c)
		var sent int
		if tc.commit(c, stale, 1, delivered(false, &sent)) || c.phase != waitRefused {
			t.Fatalf("stale %v: commit: phase %v", stale, c.phase)
		}
		if want := map[bool]int{false: 1, true: 0}[stale]; sent != want {
			t.Errorf("stale %v: %d sends, want %d", stale, sent, want)
		}
		if tc.left.kind != leftWait || tc.left.site != siteOf(&c.n) {
			t.Errorf("stale %v: left %+v", stale, tc.left)
		}
		if refused := tc.finish(c, false, 1, delivered(true, &sent)); !refused {
			t.Errorf("stale %v: finish did not report the refusal", stale)
		}
	}
}

// +checklocksignore: one goroutine; it reads the record between calls.
func TestWaitFinishUndeliveredIsAbandoned(t *testing.T) {
	tc, c, _ := queuedWait(t)
	tc.start(c)
	tc.served(c)
	if refused := tc.finish(c, false, 1, delivered(false, new(int))); refused || c.phase != waitAbandoned {
		t.Fatalf("finish: refused %v, phase %v", refused, c.phase)
	}
	if tc.left.kind != leftWait || tc.inFlight != nil {
		t.Fatalf("left %v, in flight %v", tc.left.kind, tc.inFlight)
	}
}

func TestWaitInlineGoesToWorker(t *testing.T) {
	tc, task := &threadCalls{}, &fakeTask{}
	c := &call{n: waitNotif(1, 0x500)} // running inline
	tc.dispatch(c, func() modelWait { return task })
	if c.phase != waitQueued {
		t.Fatalf("phase %v", c.phase)
	}
	c2 := &call{n: waitNotif(2, 0x500)} // inline, answered at once
	if refused := tc.finish(c2, false, 1, delivered(true, new(int))); refused || c2.phase != waitAnswered {
		t.Fatalf("inline finish: %v", c2.phase)
	}
}

// +checklocksignore: one goroutine; it reads the record between calls.
func TestQueuedWaitAbandonedIsDropped(t *testing.T) {
	tc, c, task := queuedWait(t)
	kind, prev, abandoned := tc.begin(siteOf(&notif{nr: unix.SYS_EPOLL_CTL}))
	if kind != arrivedFresh || !abandoned || prev.kind != leftWait || c.phase != waitAbandoned {
		t.Fatalf("begin: %v %+v %v, phase %v", kind, prev, abandoned, c.phase)
	}
	if task.interrupts != 0 {
		t.Errorf("a queued wait was interrupted in the model")
	}
	if tc.start(c) {
		t.Fatal("the worker started an abandoned wait")
	}
	if tc.left.kind != leftNothing {
		t.Errorf("begin left the record: %+v", tc.left)
	}
}

func TestRunningWaitAbandonedIsInterrupted(t *testing.T) {
	tc, c, task := queuedWait(t)
	tc.start(c)
	left, _, abandoned := tc.handlerRan()
	if !abandoned || task.interrupts != 1 || c.phase != waitAbandoned || left.kind != leftWait {
		t.Fatalf("handlerRan: %+v %v, interrupts %d, phase %v", left, abandoned, task.interrupts, c.phase)
	}
	// The model wait ends; a harvest under way is refused, and nothing is
	// sent.
	var sent int
	if tc.commit(c, false, 1, delivered(true, &sent)) || c.phase != waitRefused || sent != 0 {
		t.Fatalf("commit of an abandoned wait: phase %v, sent %d", c.phase, sent)
	}
	if !tc.finish(c, false, 1, delivered(true, &sent)) || sent != 0 {
		t.Fatalf("finish: sent %d", sent)
	}
}

func TestAbandonedWaitFinishSendsNothing(t *testing.T) {
	tc, c, _ := queuedWait(t)
	tc.start(c)
	if !tc.abandonIfWithdrawn(func(uint64) bool { return true }) {
		t.Fatal("the sweeper did not abandon a withdrawn wait")
	}
	tc.served(c)
	var sent int
	if refused := tc.finish(c, false, 1, delivered(true, &sent)); refused || sent != 0 || c.phase != waitAbandoned {
		t.Fatalf("finish: refused %v, sent %d, phase %v", refused, sent, c.phase)
	}
}

func TestSweeperLeavesValidAndQueuedWaits(t *testing.T) {
	tc, c, _ := queuedWait(t)
	if tc.abandonIfWithdrawn(func(uint64) bool { return true }) {
		t.Fatal("the sweeper abandoned a queued wait")
	}
	tc.start(c)
	if tc.abandonIfWithdrawn(func(uint64) bool { return false }) || c.phase != waitRunning {
		t.Fatal("the sweeper abandoned a valid wait")
	}
	tc.served(c)
	if tc.abandonIfWithdrawn(func(uint64) bool { return true }) {
		t.Fatal("the sweeper abandoned a served wait")
	}
}

func TestRestartedWait(t *testing.T) {
	tc, c, task := queuedWait(t)
	tc.start(c)
	// A stop and SIGCONT: the same wait from the same place.
	kind, prev, abandoned := tc.begin(siteOf(&c.n))
	if kind != arrivedRestartedWait || !abandoned || prev.kind != leftWait || task.interrupts != 1 {
		t.Fatalf("begin: %v %+v %v", kind, prev, abandoned)
	}
	// The same wait again is a new call.
	if kind, _, _ := tc.begin(siteOf(&c.n)); kind != arrivedFresh {
		t.Fatalf("second begin: %v", kind)
	}
	// From elsewhere: not a restart.
	tc2, c2, _ := queuedWait(t)
	other := c2.n
	other.ip += 16
	if kind, _, _ := tc2.begin(siteOf(&other)); kind != arrivedFresh {
		t.Fatalf("a wait from elsewhere: %v", kind)
	}
}

func TestReplayedCtl(t *testing.T) {
	tc := &threadCalls{}
	n := ctlNotif(1)
	if old := tc.leaveResult(&n, 0, 0); old != nil {
		t.Fatal("displaced a create")
	}
	again := n
	again.id, again.ip = 2, 0x999 // the restart: same call, any place
	kind, prev, abandoned := tc.begin(siteOf(&again))
	if kind != arrivedReplayed || abandoned || prev.val != 0 || prev.err != 0 {
		t.Fatalf("begin: %v %+v", kind, prev)
	}
	// Another call settles the record without a replay.
	tc.leaveResult(&n, -1, unix.EEXIST)
	other := n
	other.args[2] = 5
	if kind, prev, _ := tc.begin(siteOf(&other)); kind != arrivedFresh || prev.kind != leftResult || prev.err != unix.EEXIST {
		t.Fatalf("another call: %v %+v", kind, prev)
	}
}

func TestLeftCreate(t *testing.T) {
	tc := &threadCalls{}
	p := &pending{site: callSite{nr: unix.SYS_EPOLL_CREATE1}}
	tc.leaveCreate(p)
	left, _, _ := tc.handlerRan()
	if left.kind != leftCreate || left.create != p {
		t.Fatalf("handlerRan: %+v", left)
	}
	// Installed: the record becomes the create's result, until settled.
	res, ok := tc.createDone(left, 7, 0)
	if !ok || res.kind != leftResult || res.val != 7 || res.site != p.site {
		t.Fatalf("createDone: %+v %v", res, ok)
	}
	if _, ok := tc.createDone(left, 7, 0); ok {
		t.Fatal("createDone: not exactly once")
	}
	if l, _, _ := tc.handlerRan(); l != res {
		t.Fatalf("the next handler found %+v, want the result", l)
	}
	tc.settle(res)
	// A failed install keeps its errno.
	tc.leaveCreate(p)
	left, _, _ = tc.handlerRan()
	if res, ok := tc.createDone(left, -1, unix.EMFILE); !ok || res.err != unix.EMFILE || res.val != 0 {
		t.Fatalf("createDone of a failed install: %+v %v", res, ok)
	}
	l, _, _ := tc.handlerRan()
	tc.settle(l)
	// The next call drops one left behind.
	p2 := &pending{}
	if old := tc.leaveCreate(p2); old != nil {
		t.Fatal("displaced a settled create")
	}
	if _, prev, _ := tc.begin(callSite{nr: unix.SYS_EPOLL_WAIT}); prev.create != p2 {
		t.Fatalf("begin did not hand back the create to drop: %+v", prev)
	}
	// A second one displaces the first (not by construction, but never leak).
	tc.leaveCreate(p)
	if old := tc.leaveCreate(p2); old != p {
		t.Fatal("the displaced create was not handed back")
	}
}

// +checklocksignore: one goroutine; it reads the record between calls.
func TestSettle(t *testing.T) {
	tc, c, _ := queuedWait(t)
	tc.start(c)
	left, _, _ := tc.handlerRan()
	n := ctlNotif(9)
	tc.settle(leftCall{kind: leftResult, site: siteOf(&n)}) // not the record
	if tc.left != left {
		t.Fatal("settle forgot another record")
	}
	tc.settle(left)
	if tc.left.kind != leftNothing {
		t.Fatal("settle kept the record")
	}
}

// +checklocksignore: one goroutine; it reads the record between calls.
func TestRetireAndShutdown(t *testing.T) {
	tc, c, task := queuedWait(t)
	if ok, _, _ := tc.retire(); ok {
		t.Fatal("retired a thread with a wait in flight")
	}
	tc.start(c)
	if !tc.shutdown() || task.interrupts != 1 || c.phase != waitAbandoned || tc.left.kind != leftNothing {
		t.Fatalf("shutdown: interrupts %d, phase %v, left %v", task.interrupts, c.phase, tc.left.kind)
	}
	if tc.shutdown() {
		t.Fatal("a second shutdown found a worker")
	}
	p := &pending{}
	tc.leaveCreate(p)
	if ok, hadWorker, create := tc.retire(); !ok || hadWorker || create != p {
		t.Fatalf("retire: %v %v %v", ok, hadWorker, create)
	}
	tc.leaveCreate(p)
	if tc.takeLeftCreate() != p || tc.takeLeftCreate() != nil {
		t.Fatal("takeLeftCreate: not exactly once")
	}
}

func TestWaitPhaseMoves(t *testing.T) {
	legal := map[[2]waitPhase]bool{}
	for from, tos := range waitMoves {
		for to := range waitPhaseNames {
			if tos&(1<<to) != 0 {
				legal[[2]waitPhase{waitPhase(from), waitPhase(to)}] = true
			}
		}
	}
	for from := range waitPhaseNames {
		for to := range waitPhaseNames {
			f, tt := waitPhase(from), waitPhase(to)
			c := &call{phase: f}
			func() {
				defer func() {
					r := recover()
					if legal[[2]waitPhase{f, tt}] != (r == nil) {
						t.Errorf("%v -> %v: panic %v", f, tt, r)
					}
					if r != nil && !strings.Contains(r.(string), "cannot go from "+f.String()+" to "+tt.String()) {
						t.Errorf("%v -> %v: panic message %q", f, tt, r)
					}
				}()
				c.moveLocked(tt)
			}()
		}
	}
	for _, final := range []waitPhase{waitAnswered, waitRefused} {
		if waitMoves[final] != 0 {
			t.Errorf("%v is not final", final)
		}
	}
}

func TestUnsleptWaitIsRunAgain(t *testing.T) {
	tc := &threadCalls{}
	c := &call{n: waitNotif(1, 0x500)} // served inline: it never slept
	if tc.commit(c, false, 1, delivered(false, new(int))) || c.phase != waitRefused {
		t.Fatalf("commit: phase %v", c.phase)
	}
	if tc.left.kind != leftRerun || tc.left.site != siteOf(&c.n) {
		t.Fatalf("left %+v, want leftRerun", tc.left)
	}
	// The kernel's restart of it is a new call, not a restarted wait.
	if kind, prev, _ := tc.begin(siteOf(&c.n)); kind != arrivedFresh || prev.kind != leftRerun {
		t.Fatalf("begin: %v %+v", kind, prev)
	}
	// One answered after the inline harvest found nothing is unslept too.
	c2 := &call{n: waitNotif(2, 0x500)}
	tc.finish(c2, true, 1, delivered(true, new(int)))
	if c2.phase != waitAbandoned || tc.left.kind != leftRerun {
		t.Fatalf("finish: phase %v, left %v", c2.phase, tc.left.kind)
	}
}

func TestAnsweredCallRecord(t *testing.T) {
	tc, c, _ := queuedWait(t)
	tc.start(c)
	if !tc.commit(c, false, 3, delivered(true, new(int))) {
		t.Fatal("commit")
	}
	_, a, _ := tc.handlerRan()
	if a.site != siteOf(&c.n) || a.val != 3 || a.id != c.n.id {
		t.Fatalf("answered %+v", a)
	}
	tc.forgetAnswered(a)
	if _, a2, _ := tc.handlerRan(); a2.id != 0 {
		t.Fatalf("not forgotten: %+v", a2)
	}
	n := ctlNotif(7)
	tc.delivered(&n, -int64(unix.EEXIST))
	if _, a3, _ := tc.handlerRan(); a3.val != -int64(unix.EEXIST) || a3.site != siteOf(&n) {
		t.Fatalf("ctl answered %+v", a3)
	}
	tc.begin(siteOf(&n)) // the next call: the answer arrived
	if _, a4, _ := tc.handlerRan(); a4.id != 0 {
		t.Fatalf("begin kept %+v", a4)
	}
}

func TestMendDroppedRecognisesOnlyItsFrame(t *testing.T) {
	n := waitNotif(5, 0x1002)
	a := answeredCall{site: siteOf(&n), val: 1, id: 5}
	frame := func(rax, rip uint64, args [6]uint64) *sigFrame {
		f := &sigFrame{rax: rax, rip: rip}
		for i, r := range argRegs {
			binary.LittleEndian.PutUint64(f.regs[8*r:], args[i])
		}
		return f
	}
	minusEINTR := -int64(unix.EINTR)
	eintr := uint64(minusEINTR)
	other := n.args
	other[2] = 64
	for _, f := range []*sigFrame{
		frame(1, 0x1002, n.args),              // the answer arrived
		frame(eintr, 0x2002, n.args),          // EINTR elsewhere
		frame(uint64(n.nr), 0x2000, n.args),   // a restart elsewhere
		frame(eintr, 0x1002, other),           // another call at the same place
		frame(uint64(n.nr)+1, 0x1000, n.args), // not a restart of this call
	} {
		if f.mendDropped(a) {
			t.Errorf("mended a frame that is not the dropped call's: rax %#x rip %#x", f.rax, f.rip)
		}
	}
	if f := frame(eintr, 0x1002, n.args); f.mendDropped(answeredCall{site: a.site, val: -int64(unix.EINTR)}) {
		t.Error("mended an EINTR answer into EINTR")
	}
}

// TestFirstNotificationFollowsAGap: a notification withdrawn before the box
// received it shows as a gap in the ids, after which the frames of
// handlers are checked (restartUnseen). The first id received may follow
// one nobody can see (the guest's very first call withdrawn, the next
// notification its handler's rt_sigreturn): it opens the window too.
func TestFirstNotificationFollowsAGap(t *testing.T) {
	var b Box
	b.noteID(1000)
	if !time.Now().Before(b.gapUntil) || b.lastGap != 1000 {
		t.Fatalf("the first notification opened no gap window (until %v, last gap %d)", b.gapUntil, b.lastGap)
	}
	b.gapUntil = time.Time{}
	b.noteID(1001)
	if !b.gapUntil.IsZero() {
		t.Errorf("a consecutive id opened a gap window")
	}
	b.noteID(1003)
	if !time.Now().Before(b.gapUntil) || b.lastGap != 1003 {
		t.Errorf("a gap in the ids opened no window (until %v, last gap %d)", b.gapUntil, b.lastGap)
	}
}
