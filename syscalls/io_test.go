package syscalls

import (
	"encoding/binary"
	"math"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestPipeReadWriteBlocking(t *testing.T) {
	x := newTT(t, AMD64)
	r, w := x.pipe()
	other := x.sibling()
	src := uint64(memBase + 0x4000)
	x.put(src, []byte("hello"))
	go func() {
		time.Sleep(20 * time.Millisecond)
		other.Syscall(AMD64Write, [6]uintptr{w, uintptr(src), 5})
	}()
	dst := uint64(memBase + 0x5000)
	n := x.must(sysRead, r, uintptr(dst), 100)
	if got := string(x.get(dst, int(n))); got != "hello" {
		t.Errorf("read %q", got)
	}
	// Interrupt a blocked read.
	go func() {
		time.Sleep(10 * time.Millisecond)
		x.t.Interrupt(int(unix.SIGALRM))
	}()
	if _, e := x.call(sysRead, r, uintptr(dst), 100); e != unix.EINTR {
		t.Errorf("interrupted read = %s", sx(e))
	}
	// Non-blocking: EAGAIN.
	x.must(sysFcntl, r, unix.F_SETFL, unix.O_NONBLOCK)
	if _, e := x.call(sysRead, r, uintptr(dst), 100); e != unix.EAGAIN {
		t.Errorf("nonblocking read = %s", sx(e))
	}
	if got := x.must(sysFcntl, r, unix.F_GETFL); got != unix.O_NONBLOCK {
		t.Errorf("F_GETFL %#o", got)
	}
	// Write to the read end: EBADF; buffer outside user space: EFAULT.
	if _, e := x.call(sysWrite, r, uintptr(src), 1); e != unix.EBADF {
		t.Errorf("write to read end = %s", sx(e))
	}
	if _, e := x.call(sysWrite, w, neg(-4096), 1); e != unix.EFAULT {
		t.Errorf("write bad buf = %s", sx(e))
	}
	// Close the read end: EPIPE.
	x.must(sysClose, r)
	if _, e := x.call(sysWrite, w, uintptr(src), 1); e != unix.EPIPE {
		t.Errorf("write no readers = %s", sx(e))
	}
	// A big blocking write is drained by a reader.
	r2, w2 := x.pipe()
	const big = 300 << 10
	bigBuf := uint64(0x1000000)
	x.mem.Map(bigBuf, big)
	done := make(chan uintptr)
	go func() {
		n, _ := other.Syscall(AMD64Write, [6]uintptr{w2, uintptr(bigBuf), big})
		done <- n
	}()
	total := uintptr(0)
	for total < big {
		total += x.must(sysRead, r2, uintptr(dst), 4096)
	}
	if n := <-done; n != big || total != big {
		t.Errorf("big write %d read %d", n, total)
	}
}

func TestReadvWritev(t *testing.T) {
	x := newTT(t, ARM64)
	r, w := x.pipe()
	iov := uint64(memBase + 0x100)
	x.put(memBase+0x4000, []byte("abc"))
	x.put(memBase+0x4100, []byte("defg"))
	x.putU64(iov, memBase+0x4000, 3, memBase+0x4100, 4)
	if n := x.must(sysWritev, w, uintptr(iov), 2); n != 7 {
		t.Fatalf("writev %d", n)
	}
	x.putU64(iov, memBase+0x5000, 2, memBase+0x5100, 10)
	if n := x.must(sysReadv, r, uintptr(iov), 2); n != 7 {
		t.Fatalf("readv %d", n)
	}
	if a, b := string(x.get(memBase+0x5000, 2)), string(x.get(memBase+0x5100, 5)); a != "ab" || b != "cdefg" {
		t.Errorf("readv %q %q", a, b)
	}
	if _, e := x.call(sysReadv, r, uintptr(iov), 1025); e != unix.EINVAL {
		t.Errorf("iovcnt 1025 = %s", sx(e))
	}
	if _, e := x.call(sysReadv, r, hole, 1); e != unix.EFAULT {
		t.Errorf("iov fault = %s", sx(e))
	}
}

func TestPoll(t *testing.T) {
	x := newTT(t, AMD64)
	r, w := x.pipe()
	efd := x.eventfd(0, 0)
	fds := uint64(memBase + 0x300)
	put := func(i int, fd int32, events uint16) {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(fd))
		binary.LittleEndian.PutUint16(b[4:], events)
		binary.LittleEndian.PutUint16(b[6:], 0xffff)
		x.put(fds+uint64(8*i), b)
	}
	rev := func(i int) uint16 { return binary.LittleEndian.Uint16(x.get(fds+uint64(8*i)+6, 2)) }
	put(0, int32(r), unix.POLLIN)
	put(1, int32(w), unix.POLLOUT)
	put(2, 77, unix.POLLIN)
	put(3, -1, unix.POLLIN)
	put(4, int32(efd), unix.POLLIN)
	if n := x.must(sysPoll, uintptr(fds), 5, 0); n != 2 {
		t.Errorf("poll = %d", n)
	}
	if rev(0) != 0 || rev(1) != unix.POLLOUT|0x100 && rev(1) != unix.POLLOUT || rev(2) != unix.POLLNVAL || rev(3) != 0 || rev(4) != 0 {
		t.Errorf("revents %x %x %x %x %x", rev(0), rev(1), rev(2), rev(3), rev(4))
	}
	// Block on the eventfd until another task writes.
	put(0, int32(efd), unix.POLLIN)
	other := x.sibling()
	go func() {
		time.Sleep(20 * time.Millisecond)
		x.mem.CopyOut(memBase+0x4000, []byte{5, 0, 0, 0, 0, 0, 0, 0})
		other.Syscall(AMD64Write, [6]uintptr{efd, memBase + 0x4000, 8})
	}()
	if n := x.must(sysPoll, uintptr(fds), 1, neg(-1)); n != 1 || rev(0) != unix.POLLIN {
		t.Errorf("blocking poll = %d %x", n, rev(0))
	}
	// ppoll: EINTR.
	x.must(sysRead, efd, memBase+0x4000, 8)
	go func() {
		time.Sleep(10 * time.Millisecond)
		x.t.Interrupt(int(unix.SIGINT))
	}()
	if _, e := x.call(sysPpoll, uintptr(fds), 1, 0, 0, 0); e != unix.EINTR {
		t.Errorf("ppoll EINTR = %s", sx(e))
	}
	if _, e := x.call(sysPoll, hole, 1, 0); e != unix.EFAULT {
		t.Errorf("poll fault = %s", sx(e))
	}
	if _, e := x.call(sysPoll, uintptr(fds), 1<<30, 0); e != unix.EINVAL {
		t.Errorf("poll nfds = %s", sx(e))
	}
}

