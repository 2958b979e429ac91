package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// wait4.

func init() { register(sysWait4, hWait4) }

const (
	waitNoThread = 0x20000000 // __WNOTHREAD
	waitAll      = 0x40000000 // __WALL
	waitClone    = 0x80000000 // __WCLONE
	wait4Options = unix.WNOHANG | unix.WUNTRACED | unix.WCONTINUED | waitNoThread | waitAll | waitClone
	rusageSize   = 144 // struct rusage on 64-bit
)

// hWait4 is wait4(pid, status, options, rusage): EINVAL for unknown
// options; ECHILD when no child matches pid (pid > 0 that child, -1 or 0
// any, < -1 the group -pid, which is all of them for the model's one
// group); with a zombie among them, it is reaped (the oldest first) and
// its pid returned, its status and a zero rusage copied out (EFAULT after
// the reaping, as in Linux); otherwise 0 with WNOHANG, else it sleeps
// until a child exits, interruptibly (ERESTARTSYS), as do_wait does. The
// model's children all exit with SIGCHLD, so __WCLONE alone matches none.
// Stopped and continued children are not modelled.
func hWait4(t *Task, a *[6]uintptr) (uintptr, errno) {
	pid, statusAddr, options, ruAddr := int32(a[0]), uint64(a[1]), uint32(a[2]), uint64(a[3])
	if options&^wait4Options != 0 {
		return 0, unix.EINVAL
	}
	p := t.proc
	sel := childSelector{pid: pid, cloneOnly: options&waitClone != 0 && options&waitAll == 0}
	for {
		child, status, e := p.reapChild(sel)
		if e != 0 {
			return 0, e
		}
		if child != nil {
			child.reaped()
			return t.copyWaitResult(child.pid, status, statusAddr, ruAddr)
		}
		if options&unix.WNOHANG != 0 {
			return 0, 0
		}
		w := Wait{Ready: func() bool { return p.childWaitReady(sel) }, Interrupted: unix.EINTR}
		if e := t.Block(childExits{p}, w); e != 0 {
			return 0, e
		}
	}
}

func (t *Task) copyWaitResult(pid int32, status uint32, statusAddr, ruAddr uint64) (uintptr, errno) {
	if statusAddr != 0 {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], status)
		if e := t.copyOut(statusAddr, b[:]); e != 0 {
			return 0, e
		}
	}
	if ruAddr != 0 {
		var ru [rusageSize]byte
		if e := t.copyOut(ruAddr, ru[:]); e != 0 {
			return 0, e
		}
	}
	return uintptr(pid), 0
}

// childSelector is which children a wait matches.
type childSelector struct {
	pid       int32
	cloneOnly bool
}

func (s childSelector) matches(c *Process) bool {
	if s.cloneOnly {
		return false
	}
	switch {
	case s.pid > 0:
		return c.pid == s.pid
	case s.pid < -1:
		return -s.pid == firstPid
	}
	return true
}

// reapChild reaps the oldest zombie child that sel matches and returns it
// with its status (the caller sends its reaped wakeups), or nil if
// children match but none has exited, or ECHILD if none matches.
func (p *Process) reapChild(sel childSelector) (*Process, uint32, errno) {
	pt := &p.k.procs
	pt.mu.Lock()
	defer pt.mu.Unlock()
	matched := false
	for _, c := range p.children {
		if !sel.matches(c) {
			continue
		}
		matched = true
		if procState(c.state.Load()) == procZombie {
			status := c.status
			c.reapLocked() // +checklocksignore: one Kernel (c.k is p.k).
			return c, status, 0
		}
	}
	if !matched {
		return nil, 0, unix.ECHILD
	}
	return nil, 0, 0
}

// childWaitReady reports whether a wait for sel can end: a matching child
// has exited, or none matches any more.
func (p *Process) childWaitReady(sel childSelector) bool {
	pt := &p.k.procs
	pt.mu.Lock()
	defer pt.mu.Unlock()
	matched := false
	for _, c := range p.children {
		if sel.matches(c) {
			if procState(c.state.Load()) == procZombie {
				return true
			}
			matched = true
		}
	}
	return !matched
}

// childExits is the Waitable of a wait4 sleep: the process's
// wait_chldexit queue, notified when a child exits.
type childExits struct{ p *Process }

func (c childExits) Readiness(waiter.EventMask) waiter.EventMask { return 0 }
func (c childExits) EventRegister(e *waiter.Entry)               { c.p.childQueue.Register(e) }
func (c childExits) EventUnregister(e *waiter.Entry)             { c.p.childQueue.Unregister(e) }
