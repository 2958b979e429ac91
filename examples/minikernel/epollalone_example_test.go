package minikernel_test

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// The second integration level (docs/embedding.md): a kernel with its own
// open-file type, fd tables and syscall layer uses kernel/epoll alone.
// Each of its open file descriptions carries a shadow fs.File whose
// Pollable asks the kernel's file.

// description is the kernel's own open file description: a message queue.
type description struct {
	mu sync.Mutex
	// +checklocks:mu
	queued int
	q      waiter.Queue // the kernel notifies it on every state change
	shadow *fs.File     // one per description, for epoll; one reference
}

func newDescription() *description {
	d := &description{}
	d.shadow = fs.New(shadow{d}, unix.O_RDWR)
	return d
}

// post queues a message and wakes the queue with IN, after unlocking.
func (d *description) post() {
	d.mu.Lock()
	d.queued++
	d.mu.Unlock()
	d.q.Notify(waiter.EventIn | waiter.EventRdNorm)
}

// release is the kernel's final release of the description (its last fd
// anywhere closed): the shadow's last reference goes, which removes every
// epoll registration of it.
func (d *description) release() { d.shadow.DecRef() }

// shadow is the fs.Impl of the shadow file: readiness and queue hooks
// from the kernel's description; reads and writes go through the kernel's
// own syscall layer, never here.
type shadow struct{ d *description }

func (s shadow) Read(*fs.File, []byte) (int, error)  { return 0, unix.EINVAL }
func (s shadow) Write(*fs.File, []byte) (int, error) { return 0, unix.EINVAL }
func (s shadow) Release(*fs.File)                    {}

func (s shadow) Readiness(*fs.File, waiter.EventMask) waiter.EventMask {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	if s.d.queued > 0 {
		return waiter.EventIn | waiter.EventRdNorm
	}
	return 0
}

func (s shadow) EventRegister(_ *fs.File, e *waiter.Entry)   { s.d.q.Register(e) }
func (s shadow) EventUnregister(_ *fs.File, e *waiter.Entry) { s.d.q.Unregister(e) }

// kthread is the kernel's thread as epoll.Wait needs it (epoll.Blocker).
type kthread struct {
	sleeper *waiter.Sleeper
	entry   waiter.Entry
	// settled, if set, is closed when the wakeup that woke the thread is
	// complete. A woken thread may harvest between two callbacks of one
	// notify (a Linux thread may between two ep_poll_callbacks) and see
	// only the first event; Example_epollAlone waits for it to print a
	// stable output.
	settled chan struct{}
}

func newKthread() *kthread {
	t := &kthread{sleeper: waiter.NewSleeper()}
	t.entry.Init(t.sleeper, true, true) // exclusive, auto-removing
	return t
}

func (t *kthread) WaitEntry() *waiter.Entry { return &t.entry }
func (t *kthread) SignalPending() bool      { return false } // this kernel has no signals

func (t *kthread) Sleep(deadline time.Time) bool {
	if deadline.IsZero() {
		<-t.sleeper.C()
		if t.settled != nil {
			<-t.settled
		}
		return false
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-t.sleeper.C():
		return false
	case <-timer.C:
		return true
	}
}

// Example_epollAlone: a description behind fds 5 and 6 (a dup) is two
// registrations; a thread blocks in EventPoll.Wait until another posts
// (the newest hook is woken first, so fd 6's event comes first, as in
// Linux: docs/semantics.md#callback);
// closing one fd changes nothing, and the final release removes both.
func Example_epollAlone() {
	domain := epoll.NewDomain() // one per kernel
	epFile := epoll.NewFile(domain)
	defer epFile.DecRef()
	ep, _ := epoll.FromFile(epFile)

	d := newDescription()
	ep.Add(epoll.FileIdentifier{File: d.shadow, Fd: 5}, waiter.EventIn|waiter.EventET, 5)
	ep.Add(epoll.FileIdentifier{File: d.shadow, Fd: 6}, waiter.EventIn, 6)

	t := newKthread()
	t.settled = make(chan struct{})
	go func() {
		time.Sleep(10 * time.Millisecond)
		d.post() // wakes both registrations, fd 6's first
		close(t.settled)
	}()
	buf := make([]epoll.Event, 8)
	n, err := ep.Wait(t, buf, len(buf), nil, time.Time{}, false)
	fmt.Println("wait:", n, err, buf[:n])

	// close(5) while fd 6 lives: the kernel keeps the description, and
	// epoll its registrations (Linux's rule).
	fmt.Println("registrations after close(5):", ep.Len())
	d.release() // close(6), the last fd
	fmt.Println("after the final release:", ep.Len())
	// Output:
	// wait: 2 <nil> [{IN 6} {IN 5}]
	// registrations after close(5): 2
	// after the final release: 0
}