func TestFDSyscalls(t *testing.T) {
	x := newTT(t, AMD64)
	efd := x.eventfd(0, 0)
	if n := x.must(sysDup2, efd, 10); n != 10 {
		t.Errorf("dup2 %d", n)
	}
	if _, e := x.call(sysDup3, 10, 10, 0); e != unix.EINVAL {
		t.Errorf("dup3 same %s", sx(e))
	}
	if n := x.must(sysDup3, efd, 11, unix.O_CLOEXEC); n != 11 || x.must(sysFcntl, 11, unix.F_GETFD) != 1 {
		t.Errorf("dup3")
	}
	if n := x.must(sysFcntl, efd, unix.F_DUPFD_CLOEXEC, 20); n != 20 {
		t.Errorf("F_DUPFD_CLOEXEC %d", n)
	}
	if _, e := x.call(sysFcntl, efd, unix.F_DUPFD, 5000); e != unix.EINVAL {
		t.Errorf("F_DUPFD beyond limit %s", sx(e))
	}
	if _, e := x.call(sysFcntl, efd, 12345); e != unix.EINVAL {
		t.Errorf("bad cmd %s", sx(e))
	}
	x.must(sysCloseRange, 10, 11, 0)
	if _, e := x.call(sysClose, 10); e != unix.EBADF {
		t.Errorf("close closed %s", sx(e))
	}
	if _, e := x.call(sysCloseRange, 5, 4, 0); e != unix.EINVAL {
		t.Errorf("close_range first>last %s", sx(e))
	}
	// RLIMIT_NOFILE.
	rl := uint64(memBase + 0x700)
	x.must(sysGetrlimit, unix.RLIMIT_NOFILE, uintptr(rl))
	if b := x.get(rl, 16); binary.LittleEndian.Uint64(b) != 1024 {
		t.Errorf("getrlimit % x", b)
	}
	x.putU64(rl, 5, 1<<20)
	x.must(sysSetrlimit, unix.RLIMIT_NOFILE, uintptr(rl))
	for i := 0; ; i++ {
		_, e := x.call(sysEventfd2, 0, 0)
		if e == unix.EMFILE {
			break
		}
		if i > 10 {
			t.Fatal("limit not enforced")
		}
	}
	x.putU64(rl, 10, 5)
	if _, e := x.call(sysPrlimit64, 0, unix.RLIMIT_NOFILE, uintptr(rl), 0); e != unix.EINVAL {
		t.Errorf("prlimit soft>hard %s", sx(e))
	}
	if _, e := x.call(sysPrlimit64, 0, 99, 0, uintptr(rl)); e != unix.EINVAL {
		t.Errorf("prlimit resource %s", sx(e))
	}
	if _, e := x.call(sysGetrlimit, unix.RLIMIT_NOFILE, hole); e != unix.EFAULT {
		t.Errorf("getrlimit fault %s", sx(e))
	}
	// clock_gettime.
	x.must(sysClockGettime, unix.CLOCK_MONOTONIC, memBase+0x700)
	if _, e := x.call(sysClockGettime, 99, memBase+0x700); e != unix.EINVAL {
		t.Errorf("clock 99 %s", sx(e))
	}
}

