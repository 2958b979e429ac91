//go:build linux && amd64

package seccompbox

import (
	"time"

	"golang.org/x/sys/unix"
)

// pending is an epoll_create whose answer could not be delivered (the
// thread was interrupted before the placeholder was installed): its
// instance and placeholder are kept until the thread's rt_sigreturn, which
// installs the placeholder and makes it the call's result, or the
// thread's next call, which drops them (sigreturn.go).
type pending struct {
	site    callSite
	inst    *instance
	ph      int // the placeholder: a host fd of the box
	cloexec bool
}

// addfdInterrupted reports whether ADDFD failed because the thread left
// the call: the notification was withdrawn (ENOENT) or answered
// (EINPROGRESS) first, or the thread was woken by a signal before it took
// the fd in (ESRCH, which seccomp_do_user_notification gives a pending
// addfd of an interrupted thread, as of one that exited).
func addfdInterrupted(e unix.Errno) bool {
	return e == unix.ENOENT || e == unix.EINPROGRESS || e == unix.ESRCH
}

// dropPending releases an epoll_create that was never installed.
func (b *Box) dropPending(pc *pending) {
	if pc != nil {
		rawClose(pc.ph)
		b.kill(pc.inst)
	}
}

// create serves epoll_create and epoll_create1: a model instance, and its
// placeholder installed in the guest with the reply (ADDFD with SEND, so
// no interruption can leave an fd behind).
func (b *Box) create(th *thread, n *notif, start time.Time, bad, cloexec bool) {
	defer b.account(n.nr, start)
	if bad {
		b.reply(th, n, 0, unix.EINVAL)
		return
	}
	inst, ph, err := b.newInstance()
	if err != nil {
		e, _ := err.(unix.Errno)
		if e == 0 {
			e = unix.ENOMEM
		}
		b.reply(th, n, 0, e)
		return
	}
	if h := b.opts.beforeAnswer; h != nil {
		h(b, n)
	}
	num, e := addfdSend(b.listener, n.id, ph, cloexec)
	if addfdInterrupted(e) {
		// The guest was interrupted: its rt_sigreturn may still make
		// this the call's result.
		b.dropPending(th.calls.leaveCreate(&pending{site: siteOf(n), inst: inst, ph: ph, cloexec: cloexec}))
		return
	}
	rawClose(ph)
	if e != 0 {
		// Not installed (EMFILE): the instance has no placeholder and
		// goes.
		b.kill(inst)
		b.reply(th, n, 0, e)
		return
	}
	b.mu.Lock()
	b.idCache[fdKey{th.tid, int32(num)}] = inst
	b.mu.Unlock()
}
