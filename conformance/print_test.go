package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// roundTripScript uses every kind of step and result form.
const roundTripScript = `# every result form
r, w = pipe2 NONBLOCK
ep = epoll_create1 0
e = eventfd2 0 SEMAPHORE
f = open_regular
epoll_ctl ep ADD r IN|ET 0xdeadbeef
epoll_wait ep 8 0
epoll_pwait ep 8 10 USR1
epoll_pwait2 ep 8 0 500 NULL BADPTR
poll r IN|OUT 0
eventfd_read e
fcntl_getfl r
fcntl_getfd w
fdinfo ep
fdinfo ep
T & s, u = socketpair STREAM 0 within 0..1000
T & epoll_wait ep 1 -1
sleep 1
interrupt T
join T
join T
dup2 r 9
close 9
write w 3
`

// resultsFor gives each step of roundTripScript a result of its form.
func resultsFor(sc *Script) []Result {
	rs := []Result{
		{Kind: KindFDs, Value: 2},
		{Kind: KindFDs, Value: 1},
		{Kind: KindErrno, Errno: "EMFILE"},
		{Kind: KindFDs, Value: 1},
		{Kind: KindValue, Value: 0},
		{Kind: KindWait, Value: 2, Events: []Event{{Mask: 0x1, Data: 0xdeadbeef}, {Mask: 0x80000000 | 0x2011 | 1<<20, Data: 1<<64 - 1}}},
		{Kind: KindWait},
		{Kind: KindErrno, Errno: "E512"},
		{Kind: KindPoll, Value: 1, Mask: 0x5},
		{Kind: KindEventfdRead, Value: 8, U64: 1<<64 - 2},
		{Kind: KindGetfl, Mask: 0x4802},
		{Kind: KindGetfd, Mask: 1},
		{Kind: KindFdinfo, Entries: []FdinfoEntry{{TFD: "r", Mask: 0x80000019, Data: 1}, {TFD: "12", Mask: 0x40000000, Data: 0}}},
		{Kind: KindFdinfo},
		{Kind: KindNone},
		{Kind: KindNone},
		{Kind: KindNone},
		{Kind: KindNone},
		{Kind: KindFDs, Value: 2},
		{Kind: KindErrno, Errno: "EINTR"},
		{Kind: KindFDs, Value: 1},
		{Kind: KindErrno, Errno: "EBADF"},
		{Kind: KindTimeout},
	}
	return rs[:len(sc.Steps)]
}

func TestTraceRoundTrip(t *testing.T) {
	sc, err := Parse("rt.script", roundTripScript)
	if err != nil {
		t.Fatal(err)
	}
	rs := resultsFor(sc)
	if len(rs) != len(sc.Steps) {
		t.Fatalf("%d results for %d steps", len(rs), len(sc.Steps))
	}
	tr := &Trace{Abort: "main thread: call at line 24 (write) still running after 30s\nsecond line"}
	for i, r := range rs {
		tr.Steps = append(tr.Steps, Outcome{Step: i, Result: r, FDs: []int32{int32(i)}, Elapsed: time.Millisecond, WithinFailed: i == 18})
	}
	for _, notes := range []bool{false, true} {
		text := FormatTrace(sc, tr, TraceFormat{Notes: notes})
		back, err := Parse("rt.trace", text)
		if err != nil {
			t.Fatalf("printed trace does not parse: %v\n%s", err, text)
		}
		if len(back.Steps) != len(sc.Steps) {
			t.Fatalf("%d steps after round trip, want %d\n%s", len(back.Steps), len(sc.Steps), text)
		}
		for i, st := range back.Steps {
			if st.Text() != sc.Steps[i].Text() {
				t.Errorf("step %d: %q, want %q", i, st.Text(), sc.Steps[i].Text())
			}
			if st.Expect == nil || !st.Expect.Single() {
				t.Errorf("step %d: no single result after round trip", i)
				continue
			}
			if diff := cmp.Diff(rs[i], st.Expect.Alts[0], cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("step %d (%s) result (-want +got):\n%s", i, st.Text(), diff)
			}
		}
		if back.Abort != "main thread: call at line 24 (write) still running after 30s second line" {
			t.Errorf("abort = %q", back.Abort)
		}
		if notes && !strings.Contains(text, "outside within 0..1000") {
			t.Errorf("notes missing the timing failure:\n%s", text)
		}
		// Printing the parsed trace as a script gives the same text again.
		if again := FormatScript(back); again != FormatTrace(sc, tr, TraceFormat{}) {
			t.Errorf("FormatScript(parsed trace) differs:\n%s\nvs\n%s", again, FormatTrace(sc, tr, TraceFormat{}))
		}
	}
}

