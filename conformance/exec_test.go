package conformance

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeMachine is a Machine that records every call and emulates just
// enough of a kernel (an fd table, RLIMIT_NOFILE, a clock) to let the
// executor run, so that tests can check the exact raw calls and guest
// structures the executor produces.
type fakeMachine struct {
	mu       sync.Mutex
	calls    []fakeCall
	fds      map[int32]bool
	rlimit   [2]uint64
	mem      map[uint64][]byte // allocations by base address
	next     uint64
	started  []ThreadID
	stopped  []ThreadID
	closed   bool
	fdinfo   string
	blockers map[ThreadID]chan struct{} // calls on these threads block until interrupted
}

type fakeCall struct {
	Thread ThreadID
	Nr     uintptr
	Args   [6]uintptr
	Mem    []byte // the structure the call pointed to, when it has one
}

const fakeNow uint64 = 1000_500_000_000 // clock_gettime's answer: 1000.5 s

func newFakeMachine() *fakeMachine {
	return &fakeMachine{fds: map[int32]bool{0: true, 1: true, 2: true}, rlimit: [2]uint64{1024, 4096},
		mem: map[uint64][]byte{}, next: 0x10000, blockers: map[ThreadID]chan struct{}{}}
}

func (m *fakeMachine) StartThread(t ThreadID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.started = append(m.started, t)
	return nil
}

func (m *fakeMachine) StopThread(t ThreadID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopped = append(m.stopped, t)
}

func (m *fakeMachine) Interrupt(t ThreadID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ch := m.blockers[t]; ch != nil {
		close(ch)
		delete(m.blockers, t)
	}
	return nil
}

func (m *fakeMachine) Fdinfo(t ThreadID, fd int32) (string, syscall.Errno) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.fds[fd] {
		return "", syscall.EBADF
	}
	return m.fdinfo, 0
}

func (m *fakeMachine) Alloc(size uint64) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if size > 1<<20 {
		size = 1 << 20 // lazily "mapped": tests never touch more
	}
	a := m.next
	m.mem[a] = make([]byte, size)
	m.next += (size + 0xffff) &^ 0xffff
	return a, nil
}

func (m *fakeMachine) slice(addr uint64, n int) ([]byte, error) {
	for base, b := range m.mem {
		if addr >= base && addr+uint64(n) <= base+uint64(len(b)) {
			return b[addr-base : addr-base+uint64(n)], nil
		}
	}
	return nil, fmt.Errorf("fault at %#x", addr)
}

func (m *fakeMachine) ReadMem(addr uint64, b []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.slice(addr, len(b))
	if err == nil {
		copy(b, s)
	}
	return err
}

func (m *fakeMachine) WriteMem(addr uint64, b []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.slice(addr, len(b))
	if err == nil {
		copy(s, b)
	}
	return err
}

func (m *fakeMachine) BadPtr() uint64 { return 0x7ff000000000 }

func (m *fakeMachine) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

func (m *fakeMachine) alloc() (int32, syscall.Errno) {
	for fd := int32(0); ; fd++ {
		if !m.fds[fd] {
			if uint64(fd) >= m.rlimit[0] {
				return 0, syscall.EMFILE
			}
			m.fds[fd] = true
			return fd, 0
		}
	}
}

