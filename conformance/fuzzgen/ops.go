package fuzzgen

import (
	"fmt"
	"strconv"
	"strings"
)

// Value tables. A selector byte picks an entry modulo the table's length.
// In the tables of creation flags and arguments, the entries before the
// table's "valid" count always succeed and the others always fail, so the
// generator knows whether a creation binds names.

type choice struct {
	text string
	val  int64
}

type table struct {
	vals  []choice
	valid int // vals[:valid] succeed
}

func (t *table) pick(g *gen) (choice, bool) {
	i := g.sel(len(t.vals))
	return t.vals[i], i < t.valid
}

// index returns the selector byte of the entry with that value and
// validity, for Encode; -1 if none.
func (t *table) index(val int64) int {
	for i, c := range t.vals {
		if c.val == val {
			return i
		}
	}
	return -1
}

func nums(vs ...int64) []choice {
	out := make([]choice, len(vs))
	for i, v := range vs {
		out[i] = choice{strconv.FormatInt(v, 10), v}
	}
	return out
}

const (
	oNonblock  = 0x800
	oCloexec   = 0x80000
	oDirect    = 0x4000
	oAppend    = 0x400
	efdSemaphr = 1
	maxEvents  = 178956970 // INT_MAX / sizeof(struct epoll_event)
	intMin     = -1 << 31
	intMax     = 1<<31 - 1
)

var (
	create1Tab = table{vals: []choice{{"0", 0}, {"CLOEXEC", oCloexec}, {"1", 1}, {"0x800", oNonblock}, {"0xffffffff", -1}}, valid: 2}
	sizeTab    = table{vals: nums(1, 8, intMax, 0, -1, intMin), valid: 3}
	pipeTab    = table{vals: []choice{
		{"NONBLOCK", oNonblock}, {"NONBLOCK|CLOEXEC", oNonblock | oCloexec}, {"NONBLOCK|DIRECT", oNonblock | oDirect},
		{"NONBLOCK|CLOEXEC|DIRECT", oNonblock | oCloexec | oDirect}, {"1", 1}, {"0xffffffff", -1}}, valid: 4}
	efdInitTab  = table{vals: nums(0, 1, 2, 3, 7, 0xfffffffe, 0xffffffff), valid: 7}
	efdFlagsTab = table{vals: []choice{
		{"NONBLOCK", oNonblock}, {"NONBLOCK|SEMAPHORE", oNonblock | efdSemaphr}, {"NONBLOCK|CLOEXEC", oNonblock | oCloexec},
		{"NONBLOCK|SEMAPHORE|CLOEXEC", oNonblock | efdSemaphr | oCloexec}, {"2", 2}, {"0xffffffff", -1}}, valid: 4}
	sockTypeTab  = table{vals: []choice{{"STREAM", 1}, {"DGRAM", 2}, {"SEQPACKET", 5}, {"0", 0}, {"4", 4}}, valid: 3}
	sockFlagsTab = table{vals: []choice{{"NONBLOCK", oNonblock}, {"NONBLOCK|CLOEXEC", oNonblock | oCloexec}, {"0x100", 0x100}}, valid: 2}
	clockTab     = table{vals: []choice{{"MONOTONIC", 1}, {"REALTIME", 0}, {"BOOTTIME", 7}, {"2", 2}, {"3", 3}, {"-1", -1}}, valid: 3}
	tfdFlagsTab  = table{vals: []choice{{"NONBLOCK", oNonblock}, {"NONBLOCK|CLOEXEC", oNonblock | oCloexec}, {"1", 1}, {"0x100", 0x100}}, valid: 2}
	dup3Tab      = table{vals: []choice{{"0", 0}, {"CLOEXEC", oCloexec}, {"1", 1}, {"0x800", oNonblock}}, valid: 2}

	ctlOpTab = []string{"ADD", "MOD", "DEL", "ADD", "MOD", "ADD", "0", "4", "0xffffffff"}
	// ctl event-pointer forms: most pass an event, the rest NULL or BADPTR.
	ctlFormTab = []string{"", "", "", "", "", "", "", "-", "NULL", "BADPTR"}

	// maxevents: the valid ones first.
	maxevTab   = table{vals: nums(1, 2, 3, 8, 64, maxEvents, 0, -1, maxEvents+1, intMin), valid: 6}
	bufTab     = []string{"", "", "", "", "", "", "NULL", "BADPTR"}
	sigsTab    = []string{"NULL", "0", "USR1", "USR1|USR2", "NULL", "BADPTR"}
	badTimeout = []string{"0", "-1", "1000"} // timeouts used only with an invalid maxevents
	// epoll_pwait2 timeouts: "sec nsec" or a pointer; NULL only with an
	// invalid maxevents (else it would wait forever).
	tsTab = []string{"0 0", "0 0", "0 0", "0 0", "0 1", "-1 0", "0 1000000000", "0 -1", "BADPTR", "NULL"}

	sizeIOTab = nums(1, 2, 7, 8, 9, 100, 4096, 0, 512, 4095, 4097, 8192, 65535, 65536, 65537, 100000, 212992, 300000)
	efdValTab = []choice{{"1", 1}, {"2", 2}, {"0", 0}, {"3", 3}, {"100", 100},
		{"0xfffffffffffffffe", -2}, {"0xffffffffffffffff", -1}, {"0x7fffffffffffffff", 1<<63 - 1}, {"0xfffffffffffffffd", -3}}
	howTab   = []string{"RD", "WR", "RDWR", "3", "-1"}
	setflTab = []choice{{"NONBLOCK", oNonblock}, {"0", 0}, {"0xc00", oNonblock | oAppend}, {"0x400", oAppend},
		{"0x4800", oNonblock | oDirect}, {"0x4000", oDirect}, {"0xffffffff", -1}}

	// Event masks for epoll_ctl (selector < 0x80; otherwise 4 raw bytes).
	ctlMaskTab = []uint32{
		evIn, evOut, evIn | evOut, evIn | evET, evOut | evET, evIn | evOut | evET,
		evIn | evOneshot, evIn | evET | evOneshot, evIn | evExclusive, evIn | evOut | evExclusive,
		evIn | evET | evExclusive, evIn | evRdhup, evIn | evRdhup | evET, evPri, evErr | evHup, 0,
		evIn | evOut | evPri | evRdnorm | evRdband | evWrnorm | evWrband | evMsg | evRdhup,
		evOneshot, evET, evExclusive | evOneshot, evIn | evWakeup, evHup, evRdnorm, evWrnorm,
		evOut | evExclusive | evET, evIn | evOut | evOneshot | evET,
	}
	// Event masks for poll (selector < 0x80; otherwise 2 raw bytes).
	pollMaskTab = []uint32{
		evIn, evOut, evIn | evOut, evPri, evRdhup, evIn | evRdhup, 0, evRdnorm | evWrnorm,
		evIn | evOut | evPri | evErr | evHup | evNval | evRdnorm | evRdband | evWrnorm | evWrband | evMsg | evRdhup,
		evErr | evHup | evNval, evIn | evPri | evRdnorm | evRdband, evOut | evWrnorm | evWrband,
	}
)

