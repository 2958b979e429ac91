package syscalls

import (
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// FuzzSyscall issues random syscalls with random arguments against a small
// address space with holes. Every call must return (blocking ones are
// interrupted by a watchdog signal), nothing may panic, and no goroutine may
// be left behind.
func FuzzSyscall(f *testing.F) {
	f.Add(uint8(0), []byte{0x14, 1, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0})
	f.Add(uint8(1), []byte{20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(uint8(0), []byte("\xe9\x00\x00\x00\x00\x00\x00\x00\x00\x01"))
	f.Add(uint8(0), []byte("\xe8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Add(uint8(1), []byte("\x16\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"))
	f.Add(uint8(0), []byte("\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x05"))
	f.Fuzz(fuzzBody)
}

func fuzzBody(t *testing.T, archSel uint8, prog []byte) {
	{
		base := runtime.NumGoroutine()
		arch := Arch(archSel & 1)
		x := newTT(t, arch)
		x.mem.Map(hole+PageSize, PageSize) // a page just past a hole
		// Seed the fd table with one of each type and memory with junk.
		x.epoll()
		x.eventfd(1, 0)
		x.pipe()
		x.put(memBase, prog)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { // watchdog: interrupt anything that blocks
			defer close(done)
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					x.t.Interrupt(int(unix.SIGKILL))
				}
			}
		}()
		for len(prog) >= 2 {
			nr := uintptr(prog[0]) | uintptr(prog[1]&1)<<8
			prog = prog[2:]
			var a [6]uintptr
			for i := range a {
				if len(prog) == 0 {
					break
				}
				// Each argument is a selector byte and maybe a value.
				sel := prog[0]
				prog = prog[1:]
				switch sel & 7 {
				case 0:
					a[i] = uintptr(sel >> 3)
				case 1:
					a[i] = memBase + uintptr(sel>>3)*64
				case 2:
					a[i] = hole + uintptr(sel>>3)
				case 3:
					a[i] = memEnd - uintptr(sel>>3)
				case 4:
					a[i] = ^uintptr(sel >> 3)
				default:
					if len(prog) >= 8 {
						a[i] = uintptr(binary.LittleEndian.Uint64(prog))
						prog = prog[8:]
					}
				}
			}
			// Keep timeouts short: a blocking call is interrupted anyway.
			x.t.Syscall(nr, a)
		}
		close(stop)
		<-done
		x.t.fds.CloseAll()
		for i := 0; runtime.NumGoroutine() > base && i < 100; i++ {
			time.Sleep(time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > base {
			t.Errorf("goroutines %d > %d", n, base)
		}
	}
}

func BenchmarkEpollWaitOneReady(b *testing.B) {
	x := newTT(b, AMD64)
	ep := x.epoll()
	efd := x.eventfd(1, 0)
	x.ctl(ep, 1, efd, unix.EPOLLIN, 1)
	nr := nrOf(b, AMD64, sysEpollWait)
	a := [6]uintptr{ep, memBase + 0x1000, 8, 0}
	b.ReportAllocs()
	for b.Loop() {
		if n, e := x.t.Syscall(nr, a); n != 1 || e != 0 {
			b.Fatal(n, e)
		}
	}
}

func BenchmarkEpollCtlMod(b *testing.B) {
	x := newTT(b, AMD64)
	ep := x.epoll()
	efd := x.eventfd(0, 0)
	x.ctl(ep, 1, efd, unix.EPOLLIN, 1)
	x.putEvent(memBase+0x900, unix.EPOLLIN|unix.EPOLLOUT, 2)
	nr := nrOf(b, AMD64, sysEpollCtl)
	a := [6]uintptr{ep, 3, efd, memBase + 0x900}
	b.ReportAllocs()
	for b.Loop() {
		if _, e := x.t.Syscall(nr, a); e != 0 {
			b.Fatal(e)
		}
	}
}

func TestSyscallAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts need a non-race build")
	}
	x := newTT(t, AMD64)
	ep := x.epoll()
	efd := x.eventfd(1, 0)
	x.ctl(ep, 1, efd, unix.EPOLLIN, 1)
	x.putEvent(memBase+0x900, unix.EPOLLIN|unix.EPOLLOUT, 2)
	wait := [6]uintptr{ep, memBase + 0x1000, 8, 0}
	mod := [6]uintptr{ep, 3, efd, memBase + 0x900}
	if n := testing.AllocsPerRun(100, func() {
		x.t.Syscall(AMD64EpollWait, wait)
		x.t.Syscall(AMD64EpollCtl, mod)
	}); n != 0 {
		t.Errorf("allocs per wait+mod: %v", n)
	}
}