func TestFileCreators(t *testing.T) {
	x := newTT(t, AMD64)
	if _, e := x.call(sysSocket, unix.AF_INET, unix.SOCK_STREAM, 0); e != unix.EAFNOSUPPORT {
		t.Errorf("AF_INET %s", sx(e))
	}
	sv := uint64(memBase + 0x800)
	x.must(sysSocketpair, unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0, uintptr(sv))
	b := x.get(sv, 8)
	a := uintptr(binary.LittleEndian.Uint32(b))
	x.must(sysShutdown, a, unix.SHUT_WR)
	efd := x.eventfd(0, 0)
	if _, e := x.call(sysShutdown, efd, unix.SHUT_WR); e != unix.ENOTSOCK {
		t.Errorf("shutdown eventfd %s", sx(e))
	}
	if _, e := x.call(sysPipe2, hole, 0); e != unix.EFAULT {
		t.Errorf("pipe2 fault %s", sx(e))
	}
	if _, e := x.call(sysPipe2, uintptr(sv), 1); e != unix.EINVAL {
		t.Errorf("pipe2 flags %s", sx(e))
	}
	if _, e := x.call(sysEventfd2, 0, 0x10); e != unix.EINVAL {
		t.Errorf("eventfd2 flags %s", sx(e))
	}
	// timerfd.
	tfd := x.must(sysTimerfdCreate, unix.CLOCK_MONOTONIC, 0)
	its := uint64(memBase + 0x900)
	x.putU64(its, 0, 0, 0, 10e6)
	x.must(sysTimerfdSettime, tfd, 0, uintptr(its), 0)
	x.must(sysTimerfdGettime, tfd, uintptr(its))
	if n := x.must(sysRead, tfd, memBase+0x4000, 8); n != 8 {
		t.Errorf("timerfd read %d", n)
	}
	x.putU64(its, 0, 0, 0, 1e9)
	if _, e := x.call(sysTimerfdSettime, tfd, 0, uintptr(its), 0); e != unix.EINVAL {
		t.Errorf("settime nsec %s", sx(e))
	}
	if _, e := x.call(sysTimerfdGettime, efd, uintptr(its)); e != unix.EINVAL {
		t.Errorf("gettime eventfd %s", sx(e))
	}
	// memfd_create: not pollable, so epoll_ctl is EPERM.
	x.put(memBase+0xa00, []byte("name\x00"))
	m := x.must(sysMemfdCreate, memBase+0xa00, 1)
	ep := x.epoll()
	if e := x.ctl(ep, 1, m, unix.EPOLLIN, 0); e != unix.EPERM {
		t.Errorf("epoll_ctl memfd %s", sx(e))
	}
	if _, e := x.call(sysMemfdCreate, hole, 0); e != unix.EFAULT {
		t.Errorf("memfd name fault %s", sx(e))
	}
}

func TestArm64HasNoLegacyCalls(t *testing.T) {
	x := newTT(t, ARM64)
	for _, nr := range []uintptr{AMD64EpollWait, AMD64EpollCreate, 1000, 500} {
		if arm64Table[nr%maxSysNr] != sysNone && nr < maxSysNr {
			continue // a different arm64 call has this number
		}
		if _, e := x.t.Syscall(nr, [6]uintptr{}); e != unix.ENOSYS {
			t.Errorf("arm64 nr %d = %s", nr, sx(e))
		}
	}
	for _, id := range []sysID{sysEpollWait, sysEpollCreate, sysPipe, sysDup2, sysPoll, sysEventfd} {
		for _, x := range arm64Table {
			if x == id {
				t.Errorf("arm64 serves %d", id)
			}
		}
	}
}

