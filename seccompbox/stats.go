//go:build linux && amd64

package seccompbox

import (
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Indexes of Box.stats: one per trapped call, then counters.
const (
	statCreate = iota
	statCreate1
	statCtl
	statWait
	statPwait
	statPwait2
	statPoll
	statSigreturn
	statWaitInline  // the waits of every kind the receiver served itself, without a hand-off to a worker (Stats derives it)
	statWaitWorker  // the waits of every kind handed to a worker (which may sleep)
	statSigmask     // blocking pwaits with a signal mask (not emulated)
	statCancelled   // waits the guest was interrupted out of
	statRolledBack  // waits whose events were copied out but whose answer failed: the events were put back
	statSettled     // interrupted calls given Linux's answer in their signal frame (sigreturn.go)
	statMended      // answers the kernel dropped after NOTIF_SEND took them, written into the signal frame
	statCompared    // comparisons of a guest epoll file with an instance's placeholder (identify)
	statFrameWaited // rt_sigreturns whose thread was still runnable when the box read its frame (frameSP waited)
	statFrameUnread // rt_sigreturns whose frame the box wanted but could not read (frameSP)
	statN
)

var statNames = [statN]string{"epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
	"epoll_pwait", "epoll_pwait2", "poll/select (synced)", "rt_sigreturn", "waits served inline", "waits handed to a worker",
	"blocking pwait with sigmask",
	"waits interrupted", "harvests put back (answer failed)", "interrupted calls settled at sigreturn",
	"dropped answers mended at sigreturn", "instance identity comparisons",
	"signal frames read after waiting for the thread to sleep", "signal frames that could not be read"}

type stat struct {
	count atomic.Int64
	nanos atomic.Int64
	max   atomic.Int64
}

func statIndex(nr int32) int {
	switch nr {
	case unix.SYS_EPOLL_CREATE:
		return statCreate
	case unix.SYS_EPOLL_CREATE1:
		return statCreate1
	case unix.SYS_EPOLL_CTL:
		return statCtl
	case unix.SYS_EPOLL_WAIT:
		return statWait
	case unix.SYS_EPOLL_PWAIT:
		return statPwait
	case unix.SYS_EPOLL_PWAIT2:
		return statPwait2
	case unix.SYS_RT_SIGRETURN:
		return statSigreturn
	}
	return statPoll
}

func (b *Box) account(nr int32, start time.Time) {
	b.accountAt(statIndex(nr), int64(time.Since(start)))
}

// accountAt adds a service time of d nanoseconds to stat i.
func (b *Box) accountAt(i int, d int64) {
	s := &b.stats[i]
	s.count.Add(1)
	s.nanos.Add(d)
	for {
		m := s.max.Load()
		if d <= m || s.max.CompareAndSwap(m, d) {
			break
		}
	}
}

// Stat is one line of Stats.
type Stat struct {
	Name  string
	Count int64
	// Mean is the mean service time, from the notification's arrival to
	// the answer (for a blocking wait, the time it blocked included); zero
	// for plain counters.
	Mean time.Duration
	// Max is the longest service time (zero when not kept).
	Max time.Duration
}

// Stats returns the count and mean service time of each trapped call, and
// the box's counters.
func (b *Box) Stats() []Stat {
	out := make([]Stat, 0, statN)
	for i := 0; i < statN; i++ {
		s := Stat{Name: statNames[i], Count: b.stats[i].count.Load()}
		nanos := b.stats[i].nanos.Load()
		if i == statWaitInline {
			// The waits not handed to a worker: every wait's count and
			// time less the workers', so that the receiver's fast path
			// pays for no second account. Their longest time is not
			// kept.
			s.Count, nanos = 0, 0
			for _, j := range []int{statWait, statPwait, statPwait2, statWaitWorker} {
				sign := int64(1)
				if j == statWaitWorker {
					sign = -1
				}
				s.Count += sign * b.stats[j].count.Load()
				nanos += sign * b.stats[j].nanos.Load()
			}
		}
		if s.Count > 0 && i < statSigmask {
			s.Mean = time.Duration(nanos / s.Count)
			s.Max = time.Duration(b.stats[i].max.Load())
		}
		out = append(out, s)
	}
	return out
}
