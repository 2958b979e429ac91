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
	case kind == arrivedReplayedCtl:
		b.reply(th, n, prev.val, prev.err, false)
		return
	case kind == arrivedRestartedWait:
		// Linux's epoll_wait is never restarted: it returns EINTR.
		b.reply(th, n, 0, unix.EINTR, false)
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

// reply answers n. For a side-effecting call (sideEffect), an answer that
// cannot be delivered is kept for a restart of the same call.
func (b *Box) reply(th *thread, n *notif, val int64, e unix.Errno, sideEffect bool) {
	if h := b.opts.beforeAnswer; h != nil && sideEffect {
		h(b, n)
	}
	switch r := b.sendAnswer(n.id, val, e); {
	case r == unix.ENOENT && sideEffect:
		b.dropPending(th.calls.leaveCtl(n, val, e))
	case r == 0 && sideEffect:
		if e != 0 {
			val = -int64(e)
		}
		th.calls.delivered(n, val)
	}
}
