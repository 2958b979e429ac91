//go:build linux && amd64

package seccompbox

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// The life of a guest thread's trapped calls, as the box sees it.
//
// A trapped wait (a call) moves through phases; waitMoves is the table:
//
//	running   -> queued     dispatch: its inline harvest found nothing, to the worker
//	queued    -> running    start: the worker runs it
//	running   -> served     served: the worker's model call returned
//	running   -> answered   its answer was delivered (from inside the harvest, or inline)
//	served    -> answered   its answer was delivered
//	running   -> refused    the harvest's answer could not be delivered: events put back
//	queued    -> abandoned  the thread left it (a signal, a stop, another call)
//	running   -> abandoned  the same, its model wait interrupted; or its answer failed
//	served    -> abandoned  its answer failed
//	abandoned -> refused    a harvest under way when the thread left puts its events back
//
// Answered and refused are final; abandoned becomes only refused.
//
// Besides the one blocking wait in flight, a thread may have left one call
// unanswered that the box still has to settle (a leftCall): a wait it was
// interrupted out of (Linux's answer is EINTR if the wait slept; one that
// did not is run again, since Linux's never returns EINTR without
// sleeping, as is a call the box was continuing to the host), an
// epoll_ctl done but not answered or an error of epoll_ctl or
// epoll_create not delivered (its result is replayed), or an
// epoll_create whose placeholder was not installed (installed at the
// handler's rt_sigreturn, or dropped). The thread's next call (begin) or
// its rt_sigreturn (settle) settles it. And until its next call, the box
// remembers the last call it answered (answeredCall), whose answer the
// kernel may have dropped.
//
// threadCalls owns all of it and the lock that guards it; every change is
// one of its methods.

// waitPhase is where a trapped wait is in its life.
type waitPhase uint8

const (
	// waitRunning: being served, inline on the receiver or, after start,
	// on the thread's worker, where it may block in the model.
	waitRunning waitPhase = iota
	// waitQueued: handed to the thread's worker, not started yet.
	waitQueued
	// waitServed: the worker's model call returned; the answer is next.
	waitServed
	// waitAnswered: the answer was delivered (final).
	waitAnswered
	// waitRefused: the answer of a harvest could not be delivered, and the
	// model put the harvested events back (final).
	waitRefused
	// waitAbandoned: the thread left the call before its answer (final).
	waitAbandoned
)

var waitPhaseNames = [...]string{"running", "queued", "served", "answered", "refused", "abandoned"}

func (p waitPhase) String() string { return waitPhaseNames[p] }

// waitMoves lists the transitions of a wait: waitMoves[from] has bit to.
var waitMoves = [...]uint8{
	waitRunning:   1<<waitQueued | 1<<waitServed | 1<<waitAnswered | 1<<waitRefused | 1<<waitAbandoned,
	waitQueued:    1<<waitRunning | 1<<waitAbandoned,
	waitServed:    1<<waitAnswered | 1<<waitAbandoned,
	waitAnswered:  0,
	waitRefused:   0,
	waitAbandoned: 1 << waitRefused, // a harvest under way when the thread left
}

// moveLocked moves c to phase to (c's thread's threadCalls.mu is held;
// not annotated, see doc.go); anything but one of waitMoves is a bug of
// the box.
func (c *call) moveLocked(to waitPhase) {
	if waitMoves[c.phase]&(1<<to) == 0 {
		panic(fmt.Sprintf("seccompbox: a wait cannot go from %v to %v", c.phase, to))
	}
	c.phase = to
}

// leftKind says which call a thread left unanswered.
type leftKind uint8

const (
	leftNothing leftKind = iota
	// leftWait: the thread was interrupted out of a wait that slept (one
	// its worker served); Linux's answer is EINTR, also when the kernel
	// restarts it.
	leftWait
	// leftRerun: the thread left, before its answer, a call that had no
	// effect yet and that Linux would not have failed with EINTR: a wait
	// the box served without sleeping (a zero timeout, or events already
	// queued), or a call the box was continuing to the host kernel (a
	// wait or ctl on an fd that is not one of the box's instances, which
	// fails at once). Linux's ep_poll returns a result there, never EINTR
	// (it looks at signals only when it is about to sleep), so the call
	// is run again: its frame is turned into a restart at rt_sigreturn,
	// and a restart of it is served as a new call (a refused harvest's
	// events are back at the head of the ready list).
	leftRerun
	// leftResult: a call the box answered with a result Linux never
	// replaces with EINTR (an epoll_ctl it did, or any error it gave an
	// epoll_ctl or epoll_create, such as EINVAL for bad flags or EBADF),
	// which the thread left before the answer arrived: a restart of it is
	// answered from val and err, not done twice, and the handler's frame
	// gets that answer.
	leftResult
	// leftCreate: an epoll_create whose placeholder could not be installed
	// (create is it). Once installed at the handler's rt_sigreturn it
	// becomes a leftResult (the fd number) until the frame has it.
	leftCreate
)