func (m *fakeMachine) Syscall(t ThreadID, nr uintptr, a [6]uintptr) (uintptr, syscall.Errno) {
	m.mu.Lock()
	block := m.blockers[t]
	m.mu.Unlock()
	if block != nil && (nr == sysRead || nr == sysEpollWait) {
		<-block
		m.record(t, nr, a, 0, 0)
		return 0, syscall.EINTR
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	mem := func(addr uintptr, n int) []byte {
		s, err := m.slice(uint64(addr), n)
		if err != nil {
			return nil
		}
		return append([]byte(nil), s...)
	}
	c := fakeCall{Thread: t, Nr: nr, Args: a}
	defer func() { m.calls = append(m.calls, c) }()
	switch nr {
	case sysEpollCreate1, sysEventfd2, sysMemfdCreate, sysTimerfdCreate, sysEpollCreate, sysSocket:
		if nr == sysMemfdCreate {
			c.Mem = mem(a[0], 5)
		}
		fd, e := m.alloc()
		return uintptr(fd), e
	case sysPipe2, sysSocketpair:
		p := a[0]
		if nr == sysSocketpair {
			p = a[3]
		}
		f1, e := m.alloc()
		if e != 0 {
			return 0, e
		}
		f2, _ := m.alloc()
		s, _ := m.slice(uint64(p), 8)
		binary.LittleEndian.PutUint32(s, uint32(f1))
		binary.LittleEndian.PutUint32(s[4:], uint32(f2))
		return 0, 0
	case sysDup:
		if !m.fds[int32(a[0])] {
			return 0, syscall.EBADF
		}
		fd, e := m.alloc()
		return uintptr(fd), e
	case sysDup2, sysDup3:
		m.fds[int32(a[1])] = true
		return a[1], 0
	case sysClose:
		if !m.fds[int32(a[0])] {
			return 0, syscall.EBADF
		}
		delete(m.fds, int32(a[0]))
		return 0, 0
	case sysEpollCtl:
		c.Mem = mem(a[3], EventSize)
		return 0, 0
	case sysEpollWait, sysEpollPwait, sysEpollPwait2:
		if nr == sysEpollPwait {
			c.Mem = mem(a[4], 8)
		}
		if nr == sysEpollPwait2 {
			c.Mem = append(mem(a[3], 16), mem(a[4], 8)...)
		}
		// Report one event {IN|OUT, 0x1122334455667788}.
		if s, err := m.slice(uint64(a[1]), EventSize); err == nil && int32(a[2]) > 0 {
			binary.LittleEndian.PutUint32(s, 0x5)
			binary.LittleEndian.PutUint64(s[4:], 0x1122334455667788)
			return 1, 0
		}
		return 0, 0
	case sysTimerfdSettm:
		c.Mem = mem(a[2], 32)
		return 0, 0
	case sysClockGettime:
		s, _ := m.slice(uint64(a[1]), 16)
		binary.LittleEndian.PutUint64(s, fakeNow/1e9)
		binary.LittleEndian.PutUint64(s[8:], fakeNow%1e9)
		return 0, 0
	case sysGetrlimit:
		s, _ := m.slice(uint64(a[1]), 16)
		binary.LittleEndian.PutUint64(s, m.rlimit[0])
		binary.LittleEndian.PutUint64(s[8:], m.rlimit[1])
		return 0, 0
	case sysSetrlimit:
		c.Mem = mem(a[1], 16)
		m.rlimit = [2]uint64{binary.LittleEndian.Uint64(c.Mem), binary.LittleEndian.Uint64(c.Mem[8:])}
		return 0, 0
	case sysPoll:
		c.Mem = mem(a[0], 8)
		s, _ := m.slice(uint64(a[0]), 8)
		binary.LittleEndian.PutUint16(s[6:], 0x11)
		return 1, 0
	case sysRead, sysWrite:
		if nr == sysRead && a[2] == 8 {
			s, _ := m.slice(uint64(a[1]), 8)
			binary.LittleEndian.PutUint64(s, 0x0102030405060708)
		}
		if nr == sysWrite && a[2] == 8 {
			c.Mem = mem(a[1], 8)
		}
		return a[2], 0
	case sysFcntl:
		return 0x8802, 0 // RDWR|NONBLOCK|O_LARGEFILE
	case sysShutdown:
		return 0, 0
	}
	return 0, syscall.ENOSYS
}

func (m *fakeMachine) record(t ThreadID, nr uintptr, a [6]uintptr, _, _ int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, fakeCall{Thread: t, Nr: nr, Args: a})
}

func (m *fakeMachine) find(nr uintptr) []fakeCall {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []fakeCall
	for _, c := range m.calls {
		if c.Nr == nr {
			out = append(out, c)
		}
	}
	return out
}

