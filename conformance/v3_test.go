package conformance

import (
	"encoding/binary"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// v3Fake is a fakeMachine that serves every version 3 operation: it
// answers the new system calls with success (a new fd where one is
// returned) and records them with the structure they point to.
type v3Fake struct{ *fakeMachine }

func (m v3Fake) ServesOperation(string) bool { return true }

func (m v3Fake) Syscall(t ThreadID, nr uintptr, a [6]uintptr) (uintptr, syscall.Errno) {
	var n int
	switch nr {
	case sysBind, sysConnect:
		n = int(a[2])
	case sysRtSigprocmask, sysSignalfd4:
		n = 8
	case sysMkdirat, sysMknodat, sysOpenat, sysUnlinkat:
		n = 64
	case sysListen, sysAccept4, sysSendto, sysRecvfrom, sysKill, sysTgkill, sysWait4, sysPidfdOpen, sysGetpid:
	case sysFcntl:
		if a[1] != fSetpipeSz && a[1] != fGetpipeSz {
			return m.fakeMachine.Syscall(t, nr, a)
		}
	default:
		return m.fakeMachine.Syscall(t, nr, a)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c := fakeCall{Thread: t, Nr: nr, Args: a}
	ptr := map[uintptr]uintptr{sysBind: a[1], sysConnect: a[1], sysRtSigprocmask: a[1], sysSignalfd4: a[1],
		sysMkdirat: a[1], sysMknodat: a[1], sysOpenat: a[1], sysUnlinkat: a[1]}[nr]
	if n > 0 {
		if s, err := m.slice(uint64(ptr), n); err == nil {
			c.Mem = append([]byte(nil), s...)
		}
	}
	m.calls = append(m.calls, c)
	switch nr {
	case sysAccept4, sysSignalfd4, sysOpenat, sysPidfdOpen:
		fd, e := m.alloc()
		return uintptr(fd), e
	case sysGetpid:
		return 4242, 0
	}
	return 0, 0
}

// cString returns b up to its first NUL byte.
func cString(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}

// A Machine that does not say it serves a version 3 operation stops the
// run at that step with an error naming it, and makes no call for it.
func TestV3UnsupportedStep(t *testing.T) {
	m := newFakeMachine()
	sc := mustParse(t, "r, w = pipe2 0\nsigmask BLOCK USR2\nclose r\n")
	tr := Execute(m, sc, Options{}, nil)
	if tr.Unsupported != "sigmask" || !strings.Contains(tr.Abort, `:2: this backend does not implement "sigmask"`) {
		t.Fatalf("unsupported %q, abort %q", tr.Unsupported, tr.Abort)
	}
	if len(tr.Steps) != 1 {
		t.Errorf("%d steps recorded, want 1 (the pipe2)", len(tr.Steps))
	}
	if c := m.find(sysRtSigprocmask); len(c) != 0 {
		t.Errorf("the unsupported step made calls: %+v", c)
	}
	// Serving every operation is not enough for fork: it needs a
	// ProcessMachine.
	tr = Execute(v3Fake{newFakeMachine()}, mustParse(t, "fork P\n"), Options{}, nil)
	if tr.Unsupported != "fork" {
		t.Errorf("fork on a machine without processes: unsupported %q, abort %q", tr.Unsupported, tr.Abort)
	}
}

// The raw calls and guest structures of the version 3 steps that need no
// process.
func TestV3GuestStructures(t *testing.T) {
	m := v3Fake{newFakeMachine()}
	sc := mustParse(t, `l = listen_socket SEQPACKET NONBLOCK 4
c = connect l SEQPACKET 0
a = accept4 l CLOEXEC
sigmask UNBLOCK USR2|CHLD
s = signalfd USR1 NONBLOCK
signalfd_read s
f = fifo_open x WRONLY|NONBLOCK
send c 3 OOB|NOSIGNAL
recv a 9 PEEK
fcntl_setpipe_sz f 8192
fcntl_getpipe_sz f
kill SELF USR2
`)
	var nonce string
	tr := Execute(m, sc, Options{}, nil)
	if tr.Abort != "" {
		t.Fatalf("abort: %s", tr.Abort)
	}
	one := func(nr uintptr) fakeCall {
		t.Helper()
		c := m.find(nr)
		if len(c) == 0 {
			t.Fatalf("no call %d", nr)
		}
		return c[0]
	}
	if c := m.find(sysSocket); len(c) != 2 || c[0].Args[0] != 1 || c[0].Args[1] != 5|0x800 || c[1].Args[1] != 5 {
		t.Errorf("socket calls %+v", c)
	}
	bind := one(sysBind)
	if fam := binary.LittleEndian.Uint16(bind.Mem); fam != 1 || bind.Mem[2] != 0 || !strings.HasPrefix(string(bind.Mem[3:]), "guestpoll-conf.") {
		t.Errorf("bind address %q", bind.Mem)
	} else {
		nonce = strings.TrimPrefix(string(bind.Mem[3:]), "guestpoll-conf.")
	}
	if c := one(sysConnect); !cmp.Equal(c.Mem, bind.Mem) || c.Args[2] != uintptr(len(bind.Mem)) {
		t.Errorf("connect address %q, want the listener's %q", c.Mem, bind.Mem)
	}
	if c := one(sysListen); c.Args[1] != 4 {
		t.Errorf("listen %+v", c.Args)
	}
	if c := one(sysAccept4); c.Args[1] != 0 || c.Args[2] != 0 || c.Args[3] != 0x80000 {
		t.Errorf("accept4 %+v", c.Args)
	}
	if c := one(sysRtSigprocmask); c.Args[0] != 1 || c.Args[2] != 0 || c.Args[3] != 8 ||
		binary.LittleEndian.Uint64(c.Mem) != 1<<11|1<<16 {
		t.Errorf("rt_sigprocmask %+v %x", c.Args, c.Mem)
	}
	if c := one(sysSignalfd4); int64(c.Args[0]) != -1 || c.Args[2] != 8 || c.Args[3] != 0x800 || binary.LittleEndian.Uint64(c.Mem) != 1<<9 {
		t.Errorf("signalfd4 %+v %x", c.Args, c.Mem)
	}
	if c := m.find(sysRead); len(c) != 1 || c[0].Args[2] != 128 {
		t.Errorf("signalfd_read: read calls %+v", c)
	}
	dir := "/tmp/guestpoll-conf-" + strings.TrimSuffix(nonce, ".1")
	if c := one(sysMkdirat); int64(c.Args[0]) != -100 || cString(c.Mem) != dir || c.Args[2] != 0o700 {
		t.Errorf("mkdirat %+v %q, want %q", c.Args, cString(c.Mem), dir)
	}
	if c := one(sysMknodat); cString(c.Mem) != dir+"/x" || c.Args[2] != 0o10600 || c.Args[3] != 0 {
		t.Errorf("mknodat %+v %q", c.Args, cString(c.Mem))
	}
	if c := one(sysOpenat); cString(c.Mem) != dir+"/x" || c.Args[2] != 0x801 {
		t.Errorf("openat %+v %q", c.Args, cString(c.Mem))
	}
	if c := one(sysSendto); c.Args[2] != 3 || c.Args[3] != 0x4001 || c.Args[4] != 0 || c.Args[5] != 0 {
		t.Errorf("sendto %+v", c.Args)
	}
	if c := one(sysRecvfrom); c.Args[2] != 9 || c.Args[3] != 2 {
		t.Errorf("recvfrom %+v", c.Args)
	}
	if c := m.find(sysFcntl); len(c) != 2 || c[0].Args[1] != 1031 || c[0].Args[2] != 8192 || c[1].Args[1] != 1032 {
		t.Errorf("fcntl %+v", c)
	}
	if c := one(sysKill); c.Args[0] != 4242 || c.Args[1] != 12 {
		t.Errorf("kill %+v: want the getpid answer and SIGUSR2", c.Args)
	}
	// Cleanup removes the FIFO, then its directory.
	if c := m.find(sysUnlinkat); len(c) != 2 || cString(c[0].Mem) != dir+"/x" || c[0].Args[2] != 0 ||
		cString(c[1].Mem) != dir || c[1].Args[2] != 0x200 {
		t.Errorf("unlinkat calls %+v", c)
	}
}

// procFake is a v3Fake with processes: it records the ProcessMachine
// calls and routes nothing (every thread shares the fake's memory).
type procFake struct {
	v3Fake
	pmu    sync.Mutex
	forks  [][4]int
	exits  []ProcessID
	events []string
}

func (m *procFake) Fork(parent ProcessID, from ThreadID, child ProcessID, main ThreadID) (int32, error) {
	m.pmu.Lock()
	defer m.pmu.Unlock()
	m.forks = append(m.forks, [4]int{int(parent), int(from), int(child), int(main)})
	return 1000 + int32(child), nil
}

func (m *procFake) Exit(p ProcessID) error {
	m.pmu.Lock()
	defer m.pmu.Unlock()
	m.exits = append(m.exits, p)
	m.events = append(m.events, "exit")
	return nil
}

func (m *procFake) StopThread(t ThreadID) {
	m.pmu.Lock()
	m.events = append(m.events, "stop")
	m.pmu.Unlock()
	m.v3Fake.StopThread(t)
}

func (m *procFake) Memory(ProcessID) Memory       { return m.fakeMachine }
func (m *procFake) Pid(p ProcessID) int32         { return 1000 + int32(p) }
func (m *procFake) Tid(t ThreadID) (int32, error) { return 2000 + int32(t), nil }

// The executor's side of processes: Fork on the main thread with a new
// child thread, the child's calls on that thread, its pid in pidfd_open,
// wait4, kill and tgkill, Exit after the child's thread stopped, and the
// kill and reap of children left at the end.
func TestV3Processes(t *testing.T) {
	m := &procFake{v3Fake: v3Fake{newFakeMachine()}}
	sc := mustParse(t, `fork P
P & close 7
join P
pd = pidfd_open P NONBLOCK
kill P USR2
T & close 8
tkill T USR1
tkill MAIN USR2
join T
exit P
waitpid P
fork Q
`)
	tr := Execute(m, sc, Options{}, nil)
	if tr.Abort != "" {
		t.Fatalf("abort: %s", tr.Abort)
	}
	if want := [][4]int{{0, 0, 1, 1}, {0, 0, 2, 3}}; !cmp.Equal(m.forks, want) {
		t.Errorf("forks %v, want %v", m.forks, want)
	}
	var closeThreads []ThreadID
	for _, c := range m.find(sysClose) {
		if c.Args[0] == 7 || c.Args[0] == 8 {
			closeThreads = append(closeThreads, c.Thread)
		}
	}
	if !cmp.Equal(closeThreads, []ThreadID{1, 2}) {
		t.Errorf("close 7 and close 8 ran on threads %v, want P's (1) and T's (2)", closeThreads)
	}
	if c := m.find(sysPidfdOpen); len(c) != 1 || c[0].Args[0] != 1001 || c[0].Args[1] != 0x800 {
		t.Errorf("pidfd_open %+v", c)
	}
	if c := m.find(sysTgkill); len(c) != 2 || c[0].Args != [6]uintptr{1000, 2002, 10} || c[1].Args != [6]uintptr{1000, 2000, 12} {
		t.Errorf("tgkill %+v", c)
	}
	kills := m.find(sysKill)
	if len(kills) != 2 || kills[0].Args[0] != 1001 || kills[0].Args[1] != 12 || kills[1].Args[0] != 1002 || kills[1].Args[1] != 9 {
		t.Errorf("kill calls %+v: want kill P USR2, then SIGKILL for Q at the end", kills)
	}
	if w := m.find(sysWait4); len(w) != 2 || w[0].Args[0] != 1001 || w[1].Args[0] != 1002 {
		t.Errorf("wait4 calls %+v: want waitpid P, then the reap of Q", w)
	}
	if !cmp.Equal(m.exits, []ProcessID{1}) {
		t.Errorf("exits %v", m.exits)
	}
	stopBeforeExit := false
	for i, e := range m.events {
		if e == "exit" {
			stopBeforeExit = i > 0 && m.events[i-1] == "stop"
		}
	}
	if !stopBeforeExit {
		t.Errorf("events %v: P's thread must stop before Exit", m.events)
	}
}

// Static checks of the process rules.
func TestParseV3Errors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"T & fork P\n", "fork runs only on the main script"},
		{"fork P\nfork P\n", "P was forked before"},
		{"fork P\nP & close 3\nexit P\n", "every call queued on P must be joined first"},
		{"fork P\nexit P\nexit P\n", "P has already exited"},
		{"fork P\nexit P\nP & close 3\n", "process P has exited"},
		{"waitpid P\n", "no 'fork P' before this step"},
		{"pidfd_open SELF 0\n", "SELF is only for kill"},
		{"tkill SELF USR2\n", "expected a thread name or MAIN"},
		{"kill p USR2\n", "expected a process name"},
		{"kill SELF USR1|USR2\n", "SIGNAL takes one name"},
		{"fifo_open X RDONLY\n", "expected a lower-case word"},
		{"r, w = pipe2 0\nconnect r STREAM 0\n", ""},
		{"connect nope STREAM 0\n", "expected the name a listen_socket step bound"},
		{"T & close 3\nfork T\n", "T names a thread with calls not joined"},
		{"signalfd_read 3 => 128 HUP\n", "expected a signal name"},
	} {
		_, err := Parse("x.script", c.text)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.text, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: error %v, want %q", c.text, err, c.want)
		}
	}
	// A trace of version 3 steps parses back to the same steps.
	text := "l = listen_socket STREAM NONBLOCK 2 => fd\nfork P\nP & s = signalfd USR2|CHLD 0\njoin P => fd\n" +
		"P & signalfd_read s\njoin P => 128 USR2\nsigmask SETMASK 0 => 0\nexit P\nwaitpid P => -12\n"
	sc, err := Parse("t.script", text)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range sc.Steps {
		got = append(got, st.Text())
	}
	if want := "l = listen_socket STREAM NONBLOCK 2|fork P|P & s = signalfd USR2|CHLD 0|join P|P & signalfd_read s|join P|sigmask SETMASK 0|exit P|waitpid P"; strings.Join(got, "|") != want {
		t.Errorf("steps %q", strings.Join(got, "|"))
	}
	if r := sc.Steps[5].Expect.Alts[0]; r.String() != "128 USR2" {
		t.Errorf("siginfo result prints %q", r.String())
	}
}

// "step:OP" entries of the known-divergences list.
func TestKnownStepEntries(t *testing.T) {
	k, err := ParseKnown("/x/known-divergences.txt", "step:fork @model,hostfd not yet\ntestdata/a.script @boxed why\n")
	if err != nil {
		t.Fatal(err)
	}
	if e := k.LookupStep("fork", "model"); e == nil || e.Reason != "not yet" {
		t.Errorf("LookupStep(fork, model) = %+v", e)
	}
	if k.LookupStep("fork", "boxed") != nil || k.LookupStep("exit", "model") != nil {
		t.Error("a step entry matched another backend or operation")
	}
	if len(k.Missing()) != 1 {
		t.Errorf("Missing %v: step entries name no file", k.Missing())
	}
	for _, bad := range []string{"step:fork reason\n", "step:nosuch @model reason\n", "step:fork @model a\nstep:fork @hostfd b\n"} {
		if _, err := ParseKnown("/x/k.txt", bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	v := Verdict{Status: StatusError}
	applyKnownStep(&v, &Trace{Unsupported: "fork"}, k.LookupStep("fork", "model"))
	if v.Status != StatusKnown || !strings.Contains(v.Known, "not yet") {
		t.Errorf("verdict %+v", v)
	}
}