func TestEventfdBlockingWrite(t *testing.T) {
	x := newTT(t, AMD64)
	efd := x.eventfd(0, 0)
	x.writeU64(efd, 0xfffffffffffffff0) // room for 0xe more
	other := x.sibling()
	go func() {
		time.Sleep(20 * time.Millisecond)
		other.Syscall(AMD64Read, [6]uintptr{efd, memBase + 0x4800, 8})
	}()
	start := time.Now()
	x.writeU64(efd, 0x20) // blocks: OUT is set, but there is no room for 0x20
	if time.Since(start) < 20*time.Millisecond {
		t.Errorf("write did not block")
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		x.t.Interrupt(int(unix.SIGTERM))
	}()
	x.putU64(memBase+0xa00, 0xfffffffffffffffe)
	if _, e := x.call(sysWrite, efd, memBase+0xa00, 8); e != unix.EINTR {
		t.Errorf("interrupted eventfd write = %s", sx(e))
	}
}

// TestPpollWritesBackTimeLeft: ppoll writes the time left to the caller's
// timespec whatever its result, except for a {0, 0} timeout, and saturates
// a huge one as the host kernel does: each case runs on the host and on
// the model, and the timespecs written must agree to within the time the
// two calls take.
func TestPpollWritesBackTimeLeft(t *testing.T) {
	const tolerance = 200 * time.Millisecond
	for _, c := range []struct {
		name      string
		sec, nsec int64
		ready     bool
	}{
		{"timed out", 0, 300e6, false},
		{"ready", 2, 0, true},
		{"ready, huge timeout", math.MaxInt64, 999999999, true},
		{"ready, zero timeout", 0, 0, true},
		{"interrupted", 1, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The host.
			var p [2]int
			if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
				t.Fatal(err)
			}
			defer unix.Close(p[0])
			defer unix.Close(p[1])
			if c.ready {
				unix.Write(p[1], []byte{1})
			}
			pfd := []unix.PollFd{{Fd: int32(p[0]), Events: unix.POLLIN}}
			hts := unix.Timespec{Sec: c.sec, Nsec: c.nsec}
			if c.name == "interrupted" {
				hts = unix.Timespec{Sec: 0, Nsec: 1e6} // the host call times out instead
			}
			if _, _, e := unix.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd[0])), 1,
				uintptr(unsafe.Pointer(&hts)), 0, 8, 0); e != 0 {
				t.Fatal(e)
			}
			// The model.
			x := newTT(t, AMD64)
			r, w := x.pipe()
			if c.ready {
				x.put(memBase+0x4000, []byte{1})
				x.must(sysWrite, w, memBase+0x4000, 1)
			}
			fds := uint64(memBase + 0x2000)
			x.putU32(fds, uint32(r), unix.POLLIN)
			tsp := uint64(memBase + 0x3000)
			x.putU64(tsp, uint64(c.sec), uint64(c.nsec))
			want := unix.Errno(0)
			if c.name == "interrupted" {
				want = unix.EINTR
				go func() {
					time.Sleep(300 * time.Millisecond)
					x.t.Interrupt(int(unix.SIGINT))
				}()
			}
			if _, e := x.call(sysPpoll, uintptr(fds), 1, uintptr(tsp), 0, 8); e != want {
				t.Fatalf("ppoll: %s, want %s", sx(e), sx(want))
			}
			b := x.get(tsp, 16)
			got := unix.Timespec{Sec: int64(binary.LittleEndian.Uint64(b)), Nsec: int64(binary.LittleEndian.Uint64(b[8:]))}
			if c.name == "interrupted" {
				// About 700 ms left of 1 s, where the host's timed-out
				// call wrote 0.
				hts = unix.Timespec{Sec: 0, Nsec: 700e6}
			}
			if (c.sec != 0 || c.nsec != 0) && (got.Sec > c.sec || got.Sec == c.sec && got.Nsec >= c.nsec) {
				t.Errorf("time left %d.%09d: the timespec was not written back", got.Sec, got.Nsec)
			}
			dsec, dnsec := got.Sec-hts.Sec, got.Nsec-hts.Nsec
			if dsec < -1 || dsec > 1 || time.Duration(dsec)*time.Second+time.Duration(dnsec) > tolerance ||
				time.Duration(dsec)*time.Second+time.Duration(dnsec) < -tolerance {
				t.Errorf("time left: model %d.%09d, host %d.%09d", got.Sec, got.Nsec, hts.Sec, hts.Nsec)
			}
		})
	}
}
