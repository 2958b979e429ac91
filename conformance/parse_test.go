package conformance

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseErrors checks that every malformed form is reported with the
// file, the line and a message saying what is wrong.
func TestParseErrors(t *testing.T) {
	pre := "ep = epoll_create1 0\nr, w = pipe2 0\n" // lines 1-2 bind ep, r, w
	tests := []struct {
		name, text string
		line       int
		msg        string
	}{
		{"unknown step", "epoll_frobnicate ep", 1, `unknown step "epoll_frobnicate"`},
		{"missing op", "x = ", 1, "missing operation"},
		{"bad name", "Ep = epoll_create1 0", 1, `"Ep" is not an fd name`},
		{"names without comma", "r w = pipe2 0", 1, `"r w" is not an fd name`},
		{"empty name", "r, = pipe2 0", 1, "empty name"},
		{"duplicate name", "r, r = pipe2 0", 1, "appears twice"},
		{"step word as name", "join = dup 0", 1, "step word"},
		{"op name as name", "close = dup 0", 1, "step word"},
		{"too few names", "r = pipe2 0", 1, "returns 2 fd(s) but 1 name(s)"},
		{"binding a non-creating call", pre + "x = close r", 3, "close returns no fd"},
		{"binding dup2", pre + "x = dup2 r w", 3, "dup2 takes no 'NAME =' binding"},
		{"unbound name", "close q", 1, `name "q" is not bound`},
		{"dup2 onto unbound name", pre + "dup2 r q", 3, `NEW "q" must be a name already bound`},
		{"too many args", pre + "close r w", 3, "wrong number of arguments (2); usage: 'close FD'"},
		{"too few args", pre + "epoll_ctl ep ADD", 3, "wrong number of arguments"},
		{"bad fd token", pre + "close NULL", 3, `FD: expected an fd name or a 32-bit number, found "NULL"`},
		{"fd too wide", "close 0x100000000", 1, "32-bit number"},
		{"unknown flag", pre + "epoll_ctl ep ADD r IN|FOO 0x1", 3, `unknown name "FOO"`},
		{"mixed mask", pre + "epoll_ctl ep ADD r IN|0x4 0x1", 3, "mixes names and numbers"},
		{"spaces in mask", pre + "epoll_ctl ep ADD r IN| OUT 0x1", 3, "bad mask"},
		{"flag of another call", "pipe2 SEMAPHORE", 1, `unknown name "SEMAPHORE"`},
		{"two names in TYPE", "socket STREAM|DGRAM 0", 1, "TYPE takes one name or a number"},
		{"mask too wide", pre + "epoll_ctl ep ADD r 0x100000000 1", 3, "does not fit in 32 bits"},
		{"private flag in poll", pre + "poll r IN|ET 0", 3, `unknown name "ET"`},
		{"bad number", pre + "epoll_wait ep 8 1e3", 3, `expected a number, found "1e3"`},
		{"octal is not a number", pre + "epoll_wait ep 0o7 0", 3, "expected a number"},
		{"negative count", pre + "write w -1", 3, "expected a byte count"},
		{"count too big", pre + "read r 0x100000000", 3, "expected a byte count"},
		{"pointer token", pre + "epoll_wait ep 8 0 FOO", 3, "BUFFER: expected NULL or BADPTR"},
		{"bad signals", pre + "epoll_pwait ep 8 0 USR3", 3, `unknown name "USR3"`},
		{"pwait2 bad timeout", pre + "epoll_pwait2 ep 8 0 x", 3, "NSEC: expected a number"},
		{"relative time without ABSTIME", "t = timerfd_create MONOTONIC 0\ntimerfd_settime t 0 +5 0", 2, "needs the ABSTIME bit"},
		{"bad relative time", "t = timerfd_create MONOTONIC 0\ntimerfd_settime t ABSTIME +x 0", 2, "expected +MS"},
		{"thread name lower case", "t & close 0", 1, `"t" is not a thread name`},
		{"thread name keyword", "NULL & close 0", 1, "keyword"},
		{"thread name flag", "IN & close 0", 1, "keyword"},
		{"missing thread", "& close 0", 1, "missing thread name"},
		{"thread call not a call", "T & join U", 1, "join is not a call"},
		{"join of unknown thread", "join T", 1, "thread T was never started"},
		{"join with nothing pending", "T & close 0\njoin T\njoin T", 3, "already joined"},
		{"join without thread", "join", 1, "usage: 'join THREAD'"},
		{"interrupt of unknown thread", "interrupt T", 1, "thread T was never started"},
		{"interrupt bad name", "interrupt t", 1, "not a thread name"},
		{"sleep bad", "sleep -5", 1, "sleep: expected a number of milliseconds"},
		{"sleep too long", "sleep 999999999", 1, "sleep: expected"},
		{"sleep within", "sleep 5 within 1..2", 1, "sleep takes no 'within'"},
		{"join within", "T & close 0\njoin T within 1..2", 2, "join takes no 'within'"},
		{"join extra", "T & close 0\njoin T U", 2, "usage: 'join THREAD'"},
		{"within alone", "within 1..2", 1, "'within' must follow a call"},
		{"within not last", pre + "epoll_wait ep 8 0 within 1..2 NULL", 3, "must be the last thing"},
		{"within bad bounds", pre + "epoll_wait ep 8 0 within 5..2", 3, "bad 'within' bounds"},
		{"within no range", pre + "epoll_wait ep 8 0 within 5", 3, "bad 'within' bounds"},
		{"arrow without step", "=> 0", 1, "'=>' without a step"},
		{"empty result", pre + "close r =>", 3, "empty result after '=>'"},
		{"dash on a call", pre + "close r => -", 3, "only for steps without a result"},
		{"value on sleep", "sleep 1 => 0", 1, "this step has no result"},
		{"bad errno", pre + "close r => EFOO", 3, `unknown errno name "EFOO"`},
		{"fd count", "r, w = pipe2 0 => fd", 1, `this call returns 2 fd(s): write "fd fd"`},
		{"fd on value step", pre + "close r => fd", 3, "expected a value (a number)"},
		{"event count", pre + "epoll_wait ep 8 0 => 2 [IN 0x1]", 3, "event count 2 but 1 event(s) listed"},
		{"bad event", pre + "epoll_wait ep 8 0 => 1 [IN]", 3, "expected event data"},
		{"unclosed event", pre + "epoll_wait ep 8 0 => 1 [IN 0x1", 3, "result ends where ']' was expected"},
		{"bad event mask", pre + "epoll_wait ep 8 0 => 1 [IN|BOGUS 0x1]", 3, `unknown flag "BOGUS"`},
		{"trailing junk", pre + "close r => 0 0", 3, `unexpected "0" at the end`},
		{"poll result", pre + "poll r IN 0 => 1", 3, "result ends where revents was expected"},
		{"fdinfo target", pre + "fdinfo ep => [R IN 0x1]", 3, "expected a target fd name or number"},
		{"star with alternatives", pre + "close r => * || 0", 3, "'*' cannot be combined"},
		{"empty alternative", pre + "close r => 0 ||", 3, "empty alternative"},
		{"bad alternative", pre + "close r => 0 || EBOGUS", 3, "unknown errno name"},
		{"join result form", "T & r, w = pipe2 0\njoin T => 0 1", 2, "expected 'fd'"},
		{"abort without reason", "!!", 1, "'!!' needs a reason"},
		{"two aborts", "!! one\n!! two", 2, "a second '!!' line"},
		{"step after abort", "!! stop\nepoll_create1 0", 2, "step after the '!!' line 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("sel.script", tc.text)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded, want an error", tc.text)
			}
			var pe ParseErrors
			if !errors.As(err, &pe) || len(pe) == 0 {
				t.Fatalf("error %v is not ParseErrors", err)
			}
			e := pe[0]
			if e.Path != "sel.script" || e.Line != tc.line {
				t.Errorf("error at %s:%d, want sel.script:%d (%v)", e.Path, e.Line, tc.line, e)
			}
			if !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("message %q does not contain %q", e.Msg, tc.msg)
			}
			prefix := "sel.script:" + strconv.Itoa(tc.line) + ": "
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("Error() = %q, want prefix %q", err.Error(), prefix)
			}
		})
	}
}