// leftCall is the call a thread left unanswered, to be settled.
type leftCall struct {
	kind   leftKind
	site   callSite
	val    int64      // leftResult: the result
	err    unix.Errno // leftResult: the errno
	create *pending   // leftCreate
}

// callSite identifies a trapped call by its number, the address after its
// syscall instruction and its arguments: what a restart of it repeats.
type callSite struct {
	nr   int32
	ip   uint64
	args [6]uint64
}

func siteOf(n *notif) callSite { return callSite{nr: n.nr, ip: n.ip, args: n.args} }

// arrival is what a thread's new call is, given the call it left.
type arrival uint8

const (
	arrivedFresh arrival = iota
	// arrivedRestartedWait: the wait the thread was interrupted out of,
	// again from the same place with the same arguments and no handler run
	// in between (a stop and SIGCONT): the kernel's restart, which Linux's
	// epoll_wait never does; the answer is EINTR.
	arrivedRestartedWait
	// arrivedReplayed: the kernel's restart of an epoll_ctl or
	// epoll_create whose answer was lost (leftResult): answered from the
	// record.
	arrivedReplayed
)

// modelWait is the model side of a thread's worker: the task its blocking
// waits run on (a *syscalls.Task).
type modelWait interface {
	// Interrupt ends the model wait in progress (SIGKILL).
	Interrupt(sig int)
	// DiscardSignals forgets an interrupt meant for an earlier wait.
	DiscardSignals(mask uint64)
}

// answeredCall is the thread's last call whose answer NOTIF_SEND took
// (returned 0), until the thread's next call. The kernel may still have
// dropped that answer: a thread woken by a signal from its wait for the
// answer takes the filter's notify_lock again before it looks at the
// notification (seccomp_do_user_notification), and an answer sent in
// between is accepted, then discarded, and the thread handles the signal
// as if it had had none (EINTR or a restart). Its handler's rt_sigreturn
// finds the frame of such a call and mends it (sigreturn.go).
type answeredCall struct {
	site callSite
	val  int64  // what the call returned: its value, or -errno
	id   uint64 // its notification
	// continued: the answer let the host kernel run the call (one that
	// fails at once there, continueCall), whose result the box does not
	// know; a dropped one is mended by running the call again.
	continued bool
}

// threadCalls is one guest thread's trapped calls: the blocking wait in
// flight, the call the thread left unanswered, the last one answered, and
// its worker.
type threadCalls struct {
	mu sync.Mutex
	// +checklocks:mu
	inFlight *call // the blocking wait in flight
	// +checklocks:mu
	left leftCall
	// +checklocks:mu
	answered answeredCall
	// +checklocks:mu
	worker modelWait // the worker's task, nil while there is none
}

// begin records that the thread made a new call at site: a blocking wait
// still in flight was left (the thread has one call in flight), and the
// call the thread left before is settled by this one. It returns what the
// call is, the record it settles (for a replayed ctl, its answer), and
// whether a wait was abandoned.
func (tc *threadCalls) begin(site callSite) (arrival, leftCall, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	abandoned := tc.abandonInFlightLocked()
	prev := tc.left
	tc.left = leftCall{}
	tc.answered = answeredCall{}
	switch {
	case prev.kind == leftWait && prev.site == site:
		return arrivedRestartedWait, prev, abandoned
	case prev.kind == leftResult && prev.site.nr == site.nr && prev.site.args == site.args:
		return arrivedReplayed, prev, abandoned
	}
	return arrivedFresh, prev, abandoned
}