func TestResultStrings(t *testing.T) {
	tests := []struct {
		r    Result
		want string
	}{
		{Result{Kind: KindNone}, "-"},
		{Result{Kind: KindTimeout}, "TIMEOUT"},
		{Result{Kind: KindValue, Value: 5}, "5"},
		{Result{Kind: KindFDs, Value: 2}, "fd fd"},
		{Result{Kind: KindWait}, "0"},
		{Result{Kind: KindWait, Value: 2, Events: []Event{{0x1, 0x1}, {0x14, 0x2}}}, "2 [IN 0x1] [OUT|HUP 0x2]"},
		{Result{Kind: KindWait, Value: 1, Events: []Event{{0x2043 | 1<<20, 0xAB}}}, "1 [IN|PRI|RDNORM|RDHUP|0x100000 0xab]"},
		{Result{Kind: KindPoll, Value: 1, Mask: 0x5}, "1 IN|OUT"},
		{Result{Kind: KindPoll}, "0 0"},
		{Result{Kind: KindEventfdRead, Value: 8, U64: 3}, "8 3"},
		{Result{Kind: KindGetfl, Mask: 0}, "RDONLY"},
		{Result{Kind: KindGetfl, Mask: 0x4801}, "WRONLY|NONBLOCK|DIRECT"},
		{Result{Kind: KindGetfl, Mask: 0x403}, "0x3|APPEND"},
		{Result{Kind: KindGetfd}, "0"},
		{Result{Kind: KindGetfd, Mask: 1}, "CLOEXEC"},
		{Result{Kind: KindFdinfo}, ""},
		{Result{Kind: KindFdinfo, Entries: []FdinfoEntry{{"r", 0x80000019, 1}, {"w", 0x1c, 2}}}, "[r IN|ERR|HUP|ET 0x1] [w OUT|ERR|HUP 0x2]"},
		{Result{Kind: KindFdinfo, Entries: []FdinfoEntry{{"7", 0xf0000000, 0}}}, "[7 EXCLUSIVE|WAKEUP|ONESHOT|ET 0x0]"},
		{Result{Kind: KindErrno, Errno: "EAGAIN"}, "EAGAIN"},
	}
	for _, tc := range tests {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.r, got, tc.want)
		}
	}
	if ErrnoName(11) != "EAGAIN" || ErrnoName(95) != "EOPNOTSUPP" || ErrnoName(35) != "EDEADLK" || ErrnoName(41) != "E41" || ErrnoName(512) != "E512" {
		t.Errorf("errno names: %s %s %s %s %s", ErrnoName(11), ErrnoName(95), ErrnoName(35), ErrnoName(41), ErrnoName(512))
	}
}