func TestParseReportsEveryError(t *testing.T) {
	_, err := Parse("x.script", "bogus1\nep = epoll_create1 0\nbogus2 # comment\n\nclose ep => EXYZ\n")
	var pe ParseErrors
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v", err)
	}
	var lines []int
	for _, e := range pe {
		lines = append(lines, e.Line)
	}
	if diff := cmp.Diff([]int{1, 3, 5}, lines); diff != "" {
		t.Errorf("error lines (-want +got):\n%s\n%v", diff, err)
	}
}

func TestParseStructure(t *testing.T) {
	text := `# comment line

r, w = pipe2 NONBLOCK|CLOEXEC   # trailing comment
ep = epoll_create1 0x80000
epoll_ctl ep ADD r IN|ET 0x1 => 0
epoll_ctl ep DEL r
epoll_ctl ep MOD 7 BADPTR => EFAULT || ENOENT
W & x = dup r within 0..100
W & epoll_pwait2 ep 8 NULL USR1|USR2 BADPTR
join W => fd
sleep 20
interrupt W
join W => *
timerfd_create MONOTONIC 0
eventfd_write w -1
dup2 r x =>fd
epoll_wait ep 8 -1 NULL
`
	sc, err := Parse("s.script", text)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range sc.Steps {
		got = append(got, st.Text())
	}
	want := []string{
		"r, w = pipe2 NONBLOCK|CLOEXEC",
		"ep = epoll_create1 0x80000",
		"epoll_ctl ep ADD r IN|ET 0x1",
		"epoll_ctl ep DEL r",
		"epoll_ctl ep MOD 7 BADPTR",
		"W & x = dup r within 0..100",
		"W & epoll_pwait2 ep 8 NULL USR1|USR2 BADPTR",
		"join W",
		"sleep 20",
		"interrupt W",
		"join W",
		"timerfd_create MONOTONIC 0",
		"eventfd_write w -1",
		"dup2 r x",
		"epoll_wait ep 8 -1 NULL",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("steps (-want +got):\n%s", diff)
	}
	st := sc.Steps
	if st[0].Line != 3 || st[0].Kind != StepCall || !cmp.Equal(st[0].Call.Names, []string{"r", "w"}) {
		t.Errorf("step 0 = %+v", st[0])
	}
	if a := st[0].Call.Arg("FLAGS"); a.Kind != ArgMask || a.Val != 0x80800 {
		t.Errorf("pipe2 FLAGS = %+v", a)
	}
	if a := st[1].Call.Arg("FLAGS"); a.Kind != ArgNumber || a.Val != 0x80000 {
		t.Errorf("epoll_create1 FLAGS = %+v", a)
	}
	if ev := st[2].Call.Arg("EVENTS"); ev.Val != 0x80000001 {
		t.Errorf("EVENTS = %#x", ev.Val)
	}
	if st[3].Call.Arg("EVENTS") != nil || st[3].Call.Arg("EVENT") != nil {
		t.Errorf("three-argument epoll_ctl has an event argument")
	}
	if a := st[4].Call.Arg("EVENT"); a == nil || a.Kind != ArgBadPtr {
		t.Errorf("EVENT = %+v", a)
	}
	if e := st[4].Expect; e == nil || len(e.Alts) != 2 || e.Alts[1].Errno != "ENOENT" {
		t.Errorf("expectation = %+v", e)
	}
	if st[5].Kind != StepSpawn || st[5].Thread != "W" || st[5].Within == nil || st[5].Within.Max != 100 {
		t.Errorf("spawn = %+v", st[5])
	}
	p2 := st[6].Call
	if p2.Arg("TIMEOUT").Kind != ArgNull || p2.Arg("SIGNALS").Val != 1<<9|1<<11 || p2.Arg("BUFFER").Kind != ArgBadPtr {
		t.Errorf("pwait2 args = %+v", p2.Args)
	}
	if st[7].Kind != StepJoin || st[7].Joins != 5 || st[7].Expect.Alts[0].Kind != KindFDs {
		t.Errorf("first join = %+v", st[7])
	}
	if st[10].Joins != 6 || !st[10].Expect.Any {
		t.Errorf("second join = %+v", st[10])
	}
	if v := st[12].Call.Arg("VALUE"); v.Val != 1<<64-1 {
		t.Errorf("VALUE -1 = %#x", v.Val)
	}
	if a := st[13].Call.Arg("NEW"); a.Kind != ArgName || a.Text != "x" {
		t.Errorf("dup2 NEW = %+v", a)
	}
}

