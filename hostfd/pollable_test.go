package hostfd

import (
	"encoding/binary"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/syscalls"
)

// TestPollabilityAsLinux: an imported host fd is pollable exactly when
// Linux's epoll accepts it. For each kind of fd, epoll_ctl ADD of the
// imported file through the syscall layer gives the errno the host's own
// epoll_ctl ADD gives on the same fd: EPERM for a regular file, a
// directory, a memfd, /dev/null, success for /proc/self/mounts (a proc
// file with a poll operation), a pipe, a socket. In both modes.
func TestPollabilityAsLinux(t *testing.T) {
	for _, mode := range notifiers {
		t.Run("mode="+mode.String(), func(t *testing.T) {
			b := newBridgeMode(t, mode)
			g := newGuest(t)
			epfd, e := g.task.Syscall(syscalls.AMD64EpollCreate1, [6]uintptr{0})
			if e != 0 {
				t.Fatal(e)
			}
			const evAddr = memBase
			ev := make([]byte, 12)
			binary.LittleEndian.PutUint32(ev, unix.EPOLLIN)
			if err := g.mem.CopyOut(evAddr, ev); err != nil {
				t.Fatal(err)
			}
			hostEp, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(hostEp)
			for _, c := range pollabilityCases(t) {
				hostErr := unix.EpollCtl(hostEp, unix.EPOLL_CTL_ADD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN})
				if (hostErr == nil) != c.pollable {
					t.Fatalf("%s: Linux's epoll_ctl ADD says %v", c.name, hostErr)
				}
				f, err := b.Import(c.fd, ImportOptions{})
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				if got := f.Pollable() != nil; got != c.pollable {
					t.Fatalf("%s: imported as pollable %v", c.name, got)
				}
				tfd := g.install(f)
				_, e := g.task.Syscall(syscalls.AMD64EpollCtl, [6]uintptr{epfd, unix.EPOLL_CTL_ADD, tfd, evAddr})
				var want unix.Errno
				if hostErr != nil {
					want = hostErr.(unix.Errno)
				}
				if e != want {
					t.Fatalf("%s: epoll_ctl ADD of the import: %v, Linux: %v", c.name, e, want)
				}
			}
		})
	}
}

type pollabilityCase struct {
	name     string
	fd       int
	pollable bool
}

// pollabilityCases opens one fd of each kind; Import takes each.
func pollabilityCases(t *testing.T) []pollabilityCase {
	t.Helper()
	open := func(path string, flags int) int {
		fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		return fd
	}
	tmp, err := os.CreateTemp(t.TempDir(), "regular")
	if err != nil {
		t.Fatal(err)
	}
	tmp.WriteString("contents")
	regular := open(tmp.Name(), unix.O_RDWR)
	tmp.Close()
	memfd, err := unix.MemfdCreate("hostfd-test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	r, w := hostPipe(t)
	t.Cleanup(func() { unix.Close(w) })
	sock, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return []pollabilityCase{
		{"regular file", regular, false},
		{"directory", open(t.TempDir(), unix.O_RDONLY|unix.O_DIRECTORY), false},
		{"memfd", memfd, false},
		{"/dev/null", open("/dev/null", unix.O_RDWR), false},
		{"/proc/self/mounts", open("/proc/self/mounts", unix.O_RDONLY), true},
		{"pipe", r, true},
		{"socket", sock, true},
	}
}

// TestNonPollableReadWrite: an imported regular file is not pollable but
// reads and writes reach the host file, and it is closed once.
func TestNonPollableReadWrite(t *testing.T) {
	b := newBridge(t, 1)
	tmp, err := os.CreateTemp(t.TempDir(), "regular")
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Dup(int(tmp.Fd()))
	tmp.Close()
	if err != nil {
		t.Fatal(err)
	}
	f, err := b.Import(fd, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Pollable() != nil || KindOf(f) != KindOther {
		t.Fatalf("regular file imported as pollable %v, kind %v", f.Pollable() != nil, KindOf(f))
	}
	if n, err := f.Write([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("write: %d %v", n, err)
	}
	if b.Watched() != 0 || b.Live() != 1 {
		t.Fatalf("Watched %d Live %d", b.Watched(), b.Live())
	}
	f.DecRef()
	if fdOpen(fd) || b.Live() != 0 {
		t.Fatal("fd of the regular file left open")
	}
	data, err := os.ReadFile(tmp.Name())
	if err != nil || string(data) != "hello" {
		t.Fatalf("host file holds %q, %v", data, err)
	}
}
