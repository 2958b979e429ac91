package peers

import (
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/waiter"
	"github.com/guestpoll/guestpoll/syscalls"
)

// TestHarvestSetsAgree: the four implementations' harvest setups (3
// eventfds, the one at index 1 ready) each report exactly that eventfd,
// with its data, so the harvest benchmarks measure the same work.
func TestHarvestSetsAgree(t *testing.T) {
	const n, ready = 3, 1
	epfd, _ := kerneltest.HostSet(t, n, ready, unix.EPOLLIN)
	hevs := make([]unix.EpollEvent, 64)
	if k, err := unix.EpollWait(epfd, hevs, 0); k != 1 || hevs[0].Fd != ready {
		t.Errorf("host: %d events (%v), first %+v", k, err, hevs[0])
	}
	gep, _ := newGvisorSet(t, newGvisorEnv(t), n, ready, linux.EPOLLIN)
	if got := gep.ReadEvents(nil, 64); len(got) != 1 || got[0].Data[0] != ready || got[0].Events != linux.EPOLLIN {
		t.Errorf("gvisor: %+v", got)
	}
	mep, _ := kerneltest.ModelSet(t, epoll.NewDomain(), n, ready, waiter.EventIn)
	buf := make([]epoll.Event, 64)
	if k, err := mep.ReadEvents(buf, len(buf), nil); k != 1 || buf[0].Data != ready {
		t.Errorf("model: %d events (%v), first %+v", k, err, buf[0])
	}
	x, sep, _ := newSyscallSet(t, n, ready, unix.EPOLLIN)
	k, e := x.t.Syscall(syscalls.AMD64EpollWait, [6]uintptr{sep, waitOut, 64, 0})
	out := make([]byte, 12)
	if err := x.mem.CopyIn(waitOut, out); err != nil {
		t.Fatal(err)
	}
	if k != 1 || e != 0 || binary.LittleEndian.Uint32(out) != unix.EPOLLIN || binary.LittleEndian.Uint64(out[4:]) != ready {
		t.Errorf("syscall: %d events (%v), first %x", k, e, out)
	}
}

// TestRoundTripsComplete: each blocking round trip answers, many times
// over, and stops.
func TestRoundTripsComplete(t *testing.T) {
	for name, setup := range map[string]func(testing.TB) (func(), func()){
		"gvisor": gvisorRoundTrip, "model": modelRoundTrip, "syscall": syscallRoundTrip,
	} {
		roundTrip, stop := setup(t)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; i < 1000; i++ {
				roundTrip()
			}
			stop()
		}()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Fatalf("%s: 1000 round trips did not finish in a minute", name)
		}
	}
}
