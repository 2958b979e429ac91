package minikernel

import (
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/checkpoint"
	"github.com/guestpoll/guestpoll/hostfd"
	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/syscalls"
)

// The fds of the guest in TestCheckpointWholeKernel, in the order it
// makes them.
type ckptFDs struct {
	full, empty     uintptr // listeners: two queued connections; none (an accept blocks on it)
	clients         [2]uintptr
	sfd, host       uintptr
	et, lt, one, in uintptr // epoll instances (in is nested in et)
}

// TestCheckpointWholeKernel saves a kernel holding all three file types —
// a Listener with queued connections (named by the checkpoint type with
// SaveContext.Ref), a Signalfd with a pending signal, and a donated host
// TCP listener — watched edge-triggered, level-triggered, one-shot and
// through a nested instance, with a second task blocked in accept4 (ended
// by Stop: a restart), and restores it into a brand-new kernel. After the
// restore: the edges the guest harvested are not given again (both types
// restore their readiness exactly; the host listener is re-polled and not
// ready), level-triggered and one-shot state are as saved, the queued
// connections and the pending signal are there, the re-issued accept
// blocks again and takes a new connection, and another process's
// connection to the re-donated host listener is an edge and is accepted.
func TestCheckpointWholeKernel(t *testing.T) {
	for _, n := range notifiers {
		t.Run(n.String(), func(t *testing.T) { testCheckpoint(t, n) })
	}
}

func testCheckpoint(t *testing.T, n hostfd.Notifier) {
	k := newTestKernel(t, Options{Notifier: n})
	table := fd.NewTable()
	t.Cleanup(table.CloseAll)
	g, g2 := newGuest(t, k.Sys, table), newGuest(t, k.Sys, table)
	var x ckptFDs
	var l *Listener
	x.full, l = g.listen(8, unix.O_NONBLOCK)
	x.empty, _ = g.listen(8, 0)
	for i := range x.clients {
		c, err := l.Connect()
		if err != nil {
			t.Fatal(err)
		}
		fd, _ := table.Install(c, 0, false)
		x.clients[i] = uintptr(fd)
	}
	g.t.SetSignalMask(sigUSR1)
	x.sfd, _ = g.signalfd(^uintptr(0), sigUSR1, unix.SFD_NONBLOCK)
	g.t.Interrupt(int(unix.SIGUSR1))
	x.host, _ = hostListener(t, k, g)
	x.et, x.lt, x.one, x.in = g.epollCreate(), g.epollCreate(), g.epollCreate(), g.epollCreate()
	g.mustCtl(x.in, unix.EPOLL_CTL_ADD, x.full, epollIn|epollET, 100)
	for i, fd := range []uintptr{x.full, x.sfd, x.host, x.in} {
		g.mustCtl(x.et, unix.EPOLL_CTL_ADD, fd, epollIn|epollET, uint64(i))
	}
	g.mustCtl(x.lt, unix.EPOLL_CTL_ADD, x.full, epollIn, 10)
	g.mustCtl(x.one, unix.EPOLL_CTL_ADD, x.sfd, epollIn|epollOne, 20)
	// The guest harvests every edge; the one-shot fires.
	g.mustWait(x.et, 0, event{evIn, 0}, event{evIn, 1}, event{evIn, 3})
	g.mustWait(x.in, 0, event{evIn, 100})
	g.mustWait(x.one, 0, event{evIn, 20})

	// Task 2 blocks in accept4; Stop ends it with a restart.
	blocked := g2.start(SysAccept4, x.empty, 0, 0, 0)
	settle()
	g2.t.Stop()
	if r := <-blocked; r.e != syscalls.ErrRestart {
		t.Fatalf("stopped accept4: %d %v, want ErrRestart", r.r, r.e)
	}
	data, err := k.Checkpoint([]*syscalls.Task{g.t, g2.t})
	if err != nil {
		t.Fatal(err)
	}

	nk, r, err := k.Restore(data)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nk.Close() })
	t.Cleanup(func() {
		for _, tb := range r.Tables {
			tb.CloseAll()
		}
	})
	h, h2 := adopt(t, r.Tasks[0]), adopt(t, r.Tasks[1])
	checkRestored(t, h, h2, x, startPeer)
}

