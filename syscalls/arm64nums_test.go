package syscalls

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// xsysFile returns the path of a file of golang.org/x/sys/unix in the module
// cache: the arm64 tables there are generated from Linux's headers, an
// independent source for the hand-written arm64 numbers.
func xsysFile(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "golang.org/x/sys").Output()
	if err != nil {
		t.Fatalf("locating golang.org/x/sys: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "unix", name)
}

// TestARM64NumbersMatchUnix checks every arm64 number against x/sys's
// zsysnum_linux_arm64.go.
func TestARM64NumbersMatchUnix(t *testing.T) {
	f, err := os.Open(xsysFile(t, "zsysnum_linux_arm64.go"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	re := regexp.MustCompile(`^\s*SYS_([A-Z0-9_]+)\s*=\s*(\d+)`)
	unixNr := map[string]int{}
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			n, _ := strconv.Atoi(m[2])
			unixNr[m[1]] = n
		}
	}
	for name, ours := range map[string]int{
		"EVENTFD2": ARM64Eventfd2, "EPOLL_CREATE1": ARM64EpollCreate1, "EPOLL_CTL": ARM64EpollCtl,
		"EPOLL_PWAIT": ARM64EpollPwait, "DUP": ARM64Dup, "DUP3": ARM64Dup3, "FCNTL": ARM64Fcntl,
		"CLOSE": ARM64Close, "PIPE2": ARM64Pipe2, "READ": ARM64Read, "WRITE": ARM64Write,
		"READV": ARM64Readv, "WRITEV": ARM64Writev, "PPOLL": ARM64Ppoll,
		"TIMERFD_CREATE": ARM64TimerfdCreate, "TIMERFD_SETTIME": ARM64TimerfdSettime,
		"TIMERFD_GETTIME": ARM64TimerfdGettime, "CLOCK_GETTIME": ARM64ClockGettime,
		"GETRLIMIT": ARM64Getrlimit, "SETRLIMIT": ARM64Setrlimit, "SOCKET": ARM64Socket,
		"SOCKETPAIR": ARM64Socketpair, "SHUTDOWN": ARM64Shutdown, "PRLIMIT64": ARM64Prlimit64,
		"MKNODAT": ARM64Mknodat, "MKDIRAT": ARM64Mkdirat, "OPENAT": ARM64Openat, "BIND": ARM64Bind,
		"LISTEN": ARM64Listen, "ACCEPT": ARM64Accept, "CONNECT": ARM64Connect, "SENDTO": ARM64Sendto,
		"RECVFROM": ARM64Recvfrom, "ACCEPT4": ARM64Accept4, "UNLINKAT": ARM64Unlinkat,
		"MEMFD_CREATE": ARM64MemfdCreate, "CLOSE_RANGE": ARM64CloseRange, "EPOLL_PWAIT2": ARM64EpollPwait2,
		"SIGNALFD4": ARM64Signalfd4, "KILL": ARM64Kill, "TKILL": ARM64Tkill, "TGKILL": ARM64Tgkill,
		"RT_SIGPROCMASK": ARM64RtSigprocmask, "GETPID": ARM64Getpid, "GETPPID": ARM64Getppid,
		"GETTID": ARM64Gettid, "WAIT4": ARM64Wait4, "PIDFD_OPEN": ARM64PidfdOpen,
	} {
		want, ok := unixNr[name]
		if !ok {
			t.Errorf("x/sys has no arm64 SYS_%s", name)
			continue
		}
		if ours != want {
			t.Errorf("arm64 SYS_%s: ours %d, x/sys %d", name, ours, want)
		}
	}
	// arm64 has no epoll_wait, epoll_create, pipe, eventfd, poll, dup2:
	// the model must not serve them there either.
	for _, name := range []string{"EPOLL_WAIT", "EPOLL_CREATE", "PIPE", "EVENTFD", "POLL", "DUP2", "SIGNALFD"} {
		if n, ok := unixNr[name]; ok {
			t.Errorf("x/sys has an arm64 SYS_%s (%d); the model's table assumes none", name, n)
		}
	}
	for nr, id := range arm64Table {
		if id != 0 && !servedOnARM64(nr) {
			t.Errorf("arm64 number %d is served but not checked here", nr)
		}
	}
}

func servedOnARM64(nr int) bool {
	switch nr {
	case ARM64Eventfd2, ARM64EpollCreate1, ARM64EpollCtl, ARM64EpollPwait, ARM64Dup, ARM64Dup3,
		ARM64Fcntl, ARM64Close, ARM64Pipe2, ARM64Read, ARM64Write, ARM64Readv, ARM64Writev,
		ARM64Ppoll, ARM64TimerfdCreate, ARM64TimerfdSettime, ARM64TimerfdGettime,
		ARM64ClockGettime, ARM64Getrlimit, ARM64Setrlimit, ARM64Socket, ARM64Socketpair,
		ARM64Shutdown, ARM64Prlimit64, ARM64MemfdCreate, ARM64CloseRange, ARM64EpollPwait2,
		ARM64Signalfd4, ARM64Kill, ARM64Tkill, ARM64Tgkill, ARM64RtSigprocmask, ARM64Getpid,
		ARM64Getppid, ARM64Gettid, ARM64Wait4, ARM64PidfdOpen,
		ARM64Mknodat, ARM64Mkdirat, ARM64Openat, ARM64Bind, ARM64Listen, ARM64Accept,
		ARM64Connect, ARM64Sendto, ARM64Recvfrom, ARM64Accept4, ARM64Unlinkat:
		return true
	}
	return false
}

// TestARM64EpollEventLayout checks the 16-byte arm64 struct epoll_event
// (events, 4 bytes of padding, data) against x/sys's ztypes_linux_arm64.go.
func TestARM64EpollEventLayout(t *testing.T) {
	b, err := os.ReadFile(xsysFile(t, "ztypes_linux_arm64.go"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`type EpollEvent struct \{([^}]*)\}`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no EpollEvent in ztypes_linux_arm64.go")
	}
	var sizes []string
	for _, line := range strings.Split(strings.TrimSpace(string(m[1])), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			sizes = append(sizes, f[1])
		}
	}
	// Four 32-bit fields: events, padding, then the 64-bit data at 8.
	if got := strings.Join(sizes, " "); got != "uint32 int32 int32 int32" {
		t.Fatalf("x/sys arm64 EpollEvent fields are %q", got)
	}
	if ARM64.EventSize() != 16 || ARM64.eventDataOffset() != 8 {
		t.Errorf("arm64 event: size %d, data at %d; want 16 and 8", ARM64.EventSize(), ARM64.eventDataOffset())
	}
}
