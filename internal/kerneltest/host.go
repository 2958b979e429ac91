package kerneltest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// Host-side helpers for benchmarks that run the same operation on the model
// and on the real kernel (impl=host). Every fd they open is closed by the
// benchmark's cleanup.

// HostFDRoom reports whether n more fds fit under RLIMIT_NOFILE (the Go
// runtime has already raised the soft limit to the hard one). Host variants
// that need more skip, saying so.
func HostFDRoom(n int) (bool, uint64) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return false, 0
	}
	return uint64(n)+64 <= rl.Cur, rl.Cur
}

// HostEventfd returns a non-blocking host eventfd with counter initval.
func HostEventfd(tb testing.TB, initval uint) int {
	tb.Helper()
	fd, err := unix.Eventfd(initval, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		tb.Fatalf("eventfd: %v", err)
	}
	tb.Cleanup(func() { unix.Close(fd) })
	return fd
}

// HostEpoll returns a host epoll fd.
func HostEpoll(tb testing.TB) int {
	tb.Helper()
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		tb.Fatalf("epoll_create1: %v", err)
	}
	tb.Cleanup(func() { unix.Close(fd) })
	return fd
}

// HostCtl is epoll_ctl on the host; it fails the benchmark on error.
func HostCtl(tb testing.TB, epfd, op, fd int, events uint32, data uint64) {
	tb.Helper()
	ev := unix.EpollEvent{Events: events, Fd: int32(data), Pad: int32(data >> 32)}
	if err := unix.EpollCtl(epfd, op, fd, &ev); err != nil {
		tb.Fatalf("epoll_ctl(%d, %d, %d): %v", epfd, op, fd, err)
	}
}

// HostWait is a blocking epoll_wait that retries on EINTR (Go's runtime
// sends signals to its threads).
func HostWait(epfd int, evs []unix.EpollEvent, msec int) (int, error) {
	for {
		n, err := unix.EpollWait(epfd, evs, msec)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// HostEventfdWrite adds v to a host eventfd's counter.
func HostEventfdWrite(fd int, v uint64) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	_, err := unix.Write(fd, b[:])
	return err
}

// HostEventfdRead takes a host eventfd's counter.
func HostEventfdRead(fd int) (uint64, error) {
	var b [8]byte
	if _, err := unix.Read(fd, b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// HostSlabBytes returns the bytes of every allocated kernel slab object
// (the sum of active_objs * objsize in /proc/slabinfo, which needs root),
// or, without slabinfo, SUnreclaim from /proc/meminfo. Differences of it
// measure kernel memory per object (epoll items and their poll hooks live
// in slabs), with the noise of whatever else the machine does.
func HostSlabBytes() (int64, bool) {
	if data, err := os.ReadFile("/proc/slabinfo"); err == nil {
		var total int64
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			f := bytes.Fields(sc.Bytes())
			if len(f) < 4 || f[0][0] == '#' || bytes.HasPrefix(f[0], []byte("slabinfo")) {
				continue
			}
			active, err1 := strconv.ParseInt(string(f[1]), 10, 64)
			size, err2 := strconv.ParseInt(string(f[3]), 10, 64)
			if err1 == nil && err2 == nil {
				total += active * size
			}
		}
		return total, true
	}
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) >= 2 && string(f[0]) == "SUnreclaim:" {
			kb, err := strconv.ParseInt(string(f[1]), 10, 64)
			return kb * 1024, err == nil
		}
	}
	return 0, false
}

// BenchHostRoundTrip is the host side of the wakeup round trip benchmarks:
// two OS threads ping-pong through two eventfds, each watched
// level-triggered by its own epoll instance, with blocking epoll_waits.
func BenchHostRoundTrip(b *testing.B) {
	e1, e2 := HostEventfd(b, 0), HostEventfd(b, 0)
	ep1, ep2 := HostEpoll(b), HostEpoll(b)
	HostCtl(b, ep1, unix.EPOLL_CTL_ADD, e1, unix.EPOLLIN, 1)
	HostCtl(b, ep2, unix.EPOLL_CTL_ADD, e2, unix.EPOLLIN, 2)
	await := func(ep, fd int, evs []unix.EpollEvent) {
		for {
			if _, err := HostWait(ep, evs, -1); err != nil {
				panic(err)
			}
			if _, err := HostEventfdRead(fd); err == nil {
				return
			}
		}
	}
	var quit atomic.Bool
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer close(done)
		evs := make([]unix.EpollEvent, 8)
		for {
			await(ep1, e1, evs)
			if quit.Load() {
				return
			}
			if err := HostEventfdWrite(e2, 1); err != nil {
				panic(err)
			}
		}
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	evs := make([]unix.EpollEvent, 8)
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := HostEventfdWrite(e1, 1); err != nil {
			b.Fatal(err)
		}
		await(ep2, e2, evs)
	}
	quit.Store(true)
	if err := HostEventfdWrite(e1, 1); err != nil {
		b.Fatal(err)
	}
	<-done
}

// BenchChanPingPong is the floor of the wakeup round trip benchmarks: a
// bare ping-pong between two goroutines over unbuffered channels.
func BenchChanPingPong(b *testing.B) {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	defer close(ping)
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ping <- 1
		<-pong
	}
}

// BenchHostEventfdWriteRead is the host variant of the eventfd write+read
// benchmarks (model level and syscall level): one 8-byte write and one
// read on a host eventfd per iteration.
func BenchHostEventfdWriteRead(b *testing.B) {
	fd := HostEventfd(b, 0)
	b.ReportAllocs()
	for b.Loop() {
		if err := HostEventfdWrite(fd, 1); err != nil {
			b.Fatal(err)
		}
		if _, err := HostEventfdRead(fd); err != nil {
			b.Fatal(err)
		}
	}
}