func mustParse(t *testing.T, text string) *Script {
	t.Helper()
	sc, err := Parse("t.script", text)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func le32(v uint32) []byte { b := make([]byte, 4); binary.LittleEndian.PutUint32(b, v); return b }
func le64(v uint64) []byte { b := make([]byte, 8); binary.LittleEndian.PutUint64(b, v); return b }
func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// TestExecutorGuestStructures checks the raw calls and structures the
// executor hands to a machine: this is what every backend receives.
func TestExecutorGuestStructures(t *testing.T) {
	m := newFakeMachine()
	sc := mustParse(t, `r, w = pipe2 NONBLOCK
ep = epoll_create1 CLOEXEC
epoll_ctl ep ADD r IN|ET 0x1122334455667788
epoll_ctl ep DEL r
epoll_ctl ep MOD r BADPTR
epoll_pwait ep 4 -1 USR1|USR2
epoll_pwait ep 4 0 NULL
epoll_pwait2 ep 4 3 500000000 0
epoll_pwait2 ep 4 NULL BADPTR
epoll_wait ep -1 0
f = open_regular
poll r IN|OUT 25
t = timerfd_create REALTIME 0
u = dup t
timerfd_settime u ABSTIME +250 1500
timerfd_settime u 0 -1 0
eventfd_write w 0x0102030405060708
eventfd_read r
socketpair SEQPACKET NONBLOCK
fcntl_getfl r
`)
	tr := Execute(m, sc, Options{}, nil)
	if tr.Abort != "" {
		t.Fatalf("abort: %s", tr.Abort)
	}
	// fds: 3,4 pipe; 5 epoll; 6 memfd; 7 timer; 8 dup; 9,10 socketpair.
	ctl := m.find(sysEpollCtl)
	if len(ctl) != 3 {
		t.Fatalf("%d epoll_ctl calls", len(ctl))
	}
	if c := ctl[0]; c.Args[0] != 5 || c.Args[1] != 1 || c.Args[2] != 3 ||
		!cmp.Equal(c.Mem, cat(le32(0x80000001), le64(0x1122334455667788))) {
		t.Errorf("ADD call %+v, event %x", c.Args, c.Mem)
	}
	if c := ctl[1]; c.Args[1] != 2 || c.Args[3] != 0 {
		t.Errorf("DEL call %+v: want a NULL event", c.Args)
	}
	if c := ctl[2]; c.Args[1] != 3 || c.Args[3] != uintptr(m.BadPtr()) {
		t.Errorf("MOD BADPTR call %+v", c.Args)
	}
	pw := m.find(sysEpollPwait)
	if c := pw[0]; c.Args[2] != 4 || c.Args[3] != ^uintptr(0) || c.Args[5] != 8 || !cmp.Equal(c.Mem, le64(1<<9|1<<11)) {
		t.Errorf("pwait USR1|USR2: args %+v sigset %x", c.Args, c.Mem)
	}
	if c := pw[1]; c.Args[4] != 0 || c.Args[5] != 8 {
		t.Errorf("pwait NULL: args %+v", c.Args)
	}
	p2 := m.find(sysEpollPwait2)
	if c := p2[0]; !cmp.Equal(c.Mem, cat(le64(3), le64(500000000), le64(0))) || c.Args[5] != 8 {
		t.Errorf("pwait2 timespec+sigset %x, args %+v", c.Mem, c.Args)
	}
	if c := p2[1]; c.Args[3] != 0 || c.Args[4] != uintptr(m.BadPtr()) {
		t.Errorf("pwait2 NULL BADPTR args %+v", c.Args)
	}
	if c := m.find(sysEpollWait)[0]; c.Args[2] != ^uintptr(0) {
		t.Errorf("maxevents -1 passed as %#x", c.Args[2])
	}
	if c := m.find(sysMemfdCreate)[0]; string(c.Mem) != "conf\x00" || c.Args[1] != 0 {
		t.Errorf("memfd_create(%q, %d)", c.Mem, c.Args[1])
	}
	if c := m.find(sysPoll)[0]; c.Args[1] != 1 || c.Args[2] != 25 || !cmp.Equal(c.Mem, cat(le32(3), []byte{5, 0, 0, 0})) {
		t.Errorf("poll args %+v pollfd %x", c.Args, c.Mem)
	}
	st := m.find(sysTimerfdSettm)
	// +250 ms on the REALTIME clock of t, followed through dup.
	abs := fakeNow + 250e6
	if c := st[0]; c.Args[0] != 8 || c.Args[1] != 1 || !cmp.Equal(c.Mem, cat(le64(1), le64(500e6), le64(abs/1e9), le64(abs%1e9))) {
		t.Errorf("settime ABSTIME args %+v itimerspec %x", c.Args, c.Mem)
	}
	if c := m.find(sysClockGettime)[0]; c.Args[0] != 0 {
		t.Errorf("clock_gettime on clock %d, want REALTIME (0)", c.Args[0])
	}
	if c := st[1]; !cmp.Equal(c.Mem, cat(le64(0), le64(0), le64(0), le64(uint64(1<<64-1e6)))) {
		t.Errorf("settime -1 ms itimerspec %x", c.Mem)
	}
	if c := m.find(sysWrite)[0]; !cmp.Equal(c.Mem, le64(0x0102030405060708)) || c.Args[2] != 8 {
		t.Errorf("eventfd_write %x %+v", c.Mem, c.Args)
	}
	if c := m.find(sysSocketpair)[0]; c.Args[0] != 1 || c.Args[1] != 5|0x800 || c.Args[2] != 0 {
		t.Errorf("socketpair args %+v", c.Args)
	}
	got := map[string]string{}
	for _, o := range tr.Steps {
		got[sc.Steps[o.Step].Text()] = o.Result.String()
	}
	want := map[string]string{
		"epoll_pwait ep 4 -1 USR1|USR2": "1 [IN|OUT 0x1122334455667788]",
		"poll r IN|OUT 25":              "1 IN|HUP",
		"eventfd_read r":                "8 72623859790382856",
		"fcntl_getfl r":                 "RDWR|NONBLOCK",
		"socketpair SEQPACKET NONBLOCK": "fd fd",
		"epoll_pwait2 ep 4 NULL BADPTR": "1 [IN|OUT 0x1122334455667788]",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s => %s, want %s", k, got[k], v)
		}
	}
	// Cleanup closed every fd the script made, bound or not.
	for fd := int32(3); fd <= 10; fd++ {
		if m.fds[fd] {
			t.Errorf("fd %d still open after the run", fd)
		}
	}
	if !m.closed {
		t.Errorf("machine not closed")
	}
}