func TestParseTrace(t *testing.T) {
	sc, err := Parse("t", "T & close 0 => -\njoin T => TIMEOUT\n# note\n!! thread T: still running\n\n")
	if err != nil {
		t.Fatal(err)
	}
	if sc.Abort != "thread T: still running" || sc.AbortLine != 4 {
		t.Errorf("abort = %q at %d", sc.Abort, sc.AbortLine)
	}
	if r := sc.Steps[1].Expect.Alts[0]; r.Kind != KindTimeout {
		t.Errorf("join result = %+v", r)
	}
}

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in       string
		v        uint64
		neg, ok  bool
		fits32   bool
		fitsMask bool
	}{
		{"0", 0, false, true, true, true},
		{"42", 42, false, true, true, true},
		{"-1", 1<<64 - 1, true, true, true, false},
		{"0x2a", 42, false, true, true, true},
		{"0X2A", 42, false, true, true, true},
		{"0xffffffff", 0xffffffff, false, true, true, true},
		{"0x100000000", 1 << 32, false, true, false, false},
		{"-2147483648", 1<<64 - 1<<31, true, true, true, false},
		{"-2147483649", 1<<64 - 1<<31 - 1, true, true, false, false},
		{"18446744073709551615", 1<<64 - 1, false, true, false, false},
		{"18446744073709551616", 0, false, false, false, false},
		{"-9223372036854775808", 1 << 63, true, true, false, false},
		{"-9223372036854775809", 0, false, false, false, false},
		{"", 0, false, false, false, false},
		{"-", 0, false, false, false, false},
		{"0x", 0, false, false, false, false},
		{"1_000", 0, false, false, false, false},
		{"0b1", 0, false, false, false, false},
		{"+1", 0, false, false, false, false},
		{"12a", 0, false, false, false, false},
	}
	for _, tc := range tests {
		v, neg, ok := parseNumber(tc.in)
		if ok != tc.ok || ok && (v != tc.v || neg != tc.neg) {
			t.Errorf("parseNumber(%q) = %#x, %v, %v; want %#x, %v, %v", tc.in, v, neg, ok, tc.v, tc.neg, tc.ok)
			continue
		}
		if ok && fitsBits(v, neg, 32) != tc.fits32 {
			t.Errorf("fitsBits(%q, 32) = %v", tc.in, !tc.fits32)
		}
	}
}

func TestParseCRLFAndTabs(t *testing.T) {
	sc, err := Parse("crlf", "ep = epoll_create1 0\r\n\tepoll_wait\tep 8 0\t=> 0 \r\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Steps) != 2 || sc.Steps[1].Text() != "epoll_wait ep 8 0" || sc.Steps[1].Expect.Alts[0].Kind != KindWait {
		t.Errorf("steps = %v", FormatScript(sc))
	}
}
