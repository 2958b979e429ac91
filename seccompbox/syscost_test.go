//go:build linux && amd64

package seccompbox

import (
	"os"
	"os/exec"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// syscallCost is one system call the box makes to serve a trapped call,
// timed against a live child process (the guest's side of each check).
type syscallCost struct {
	name string
	run  func()
}

// measureSyscallCosts times, against a child process holding an eventfd at
// its fd 3, each system call the box makes per trapped epoll_ctl or
// epoll_wait, in interleaved blocks of per calls (the fastest block's mean,
// in nanoseconds, as the guest's own benchmark reports): kcmp, the
// identity check of a guest fd (KCMP_EPOLL_TFD against a probe's item);
// readv, process_vm_readv of an epoll_event (12 bytes); procmem, the same
// read as a pread of /proc/PID/mem opened once (the alternative, for
// comparison); harvest, an epoll_wait of an empty central epoll; repoll, a
// zero-timeout epoll_wait of a probe (its guest file and always-ready
// eventfd); getpid, the cost of entering the kernel at all.
func measureSyscallCosts(tb testing.TB, blocks, per int) map[string]float64 {
	tb.Helper()
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		tb.Fatal(err)
	}
	defer rawClose(efd)
	ef := os.NewFile(uintptr(efd), "eventfd")
	child := exec.Command("sleep", "1000")
	child.ExtraFiles = []*os.File{ef}
	if err := child.Start(); err != nil {
		tb.Fatal(err)
	}
	defer func() { child.Process.Kill(); child.Wait() }()
	pid := child.Process.Pid
	// The child's fd 3 is registered in probe as fd tfd, as a proxy's
	// guest file is (through the slot's number); probe also holds an
	// always-ready eventfd, as every probe does.
	probe, _ := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	defer rawClose(probe)
	ready, _ := unix.Eventfd(1, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	defer rawClose(ready)
	const tfd = 999
	if e := rawDup3(efd, tfd); e != 0 {
		tb.Fatal(e)
	}
	rawEpollCtl(probe, unix.EPOLL_CTL_ADD, tfd, unix.EPOLLIN, probeFile)
	rawClose(tfd)
	rawEpollCtl(probe, unix.EPOLL_CTL_ADD, ready, unix.EPOLLIN, probeReady)
	central, _ := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	defer rawClose(central)
	var evs [256]hostEpollEvent
	// The child's stack: any readable address of it will do.
	var addr uint64
	for deadline := time.Now().Add(5 * time.Second); addr == 0 && time.Now().Before(deadline); {
		maps, _ := os.ReadFile("/proc/" + itoa(pid) + "/maps")
		addr = stackAddr(maps)
		if addr == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if addr == 0 {
		tb.Fatal("no stack in the child's maps")
	}
	mem, err := unix.Open("/proc/"+itoa(pid)+"/mem", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer rawClose(mem)
	var buf [12]byte
	gm := guestMem{pid: pid}
	costs := []syscallCost{
		{"kcmp", func() {
			if !isEpollItem(int32(pid), 3, probe, tfd) {
				tb.Fatal("kcmp: not the same file")
			}
		}},
		{"readv", func() {
			if gm.CopyIn(addr, buf[:]) != nil {
				tb.Fatal("process_vm_readv failed")
			}
		}},
		{"procmem", func() {
			if n, err := unix.Pread(mem, buf[:], int64(addr)); err != nil || n != len(buf) {
				tb.Fatal("pread of /proc/PID/mem failed", n, err)
			}
		}},
		{"harvest", func() {
			unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(central), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), 0, 0, 0)
		}},
		{"repoll", func() { pollProbe(probe) }},
		{"getpid", func() { unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0) }},
	}
	best := make([]float64, len(costs))
	for i := range best {
		best[i] = 1e18
	}
	for range blocks {
		for i, c := range costs {
			t0 := time.Now()
			for range per {
				c.run()
			}
			if d := float64(time.Since(t0).Nanoseconds()) / float64(per); d < best[i] {
				best[i] = d
			}
		}
	}
	out := map[string]float64{}
	for i, c := range costs {
		out[c.name] = best[i]
	}
	return out
}

// stackAddr returns an address inside the [stack] mapping of a maps file.
func stackAddr(maps []byte) uint64 {
	for len(maps) > 0 {
		line := maps
		if i := indexByte(maps, '\n'); i >= 0 {
			line, maps = maps[:i], maps[i+1:]
		} else {
			maps = nil
		}
		if len(line) > 7 && string(line[len(line)-7:]) == "[stack]" {
			var lo uint64
			for _, c := range line {
				switch {
				case c >= '0' && c <= '9':
					lo = lo<<4 | uint64(c-'0')
				case c >= 'a' && c <= 'f':
					lo = lo<<4 | uint64(c-'a'+10)
				default:
					return lo + 64
				}
			}
		}
	}
	return 0
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func itoa(n int) string { return string(appendInt(nil, n)) }
