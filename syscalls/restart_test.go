package syscalls

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestBuiltinRestartWithSARestart: a signal whose handler has SA_RESTART
// restarts an interrupted blocking read (ERESTARTSYS) but neither poll,
// ppoll nor the epoll waits, which signal(7) lists as never restarted; a
// handler without SA_RESTART makes all of them EINTR.
func TestBuiltinRestartWithSARestart(t *testing.T) {
	for _, sa := range []bool{false, true} {
		x := newTT(t, AMD64)
		r, _ := x.pipe()
		ep := x.epoll()
		pfd := uint64(memBase + 0x300)
		x.putU32(pfd, uint32(r), unix.POLLIN)
		ts := uint64(memBase + 0x340)
		x.putU64(ts, 3600, 0)
		if sa {
			x.t.SetRestartSignals(1 << (unix.SIGUSR1 - 1))
		}
		for _, c := range []struct {
			name string
			id   sysID
			args []uintptr
			want unix.Errno // with SA_RESTART
		}{
			{"read", sysRead, []uintptr{r, memBase + 0x1000, 8}, ErrRestart},
			{"readv", sysReadv, []uintptr{r, memBase + 0x400, 0}, ErrRestart},
			{"poll", sysPoll, []uintptr{uintptr(pfd), 1, neg(-1)}, unix.EINTR},
			{"ppoll", sysPpoll, []uintptr{uintptr(pfd), 1, uintptr(ts)}, unix.EINTR},
			{"epoll_wait", sysEpollWait, []uintptr{ep, memBase + 0x1000, 4, neg(-1)}, unix.EINTR},
		} {
			if c.id == sysReadv {
				x.putU64(memBase+0x400, memBase+0x1000, 8)
				c.args[2] = 1
			}
			go func() {
				time.Sleep(20 * time.Millisecond)
				x.t.Interrupt(int(unix.SIGUSR1))
			}()
			_, e := x.call(c.id, c.args...)
			want := c.want
			if !sa {
				want = unix.EINTR
			}
			if e != want || x.t.SignalsDelivered() != 1<<(unix.SIGUSR1-1) {
				t.Errorf("SA_RESTART %v: %s = %s, want %s (delivered %#x)", sa, c.name, sx(e), sx(want), x.t.SignalsDelivered())
			}
		}
	}
}