// abandonInFlightLocked abandons the wait in flight, if any, and records
// that the thread left it.
//
// +checklocks:tc.mu
func (tc *threadCalls) abandonInFlightLocked() bool {
	c := tc.inFlight
	if c == nil {
		return false
	}
	tc.abandonLocked(c)
	tc.leaveLocked(leftCall{kind: leftWait, site: siteOf(&c.n)})
	return true
}

// abandonLocked ends wait c: it is no longer in flight, and a model wait
// under way is interrupted (tc.mu is held: the worker cannot move on to its
// next wait meanwhile).
//
// +checklocks:tc.mu
func (tc *threadCalls) abandonLocked(c *call) {
	if tc.inFlight == c {
		tc.inFlight = nil
	}
	running := c.phase == waitRunning
	c.moveLocked(waitAbandoned)
	if running && tc.worker != nil {
		tc.worker.Interrupt(int(unix.SIGKILL))
	}
}

// leaveLocked makes l the call the thread left (tc.mu held), and returns
// an uninstalled create it displaced, for the caller to drop. There is
// none by construction (a thread's every call settles the record first, in
// begin, and only that call sets it again), so the wait paths ignore it;
// create and ctl drop it all the same rather than leak a placeholder.
//
// +checklocks:tc.mu
func (tc *threadCalls) leaveLocked(l leftCall) *pending {
	old := tc.left.create
	tc.left = l
	return old
}

// leaveResult records a call whose answer (val, err) could not be
// delivered (leftResult).
func (tc *threadCalls) leaveResult(n *notif, val int64, err unix.Errno) *pending {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.leaveLocked(leftCall{kind: leftResult, site: siteOf(n), val: val, err: err})
}

// leaveRerun records a call the thread left before the box continued it
// to the host kernel (leftRerun): it is to run again.
func (tc *threadCalls) leaveRerun(n *notif) *pending {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.leaveLocked(leftCall{kind: leftRerun, site: siteOf(n)})
}

// leaveCreate records an epoll_create whose placeholder could not be
// installed; it returns a create it displaced, for the caller to drop.
func (tc *threadCalls) leaveCreate(p *pending) *pending {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.leaveLocked(leftCall{kind: leftCreate, site: p.site, create: p})
}

// dispatch makes c, which found nothing in its inline harvest, the
// thread's wait in flight, queued for the worker. start runs (with tc.mu
// held) when the thread has no worker yet, and returns its task.
func (tc *threadCalls) dispatch(c *call, start func() modelWait) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	c.moveLocked(waitQueued)
	c.slept = true
	tc.inFlight = c
	if tc.worker == nil {
		tc.worker = start()
	}
}

// start moves a queued wait to running on the worker, unless the thread
// left it meanwhile (then it is dropped: false).
func (tc *threadCalls) start(c *call) bool {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if c.phase == waitAbandoned {
		if tc.inFlight == c {
			tc.inFlight = nil
		}
		return false
	}
	c.moveLocked(waitRunning)
	tc.worker.DiscardSignals(killBit)
	return true
}

// served records that the worker's model call returned.
func (tc *threadCalls) served(c *call) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if c.phase == waitRunning {
		c.moveLocked(waitServed)
	}
}

// answerLocked delivers the answer val of wait c (deliver sends it; stale:
// the copy-out found the notification withdrawn), unless the thread left the
// call; when it cannot be delivered the thread is recorded as having left
// it. tc.mu is held so that the record and the answer change together: the
// guest's next call, which may come the moment it has the answer, must not
// find this wait in flight (it would take it for interrupted), and an
// interrupted thread's rt_sigreturn must find it left.
//
// +checklocks:tc.mu
func (tc *threadCalls) answerLocked(c *call, stale bool, val int64, deliver func() bool) bool {
	if tc.inFlight == c {
		tc.inFlight = nil
	}
	if c.phase == waitAbandoned {
		return false
	}
	if stale || !deliver() {
		kind := leftRerun
		if c.slept {
			kind = leftWait
		}
		tc.leaveLocked(leftCall{kind: kind, site: siteOf(&c.n)})
		c.moveLocked(waitAbandoned)
		return false
	}
	c.moveLocked(waitAnswered)
	tc.answered = answeredCall{site: siteOf(&c.n), val: val, id: c.n.id}
	return true
}