func TestExpectationMatching(t *testing.T) {
	wait := resultSpec{kind: KindWait}
	one := Result{Kind: KindWait, Value: 1, Events: []Event{{Mask: 0x5, Data: 0x2a}}}
	tests := []struct {
		spec   resultSpec
		expect string
		r      Result
		want   bool
	}{
		{wait, "*", Result{Kind: KindErrno, Errno: "EINTR"}, true},
		{wait, "*", Result{Kind: KindTimeout}, true},
		{wait, "1 [IN|OUT 0x2a]", one, true},
		// White space, hex or decimal data, names or numbers for masks.
		{wait, "  1   [ IN|OUT   42 ]  ", one, true},
		{wait, "1 [0x5 0x2A]", one, true},
		{wait, "1 [OUT|IN 0x2a]", one, true},
		{wait, "1 [IN 0x2a]", one, false},
		{wait, "0", one, false},
		{wait, "0 || 1 [IN|OUT 0x2a]", one, true},
		{wait, "0 || EINTR", one, false},
		{wait, "0 || EINTR", Result{Kind: KindErrno, Errno: "EINTR"}, true},
		{wait, "0", Result{Kind: KindWait}, true},
		{wait, "0", Result{Kind: KindWait, Events: []Event{}}, true},
		// Errno aliases.
		{resultSpec{kind: KindValue}, "EWOULDBLOCK", Result{Kind: KindErrno, Errno: "EAGAIN"}, true},
		{resultSpec{kind: KindValue}, "ENOTSUP", Result{Kind: KindErrno, Errno: "EOPNOTSUPP"}, true},
		{resultSpec{kind: KindValue}, "E11", Result{Kind: KindErrno, Errno: "EAGAIN"}, true},
		{resultSpec{kind: KindValue}, "0x10", Result{Kind: KindValue, Value: 16}, true},
		// fds by shape, whatever the numbers were.
		{resultSpec{kind: KindFDs, nfds: 2}, "fd fd", Result{Kind: KindFDs, Value: 2}, true},
		{resultSpec{kind: KindFDs, nfds: 1}, "fd", Result{Kind: KindFDs, Value: 1}, true},
		{resultSpec{kind: KindFDs, nfds: 1}, "fd", Result{Kind: KindErrno, Errno: "EMFILE"}, false},
		{resultSpec{kind: KindPoll}, "1 IN|OUT", Result{Kind: KindPoll, Value: 1, Mask: 5}, true},
		{resultSpec{kind: KindPoll}, "0 0", Result{Kind: KindPoll}, true},
		{resultSpec{kind: KindGetfl}, "RDWR NONBLOCK", Result{Kind: KindGetfl, Mask: 0x802}, true},
		{resultSpec{kind: KindGetfl}, "NONBLOCK|RDWR", Result{Kind: KindGetfl, Mask: 0x802}, true},
		{resultSpec{kind: KindGetfd}, "CLOEXEC", Result{Kind: KindGetfd, Mask: 1}, true},
		{resultSpec{kind: KindFdinfo}, "", Result{Kind: KindFdinfo}, true},
		{resultSpec{kind: KindFdinfo}, "[r IN 0x1]", Result{Kind: KindFdinfo, Entries: []FdinfoEntry{{"r", 1, 1}}}, true},
		{resultSpec{kind: KindFdinfo}, "[0x7 IN 0x1]", Result{Kind: KindFdinfo, Entries: []FdinfoEntry{{"7", 1, 1}}}, true},
		{resultSpec{kind: KindFdinfo}, "[s IN 0x1]", Result{Kind: KindFdinfo, Entries: []FdinfoEntry{{"r", 1, 1}}}, false},
		{resultSpec{kind: KindNone}, "-", Result{Kind: KindNone}, true},
	}
	for _, tc := range tests {
		e, err := parseExpectation(tc.spec, tc.expect)
		if err != nil {
			t.Errorf("parseExpectation(%q): %v", tc.expect, err)
			continue
		}
		if got := e.Matches(tc.r); got != tc.want {
			t.Errorf("%q matches %s = %v, want %v", tc.expect, tc.r, got, tc.want)
		}
	}
}

// FuzzParse feeds arbitrary text to the parser: it must never panic, and a
// script it accepts must print and re-parse to the same thing.
func FuzzParse(f *testing.F) {
	f.Add(roundTripScript)
	f.Add("ep = epoll_create1 0\nepoll_wait ep 8 0 => 0 || 1 [IN 0x1]\nfdinfo ep =>\n!! stop")
	f.Add("T & r, w = pipe2 0 within 1..2\njoin T => *\ninterrupt T")
	f.Add("t = timerfd_create 1 0\ntimerfd_settime t ABSTIME +5 0 # c\n")
	seeds, _ := filepath.Glob("testdata/*/*.script")
	for i, p := range seeds {
		if i%8 != 0 && !strings.Contains(p, "selftest") {
			continue
		}
		if data, err := os.ReadFile(p); err == nil {
			f.Add(string(data))
		}
	}
	f.Fuzz(func(t *testing.T, text string) {
		sc, err := Parse("fuzz.script", text)
		if err != nil {
			return
		}
		printed := FormatScript(sc)
		sc2, err := Parse("fuzz.script", printed)
		if err != nil {
			t.Fatalf("printed script does not parse: %v\ninput:\n%q\nprinted:\n%s", err, text, printed)
		}
		if again := FormatScript(sc2); again != printed {
			t.Fatalf("printing is not stable:\n%s\nvs\n%s", printed, again)
		}
		if len(sc2.Steps) != len(sc.Steps) || sc2.Abort != oneLine(sc.Abort) {
			t.Fatalf("round trip changed the script:\n%q\n%q", text, printed)
		}
		for i := range sc.Steps {
			a, b := sc.Steps[i], sc2.Steps[i]
			if a.Text() != b.Text() || a.Joins != b.Joins {
				t.Fatalf("step %d changed: %q -> %q", i, a.Text(), b.Text())
			}
			if (a.Expect == nil) != (b.Expect == nil) || a.Expect != nil && a.Expect.String() != b.Expect.String() {
				t.Fatalf("step %d expectation changed", i)
			}
			if a.Expect != nil && !a.Expect.Any {
				for k := range a.Expect.Alts {
					if !a.Expect.Alts[k].Equal(b.Expect.Alts[k]) {
						t.Fatalf("step %d result %d changed: %s vs %s", i, k, a.Expect.Alts[k], b.Expect.Alts[k])
					}
				}
			}
		}
	})
}