func TestExecutorRlimitRestoredAndNames(t *testing.T) {
	m := newFakeMachine()
	m.fdinfo = "pos:\t0\nflags:\t02\nmnt_id:\t16\nino:\t1057\n" +
		"tfd:        4 events:       1c data:                2  pos:0 ino:4 sdev:f\n" +
		"tfd:        3 events: 80000019 data:                1  pos:0 ino:4 sdev:f\n" +
		"tfd:        9 events:       19 data:                9  pos:0 ino:4 sdev:f\n"
	sc := mustParse(t, `r, w = pipe2 0
ep = epoll_create1 0
setrlimit_nofile 0
epoll_create1 0
fdinfo ep
close w
fdinfo ep
T & fdinfo ep
join T
`)
	tr := Execute(m, sc, Options{}, nil)
	if tr.Abort != "" {
		t.Fatalf("abort: %s", tr.Abort)
	}
	var got []string
	for _, o := range tr.Steps {
		got = append(got, o.Result.String())
	}
	want := []string{"fd fd", "fd", "0", "EMFILE",
		"[r IN|ERR|HUP|ET 0x1] [w OUT|ERR|HUP 0x2] [9 IN|ERR|HUP 0x9]",
		"0",
		"[r IN|ERR|HUP|ET 0x1] [w OUT|ERR|HUP 0x2] [9 IN|ERR|HUP 0x9]",
		"-",
		"[r IN|ERR|HUP|ET 0x1] [w OUT|ERR|HUP 0x2] [9 IN|ERR|HUP 0x9]"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	set := m.find(sysSetrlimit)
	if len(set) != 2 {
		t.Fatalf("%d setrlimit calls, want 2 (set and restore)", len(set))
	}
	if !cmp.Equal(set[0].Mem, cat(le64(0), le64(4096))) || !cmp.Equal(set[1].Mem, cat(le64(1024), le64(4096))) {
		t.Errorf("setrlimit structs %x then %x", set[0].Mem, set[1].Mem)
	}
	if m.rlimit != [2]uint64{1024, 4096} {
		t.Errorf("rlimit after the run = %v", m.rlimit)
	}
}

func TestExecutorThreadsAndCleanup(t *testing.T) {
	m := newFakeMachine()
	m.blockers[1] = make(chan struct{}) // the first named thread blocks in read
	sc := mustParse(t, `r, w = pipe2 0
T & read r 5
T & x = dup r
T & close r
U & e = eventfd2 0 0
join U
V & y = eventfd2 0 0
sleep 5
`)
	tr := Execute(m, sc, Options{CleanupTimeout: 2 * time.Second}, nil)
	if tr.Abort != "" {
		t.Fatalf("abort: %s", tr.Abort)
	}
	// T's read was interrupted at the end; the queued dup and close never ran.
	if n := len(m.find(sysDup)); n != 0 {
		t.Errorf("queued dup ran %d times", n)
	}
	closes := m.find(sysClose)
	var closed []uintptr
	for _, c := range closes {
		closed = append(closed, c.Args[0])
	}
	// The script's fds, then the one made by V's call that was never joined.
	if diff := cmp.Diff([]uintptr{3, 4, 5, 6}, closed); diff != "" {
		t.Errorf("closed at the end (-want +got):\n%s", diff)
	}
	reads := m.find(sysRead)
	if len(reads) != 1 || reads[0].Thread != 1 {
		t.Errorf("reads = %+v", reads)
	}
	if !cmp.Equal(m.started, m.stopped, cmpSortThreads) || len(m.started) != 4 {
		t.Errorf("threads started %v, stopped %v", m.started, m.stopped)
	}
}

var cmpSortThreads = cmp.Transformer("sort", func(in []ThreadID) map[ThreadID]int {
	out := map[ThreadID]int{}
	for _, t := range in {
		out[t]++
	}
	return out
})

func TestExecutorScriptErrorsAtRunTime(t *testing.T) {
	tests := []struct{ text, want string }{
		{"e = eventfd2 0 0\ne = eventfd2 0 0", `t.script:2: name "e" is still open`},
		{"e = dup 99\nclose e", `t.script:2: name "e" is not bound`},
		{"e = eventfd2 0 0\nT & e = dup e\njoin T", `t.script:3: join T binds name "e", which is still open`},
		{"!! done", "it is a trace, not a script"},
	}
	for _, tc := range tests {
		m := newFakeMachine()
		m.fds[3] = false
		tr := Execute(m, mustParse(t, tc.text), Options{}, nil)
		if !tr.ScriptError || !strings.Contains(tr.Abort, tc.want) {
			t.Errorf("%q: abort %q (script error %v), want %q", tc.text, tr.Abort, tr.ScriptError, tc.want)
		}
	}
}

func TestExecutorTimeouts(t *testing.T) {
	m := newFakeMachine()
	m.blockers[1] = make(chan struct{})
	sc := mustParse(t, "r, w = pipe2 0\nT & read r 1\njoin T\nclose r")
	tr := Execute(m, sc, Options{JoinTimeout: 100 * time.Millisecond, CleanupTimeout: time.Second}, nil)
	if n := len(tr.Steps); n != 3 || tr.Steps[2].Result.Kind != KindTimeout {
		t.Fatalf("trace: %s", FormatTrace(sc, tr, TraceFormat{}))
	}
	if !strings.Contains(tr.Abort, "thread T: call at line 2 (read) still running") || tr.ScriptError {
		t.Errorf("abort = %q", tr.Abort)
	}
	if !strings.HasSuffix(FormatTrace(sc, tr, TraceFormat{}), "=> TIMEOUT\n!! "+tr.Abort+"\n") {
		t.Errorf("trace does not end with TIMEOUT and !!:\n%s", FormatTrace(sc, tr, TraceFormat{}))
	}
}

// TestExecutorUnknownOperation runs a hand-built script whose call names
// no operation: the run ends with a runner error naming it, not a panic.
func TestExecutorUnknownOperation(t *testing.T) {
	sc := &Script{Path: "t.script", Steps: []*Step{{Line: 1, Kind: StepCall, Call: &Call{Op: "frobnicate"}}}}
	tr := Execute(newFakeMachine(), sc, Options{}, nil)
	if !strings.Contains(tr.Abort, `runner error at line 1 (frobnicate): internal: no operation "frobnicate"`) {
		t.Errorf("abort = %q", tr.Abort)
	}
}