// commit answers a wait from inside its harvest (server.commit): false
// refuses the harvest, whose events the model then puts back. The caller
// holds tc.mu while deliver runs (answerLocked).
func (tc *threadCalls) commit(c *call, stale bool, val int64, deliver func() bool) bool {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.answerLocked(c, stale, val, deliver) {
		return true
	}
	c.moveLocked(waitRefused)
	return false
}

// finish answers a served wait (deliver), unless it was answered or refused
// from inside its harvest or the thread left it. It reports whether the
// harvest was refused.
func (tc *threadCalls) finish(c *call, stale bool, val int64, deliver func() bool) (refused bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	switch c.phase {
	case waitAnswered, waitRefused, waitAbandoned:
		if tc.inFlight == c {
			tc.inFlight = nil
		}
	default:
		tc.answerLocked(c, stale, val, deliver)
	}
	return c.phase == waitRefused
}

// abandonIfWithdrawn abandons the wait in flight if its worker runs it and
// withdrawn says its notification is gone (the sweeper: a signal without
// SA_RESTART, the guest saw EINTR and went on).
func (tc *threadCalls) abandonIfWithdrawn(withdrawn func(id uint64) bool) bool {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if c := tc.inFlight; c == nil || c.phase != waitRunning || !withdrawn(c.n.id) {
		return false
	}
	return tc.abandonInFlightLocked()
}

// handlerRan records that a signal handler of the thread returned (its
// rt_sigreturn): a wait in flight was left. It returns the call the thread
// left and the last one answered, for the frame to be mended, and whether
// a wait was abandoned.
func (tc *threadCalls) handlerRan() (leftCall, answeredCall, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	abandoned := tc.abandonInFlightLocked()
	return tc.left, tc.answered, abandoned
}

// delivered records the answer val of a side-effecting call n that
// NOTIF_SEND took (an epoll_ctl).
func (tc *threadCalls) delivered(n *notif, val int64) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.answered = answeredCall{site: siteOf(n), val: val, id: n.id}
}

// continued records that call n, one that fails at once on the host, was
// continued (NOTIF_SEND took the answer), in case the kernel drops it.
func (tc *threadCalls) continued(n *notif) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.answered = answeredCall{site: siteOf(n), id: n.id, continued: true}
}

// forgetAnswered forgets the answered call a once a handler's frame was
// checked for it (and mended if the kernel dropped its answer).
func (tc *threadCalls) forgetAnswered(a answeredCall) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.answered == a {
		tc.answered = answeredCall{}
	}
}

// createDone replaces the left create l, whose placeholder the box has
// just tried to install (fd num, or errno e), with its result
// (leftResult), which a restart of the create or the handler's frame gets;
// false if l is no longer the record.
func (tc *threadCalls) createDone(l leftCall, num int64, e unix.Errno) (leftCall, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if l.kind != leftCreate || tc.left != l {
		return l, false
	}
	r := leftCall{kind: leftResult, site: l.site, val: num, err: e}
	if e != 0 {
		r.val = 0
	}
	tc.left = r
	return r, true
}

// settle forgets the left call l, whose answer the box has written into
// the thread's signal frame, if it is still the record.
func (tc *threadCalls) settle(l leftCall) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.left == l {
		tc.left = leftCall{}
	}
}

// retire ends the record of an exited thread: false while a wait is still
// in flight. It returns whether the thread had a worker (whose channel the
// caller closes) and an uninstalled create to drop.
func (tc *threadCalls) retire() (ok, hadWorker bool, create *pending) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.inFlight != nil {
		return false, false, nil
	}
	hadWorker = tc.worker != nil
	tc.worker = nil
	create = tc.left.create
	tc.left = leftCall{}
	return true, hadWorker, create
}

// shutdown abandons the wait in flight (the box stops) without recording
// it, and reports whether the thread had a worker, whose channel the
// caller closes.
func (tc *threadCalls) shutdown() (hadWorker bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if c := tc.inFlight; c != nil {
		tc.abandonLocked(c)
	}
	hadWorker = tc.worker != nil
	tc.worker = nil
	return hadWorker
}

// takeLeftCreate takes an uninstalled create out of the record, for the
// box's shutdown, after every worker stopped.
func (tc *threadCalls) takeLeftCreate() *pending {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	p := tc.left.create
	if p != nil {
		tc.left = leftCall{}
	}
	return p
}