// Epoll event bits, named as scripts name them.
const (
	evIn        = 0x1
	evPri       = 0x2
	evOut       = 0x4
	evErr       = 0x8
	evHup       = 0x10
	evNval      = 0x20
	evRdnorm    = 0x40
	evRdband    = 0x80
	evWrnorm    = 0x100
	evWrband    = 0x200
	evMsg       = 0x400
	evRdhup     = 0x2000
	evExclusive = 1 << 28
	evWakeup    = 1 << 29
	evOneshot   = 1 << 30
	evET        = 1 << 31
)

var evNames = []struct {
	name string
	bit  uint32
}{
	{"IN", evIn}, {"OUT", evOut}, {"PRI", evPri}, {"ERR", evErr}, {"HUP", evHup},
	{"NVAL", evNval}, {"RDNORM", evRdnorm}, {"RDBAND", evRdband}, {"WRNORM", evWrnorm},
	{"WRBAND", evWrband}, {"MSG", evMsg}, {"RDHUP", evRdhup},
	{"EXCLUSIVE", evExclusive}, {"WAKEUP", evWakeup}, {"ONESHOT", evOneshot}, {"ET", evET},
}

// maskText prints a mask with flag names when every bit has one, else as
// a hexadecimal number (scripts never mix names and numbers in a mask).
func maskText(m uint32) string {
	if m == 0 {
		return "0"
	}
	var parts []string
	rest := m
	for _, n := range evNames {
		if rest&n.bit != 0 {
			parts = append(parts, n.name)
			rest &^= n.bit
		}
	}
	if rest != 0 {
		return "0x" + strconv.FormatUint(uint64(m), 16)
	}
	return strings.Join(parts, "|")
}