// checkRestored checks the restored guest of TestCheckpointWholeKernel.
func checkRestored(t *testing.T, h, h2 *guest, x ckptFDs, newPeer func(testing.TB, string) *peer) {
	// No edge again; level-triggered still ready; one-shot still disarmed.
	h.mustWait(x.et, 0)
	h.mustWait(x.in, 0)
	h.mustWait(x.lt, 0, event{evIn, 10})
	h.mustWait(x.one, 0)
	if h.t.PendingSignals() != sigUSR1 || h.t.SignalMask() != sigUSR1 {
		t.Errorf("restored task: pending %#x, mask %#x", h.t.PendingSignals(), h.t.SignalMask())
	}

	// The re-issued accept4 blocks; a connection on the restored listener
	// wakes it.
	blocked := h2.start(SysAccept4, x.empty, 0, 0, 0)
	settle()
	empty, err := h.t.FDTable().GetFile(int32(x.empty))
	if err != nil {
		t.Fatal(err)
	}
	connect(t, empty.Impl().(*Listener))
	empty.DecRef()
	if r := <-blocked; r.e != 0 {
		t.Fatalf("re-issued accept4: %v", r.e)
	}

	// The queued connections are connected to the restored clients.
	for i, c := range x.clients {
		afd, e := h.accept(x.full, 0)
		if e != 0 {
			t.Fatalf("accept4 of queued connection %d: %v", i, e)
		}
		h.put(readBuf, []byte{byte('0' + i)})
		h.must(syscalls.AMD64Write, c, readBuf, 1)
		if n := h.must(syscalls.AMD64Read, afd, readBuf+16, 8); n != 1 || h.get(readBuf+16, 1)[0] != byte('0'+i) {
			t.Errorf("connection %d: read %d %q", i, n, h.get(readBuf+16, 1))
		}
	}
	h.mustWait(x.lt, 0)

	// The signalfd reads the restored task's pending signal; a new one is
	// an edge.
	if n := h.must(syscalls.AMD64Read, x.sfd, readBuf, SiginfoSize); n != SiginfoSize || h.u32(readBuf) != uint32(unix.SIGUSR1) {
		t.Errorf("signalfd read %d, ssi_signo %d", n, h.u32(readBuf))
	}
	h.t.Interrupt(int(unix.SIGUSR1))
	h.mustWait(x.et, 0, event{evIn, 1})

	// The host listener is the donated socket: another process connects.
	hf, err := h.t.FDTable().GetFile(int32(x.host))
	if err != nil {
		t.Fatal(err)
	}
	var sa unix.Sockaddr
	hostfd.Do(hf, 0, func(fd int) (err error) { sa, err = unix.Getsockname(fd); return err })
	hf.DecRef()
	p := newPeer(t, "127.0.0.1:"+strconv.Itoa(sa.(*unix.SockaddrInet4).Port))
	p.dial('z')
	h.mustWait(x.et, 10000, event{evIn, 2})
	if _, e := h.accept(x.host, 0); e != 0 {
		t.Errorf("accept4 on the restored host listener: %v", e)
	}
}

// TestCheckpointAcceptedHostFD: an accepted host connection was not
// donated, so a checkpoint that holds one fails, naming why, rather than
// save a file no restore could give back.
func TestCheckpointAcceptedHostFD(t *testing.T) {
	k := newTestKernel(t, Options{})
	g := newGuest(t, k.Sys, nil)
	lfd, addr := hostListener(t, k, g)
	startPeer(t, addr).dial('a')
	if _, e := g.accept(lfd, 0); e != 0 {
		t.Fatal(e)
	}
	_, err := k.Checkpoint([]*syscalls.Task{g.t})
	if err == nil || !strings.Contains(err.Error(), "only host listeners can be checkpointed") {
		t.Errorf("Checkpoint: %v", err)
	}
}

// TestRestoreRejectsBadListenerState: a corrupt listener record is an
// error of Restore, not a panic, and leaves nothing behind.
func TestRestoreRejectsBadListenerState(t *testing.T) {
	k := newTestKernel(t, Options{})
	g := newGuest(t, k.Sys, nil)
	_, l := g.listen(1, 0)
	connect(t, l)
	im, err := checkpoint.SaveImage(k.Sys, []*syscalls.Task{g.t}, checkpoint.SaveOptions{Types: Types()})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{{}, {1, 2, 0}, {1, 1, 5}, {1, 1, 0, 0}} {
		im.Foreign[0].Data = bad
		if _, err := checkpoint.RestoreImage(im, checkpoint.RestoreOptions{Types: Types()}); err == nil {
			t.Errorf("restore of listener state %v succeeded", bad)
		}
	}
}
