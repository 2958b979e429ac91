//go:build linux && amd64

package seccompbox

import (
	"time"

	"golang.org/x/sys/unix"
)

// handle serves one notification (on the receiver): it settles what the
// thread left of its previous call, then hands the call to the server of
// its kind.
func (b *Box) handle(n *notif) {
	start := time.Now()
	if n.nr == unix.SYS_RT_SIGRETURN {
		b.sigreturn(n, start)
		return
	}
	th := b.threadFor(n)
	if th == nil {
		sendContinue(b.listener, n.id)
		return
	}
	// A thread has one system call in flight: a wait of this thread still
	// in flight was interrupted (and maybe restarted). The interrupted wait
	// comes back as the same call from the same place when the kernel
	// restarts it with no handler run (a stop); any other call means the
	// guest has left it (a handler that did not return, say). An
	// uninstalled epoll_create is dropped: the guest has left it (a restart
	// of it makes a new instance, which nobody can tell apart).
	kind, prev, abandoned := th.calls.begin(siteOf(n))
	if abandoned {
		b.stats[statCancelled].count.Add(1)
	}
	b.dropPending(prev.create)
	switch {
	case kind == arrivedReplayed:
		b.reply(th, n, prev.val, prev.err)
		return
	case kind == arrivedRestartedWait:
		// Linux's epoll_wait is never restarted: it returns EINTR.
		b.sendAnswer(n.id, 0, unix.EINTR)
		b.account(n.nr, start)
		return
	}
	switch n.nr {
	case unix.SYS_EPOLL_CREATE:
		b.create(th, n, start, int32(n.args[0]) <= 0, false)
	case unix.SYS_EPOLL_CREATE1:
		fl := int32(n.args[0])
		b.create(th, n, start, fl&^unix.EPOLL_CLOEXEC != 0, fl&unix.EPOLL_CLOEXEC != 0)
	case unix.SYS_EPOLL_CTL:
		b.ctl(th, n, start)
	case unix.SYS_EPOLL_WAIT, unix.SYS_EPOLL_PWAIT, unix.SYS_EPOLL_PWAIT2:
		b.wait(th, n, start)
	default: // poll, ppoll, select, pselect6
		b.pollSync(th, n)
		sendContinue(b.listener, n.id)
		b.account(n.nr, start)
	}
}

func isWait(nr int32) bool {
	return nr == unix.SYS_EPOLL_WAIT || nr == unix.SYS_EPOLL_PWAIT || nr == unix.SYS_EPOLL_PWAIT2
}

// reply answers n, an epoll_ctl or epoll_create, with a result Linux
// never replaces with EINTR (it does not look at signals): an answer that
// cannot be delivered is kept for the call's restart or its handler's
// frame (leftResult), and one NOTIF_SEND took is remembered in case the
// kernel dropped it (answeredCall).
func (b *Box) reply(th *thread, n *notif, val int64, e unix.Errno) {
	if h := b.opts.beforeAnswer; h != nil {
		h(b, n)
	}
	switch r := b.sendAnswer(n.id, val, e); r {
	case unix.ENOENT:
		b.dropPending(th.calls.leaveResult(n, val, e))
	case 0:
		if e != 0 {
			val = -int64(e)
		}
		th.calls.delivered(n, val)
	}
}

// continueCall lets the host kernel run n, a ctl or wait on an fd that is
// not one of the box's instances, where it fails at once (EBADF, EINVAL,
// EFAULT), unless rerun says the host kernel might sleep in it (a wait
// with a timeout on a host epoll the guest inherited), where EINTR is
// Linux's answer too. If the thread left such a call before the box
// continued it (leftRerun), or the kernel dropped the continue (see
// answeredCall), Linux would still have given the call its result, not
// EINTR: it is run again.
func (b *Box) continueCall(th *thread, n *notif, rerun func() bool) {
	if h := b.opts.beforeAnswer; h != nil {
		h(b, n)
	}
	failsAtOnce := rerun == nil || rerun()
	switch r := b.continueGuest(n.id); {
	case r == unix.ENOENT && failsAtOnce:
		b.dropPending(th.calls.leaveRerun(n))
	case r == 0 && failsAtOnce:
		th.calls.continued(n)
	}
}