// mask decodes a mask: a selector below 0x80 picks from tab, any other is
// followed by the raw value (width bytes).
func (g *gen) mask(tab []uint32, width int) uint32 {
	s := g.byte()
	if s < 0x80 {
		return tab[int(s)%len(tab)]
	}
	if width == 2 {
		return uint32(g.byte()) | uint32(g.byte())<<8
	}
	return g.u32()
}

// data decodes epoll_data: a byte below 0x80 is that small number, any
// other is followed by 8 raw bytes.
func (g *gen) data() uint64 {
	s := g.byte()
	if s < 0x80 {
		return uint64(s)
	}
	return g.u64()
}

// op decodes one operation and emits its step(s).
func (g *gen) op() {
	g.nops++
	g.bound = g.bound[:0]
	code := opTable[int(g.byte())%len(opTable)]
	switch code {
	case opEpollCreate1:
		if c, ok := create1Tab.pick(g); ok {
			g.emit("%s = epoll_create1 %s", g.bind("ep", kEpoll, nil), c.text)
		} else {
			g.emit("epoll_create1 %s", c.text)
		}
	case opEpollCreate:
		if c, ok := sizeTab.pick(g); ok {
			g.emit("%s = epoll_create %s", g.bind("ep", kEpoll, nil), c.text)
		} else {
			g.emit("epoll_create %s", c.text)
		}
	case opPipe2:
		if c, ok := pipeTab.pick(g); ok {
			g.emit("%s = pipe2 %s", g.bindPair("r", "w", kPipeR, kPipeW), c.text)
		} else {
			g.emit("pipe2 %s", c.text)
		}
	case opEventfd2:
		init, _ := efdInitTab.pick(g)
		if c, ok := efdFlagsTab.pick(g); ok {
			g.emit("%s = eventfd2 %s %s", g.bind("ev", kEventfd, nil), init.text, c.text)
		} else {
			g.emit("eventfd2 %s %s", init.text, c.text)
		}
	case opSocketpair, opSocket:
		pair := code == opSocketpair
		typ, tok := sockTypeTab.pick(g)
		flags, fok := sockFlagsTab.pick(g)
		switch {
		case !tok || !fok:
			if pair {
				g.emit("socketpair %s %s", typ.text, flags.text)
			} else {
				g.emit("socket %s %s", typ.text, flags.text)
			}
		case pair:
			g.emit("%s = socketpair %s %s", g.bindPair("sa", "sb", kSocket, kSocket), typ.text, flags.text)
		default:
			g.emit("%s = socket %s %s", g.bind("us", kUnconn, nil), typ.text, flags.text)
		}
	case opTimerfdCreate:
		clock, cok := clockTab.pick(g)
		flags, fok := tfdFlagsTab.pick(g)
		if cok && fok {
			g.emit("%s = timerfd_create %s %s", g.bind("tm", kTimerfd, nil), clock.text, flags.text)
		} else {
			g.emit("timerfd_create %s %s", clock.text, flags.text)
		}
	case opOpenRegular:
		g.emit("%s = open_regular", g.bind("f", kRegular, nil))
	case opDup:
		old := g.fdRef()
		if f := g.fileOf(old.num); f != nil {
			g.emit("%s = dup %s", g.bind("d", f.kind, f), old.text)
		} else {
			g.emit("dup %s", old.text)
		}
	case opDup2:
		old, nw := g.fdRef(), g.fdRef()
		g.emit("dup2 %s %s", old.text, nw.text)
		g.dupOnto(old, nw)
	case opDup3:
		old, nw := g.fdRef(), g.fdRef()
		flags, ok := dup3Tab.pick(g)
		g.emit("dup3 %s %s %s", old.text, nw.text, flags.text)
		if ok && old.num != nw.num {
			g.dupOnto(old, nw)
		}
	case opClose:
		r := g.fdRef()
		g.emit("close %s", r.text)
		if g.fileOf(r.num) != nil {
			delete(g.fds, int32(r.num))
		}
	case opCtl:
		g.ctl()
	case opWait, opPwait, opPwait2:
		g.wait(code)
	case opPoll:
		r := g.fdRef()
		g.emit("poll %s %s 0", r.text, pollMaskText(g.mask(pollMaskTab, 2)))
	case opFdinfo:
		g.emit("fdinfo %s", g.epRef().text)
	case opWrite, opRead:
		verb := "write"
		if code == opRead {
			verb = "read"
		}
		r := g.fdRef()
		g.emit("%s %s %s", verb, r.text, sizeIOTab[g.sel(len(sizeIOTab))].text)
	case opEventfdWrite:
		r := g.fdRef()
		g.emit("eventfd_write %s %s", r.text, efdValTab[g.sel(len(efdValTab))].text)
	case opEventfdRead:
		g.emit("eventfd_read %s", g.fdRef().text)
	case opShutdown:
		r := g.fdRef()
		g.emit("shutdown %s %s", r.text, howTab[g.sel(len(howTab))])
	case opTimer:
		g.timer()
	case opSetfl:
		r := g.fdRef()
		c := setflTab[g.sel(len(setflTab))]
		if k, ok := g.kindOf(r); ok && k != kEpoll && k != kRegular && c.val&oNonblock == 0 {
			// Clearing O_NONBLOCK would let a later read or write block.
			// Every entry has one with O_NONBLOCK added.
			want := c.val | oNonblock
			for _, x := range setflTab {
				if x.val == want {
					c = x
				}
			}
		}
		g.emit("fcntl_setfl %s %s", r.text, c.text)
	case opGetfl:
		g.emit("fcntl_getfl %s", g.fdRef().text)
	case opGetfd:
		g.emit("fcntl_getfd %s", g.fdRef().text)
	}
}

// dupOnto simulates a dup2/dup3 that passed its flag checks: it succeeds
// when old is open and new is a valid number below the model's limit.
func (g *gen) dupOnto(old, nw ref) {
	f := g.fileOf(old.num)
	if f == nil || nw.num < 0 || nw.num >= 1024 || old.num == nw.num {
		return
	}
	g.fds[int32(nw.num)] = f
}

// pollMaskText prints poll's 16-bit events (which have no private flags).
func pollMaskText(m uint32) string { return maskText(m & 0xffff) }

func (g *gen) ctl() {
	ep := g.epRef()
	op := ctlOpTab[g.sel(len(ctlOpTab))]
	fd := g.fdRef()
	switch form := ctlFormTab[g.sel(len(ctlFormTab))]; form {
	case "":
		m := g.mask(ctlMaskTab, 4)
		d := g.data()
		g.emit("epoll_ctl %s %s %s %s 0x%x", ep.text, op, fd.text, maskText(m), d)
	case "-":
		g.emit("epoll_ctl %s %s %s", ep.text, op, fd.text)
	default:
		g.emit("epoll_ctl %s %s %s %s", ep.text, op, fd.text, form)
	}
}

func (g *gen) wait(op opcode) {
	ep := g.epRef()
	maxev, valid := maxevTab.pick(g)
	buf := bufTab[g.sel(len(bufTab))]
	if buf == "BADPTR" && maxev.val == maxEvents {
		// BADPTR plus 2 GiB may leave user space on one backend only.
		buf = ""
	}
	sigs := "NULL"
	if op != opWait {
		sigs = sigsTab[g.sel(len(sigsTab))]
	}
	switch op {
	case opWait, opPwait:
		timeout := "0"
		if t := g.byte(); !valid {
			timeout = badTimeout[int(t)%len(badTimeout)]
		}
		call := fmt.Sprintf("epoll_wait %s %s %s", ep.text, maxev.text, timeout)
		if op == opPwait {
			call = fmt.Sprintf("epoll_pwait %s %s %s %s", ep.text, maxev.text, timeout, sigs)
		}
		if buf != "" {
			call += " " + buf
		}
		g.emit("%s", call)
	case opPwait2:
		ts := tsTab[g.sel(len(tsTab))]
		if ts == "NULL" && valid {
			ts = "0 0"
		}
		call := fmt.Sprintf("epoll_pwait2 %s %s %s", ep.text, maxev.text, ts)
		switch {
		case buf != "":
			call += " " + sigs + " " + buf
		case sigs != "NULL":
			call += " " + sigs
		}
		g.emit("%s", call)
	}
}

// timer forms. The expired ones are followed by a poll that waits for the
// expiry (a timer fires asynchronously on Linux), so their outcome is
// deterministic.
var timerForms = []struct {
	args    string
	expired bool
}{
	{"0 1000000 0", false},
	{"ABSTIME +1000000 0", false},
	{"0 0 0", false},
	{"ABSTIME 1 0", true},
	{"0 -1 0", false},
	{"4 1000000 0", false},
	{"0 1000000 1000000", false},
	{"3 +1000000 0", false},
	{"3 1 0", true},
}

func (g *gen) timer() {
	r := g.fdRef()
	form := timerForms[g.sel(len(timerForms))]
	g.emit("timerfd_settime %s %s", r.text, form.args)
	if k, ok := g.kindOf(r); ok && k == kTimerfd && form.expired {
		g.emit("poll %s IN 1000", r.text)
	}
}
