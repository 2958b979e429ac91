package conformance

import (
	"fmt"
	"strings"
)

// Script is a parsed conformance script (or a parsed trace).
type Script struct {
	Path  string
	Steps []*Step
	// Abort is the reason of a trailing "!! REASON" line. Only traces have
	// one; running a script that has one is refused.
	Abort     string `json:",omitempty"`
	AbortLine int    `json:",omitempty"`
	// Lines is the raw text, split on '\n', kept for recording.
	Lines []string `json:"-"`
}

// StepKind says what a step does.
type StepKind string

// The step kinds.
const (
	StepCall      StepKind = "call"      // a call on the main script thread
	StepSpawn     StepKind = "spawn"     // T & CALL
	StepJoin      StepKind = "join"      // join T
	StepSleep     StepKind = "sleep"     // sleep MS
	StepInterrupt StepKind = "interrupt" // interrupt T
)

// Step is one line of a script.
type Step struct {
	Line   int
	Kind   StepKind
	Thread string `json:",omitempty"` // spawn, join, interrupt
	Call   *Call  `json:",omitempty"` // call, spawn
	Sleep  int64  `json:",omitempty"` // sleep: milliseconds
	Within *Within
	Expect *Expectation `json:",omitempty"`
	// Joins is, for a join step, the index in Script.Steps of the spawn
	// step whose call it joins (resolved when parsing).
	Joins int `json:",omitempty"`

	// Layout of the source line, for recording: byte offsets in the raw
	// line of "=>" (-1 if none) and of '#' (-1 if none).
	arrowCol, commentCol int
}

// Within is a "within MIN..MAX" timing bound in milliseconds.
type Within struct{ Min, Max int64 }

// Call is one system-call step: an operation, its arguments as written,
// and the names it binds.
type Call struct {
	Op    string
	Names []string `json:",omitempty"`
	Args  []Arg    `json:",omitempty"`
}

// ArgKind says how an argument token was written.
type ArgKind string

// The argument kinds.
const (
	ArgName     ArgKind = "name"     // an fd name
	ArgNumber   ArgKind = "number"   // a literal number
	ArgMask     ArgKind = "mask"     // flag names joined by '|'
	ArgNull     ArgKind = "null"     // NULL
	ArgBadPtr   ArgKind = "badptr"   // BADPTR
	ArgRelative ArgKind = "relative" // +MS (timerfd_settime ABSTIME value)
)

// Arg is one argument token.
type Arg struct {
	Param string  // the parameter it fills, e.g. "EVENTS"
	Text  string  // as written
	Kind  ArgKind // how it was written
	Val   uint64  // number (two's complement), mask value, or +MS milliseconds
}

// Arg returns the argument filling parameter param, or nil.
func (c *Call) Arg(param string) *Arg {
	for i := range c.Args {
		if c.Args[i].Param == param {
			return &c.Args[i]
		}
	}
	return nil
}

func (c *Call) spec() *opSpec { return opSpecs[c.Op] }

// String prints the call in canonical script syntax.
func (c *Call) String() string {
	var b strings.Builder
	if len(c.Names) > 0 {
		b.WriteString(strings.Join(c.Names, ", "))
		b.WriteString(" = ")
	}
	b.WriteString(c.Op)
	for _, a := range c.Args {
		b.WriteByte(' ')
		b.WriteString(a.Text)
	}
	return b.String()
}

// Text prints the step (without any result) in canonical script syntax.
func (s *Step) Text() string {
	var t string
	switch s.Kind {
	case StepCall:
		t = s.Call.String()
	case StepSpawn:
		t = s.Thread + " & " + s.Call.String()
	case StepJoin:
		t = "join " + s.Thread
	case StepSleep:
		t = fmt.Sprintf("sleep %d", s.Sleep)
	case StepInterrupt:
		t = "interrupt " + s.Thread
	}
	if s.Within != nil {
		t += fmt.Sprintf(" within %d..%d", s.Within.Min, s.Within.Max)
	}
	return t
}

// timingSensitive reports whether the script's results depend on timing
// (threads, sleeps, interrupts or within bounds); the runner does not run
// such scripts concurrently with others.
func (sc *Script) timingSensitive() bool {
	for _, s := range sc.Steps {
		if s.Kind != StepCall || s.Within != nil {
			return true
		}
	}
	return false
}

// paramKind is the syntax of one parameter.
type paramKind int

const (
	pFD      paramKind = iota // an fd: bound name or number
	pNewFD                    // dup2/dup3 NEW: bound name (rebound) or number
	pInt                      // 32-bit integer
	pI64                      // 64-bit integer
	pCount                    // byte count 0..MaxIO
	pMask                     // mask of the param's table, or a number
	pTime                     // milliseconds, or +MS
	pSignals                  // SIGNALS mask, number, NULL or BADPTR
	pPtr                      // NULL or BADPTR
)

type param struct {
	name  string
	kind  paramKind
	table *nameTable // pMask
	bits  int        // pMask, pInt: width of the value
}

type opSpec struct {
	name   string
	sigs   [][]param // alternative argument lists
	result resultSpec
	bind   bool // NAMES = is allowed (fd-creating calls)
}

func fdp(name string) param { return param{name: name, kind: pFD} }
func intp(name string) param {
	return param{name: name, kind: pInt, bits: 32}
}
func i64p(name string) param { return param{name: name, kind: pI64, bits: 64} }
func maskp(name string, t *nameTable, bits int) param {
	return param{name: name, kind: pMask, table: t, bits: bits}
}
func ptrp(name string) param { return param{name: name, kind: pPtr} }
func sigp() param            { return param{name: "SIGNALS", kind: pSignals, bits: 64} }

var opSpecs = func() map[string]*opSpec {
	fds := func(n int) resultSpec { return resultSpec{kind: KindFDs, nfds: n} }
	val := resultSpec{kind: KindValue}
	list := []*opSpec{
		{name: "epoll_create", sigs: [][]param{{intp("SIZE")}}, result: fds(1), bind: true},
		{name: "epoll_create1", sigs: [][]param{{maskp("FLAGS", create1Flags, 32)}}, result: fds(1), bind: true},
		{name: "pipe2", sigs: [][]param{{maskp("FLAGS", pipeFlags, 32)}}, result: fds(2), bind: true},
		{name: "eventfd2", sigs: [][]param{{intp("INIT"), maskp("FLAGS", eventfdFlags, 32)}}, result: fds(1), bind: true},
		{name: "socketpair", sigs: [][]param{{maskp("TYPE", sockTypes, 32), maskp("FLAGS", sockFlags, 32)}}, result: fds(2), bind: true},
		{name: "socket", sigs: [][]param{{maskp("TYPE", sockTypes, 32), maskp("FLAGS", sockFlags, 32)}}, result: fds(1), bind: true},
		{name: "timerfd_create", sigs: [][]param{{maskp("CLOCK", clocks, 32), maskp("FLAGS", timerfdFlags, 32)}}, result: fds(1), bind: true},
		{name: "open_regular", sigs: [][]param{{}}, result: fds(1), bind: true},
		{name: "dup", sigs: [][]param{{fdp("FD")}}, result: fds(1), bind: true},
		{name: "dup2", sigs: [][]param{{fdp("OLD"), {name: "NEW", kind: pNewFD}}}, result: fds(1)},
		{name: "dup3", sigs: [][]param{{fdp("OLD"), {name: "NEW", kind: pNewFD}, maskp("FLAGS", dup3Flags, 32)}}, result: fds(1)},
		{name: "close", sigs: [][]param{{fdp("FD")}}, result: val},
		{name: "write", sigs: [][]param{{fdp("FD"), {name: "N", kind: pCount}}}, result: val},
		{name: "read", sigs: [][]param{{fdp("FD"), {name: "N", kind: pCount}}}, result: val},
		{name: "eventfd_write", sigs: [][]param{{fdp("FD"), i64p("VALUE")}}, result: val},
		{name: "eventfd_read", sigs: [][]param{{fdp("FD")}}, result: resultSpec{kind: KindEventfdRead}},
		{name: "timerfd_settime", sigs: [][]param{{fdp("FD"), maskp("FLAGS", settimeFlags, 32), {name: "VALUE_MS", kind: pTime}, i64p("INTERVAL_MS")}}, result: val},
		{name: "shutdown", sigs: [][]param{{fdp("FD"), maskp("HOW", shutdownHows, 32)}}, result: val},
		{name: "fcntl_setfl", sigs: [][]param{{fdp("FD"), maskp("FLAGS", setflFlags, 32)}}, result: val},
		{name: "fcntl_getfl", sigs: [][]param{{fdp("FD")}}, result: resultSpec{kind: KindGetfl}},
		{name: "fcntl_getfd", sigs: [][]param{{fdp("FD")}}, result: resultSpec{kind: KindGetfd}},
		{name: "setrlimit_nofile", sigs: [][]param{{i64p("N")}}, result: val},
		{name: "poll", sigs: [][]param{{fdp("FD"), maskp("EVENTS", pollTable, 16), intp("TIMEOUT_MS")}}, result: resultSpec{kind: KindPoll}},
		{name: "epoll_ctl", sigs: [][]param{
			{fdp("EPFD"), maskp("OP", ctlOps, 32), fdp("FD")},
			{fdp("EPFD"), maskp("OP", ctlOps, 32), fdp("FD"), maskp("EVENTS", eventsTable, 32), i64p("DATA")},
			{fdp("EPFD"), maskp("OP", ctlOps, 32), fdp("FD"), ptrp("EVENT")},
		}, result: val},
		{name: "epoll_wait", sigs: [][]param{
			{fdp("EPFD"), intp("MAXEVENTS"), intp("TIMEOUT_MS")},
			{fdp("EPFD"), intp("MAXEVENTS"), intp("TIMEOUT_MS"), ptrp("BUFFER")},
		}, result: resultSpec{kind: KindWait}},
		{name: "epoll_pwait", sigs: [][]param{
			{fdp("EPFD"), intp("MAXEVENTS"), intp("TIMEOUT_MS"), sigp()},
			{fdp("EPFD"), intp("MAXEVENTS"), intp("TIMEOUT_MS"), sigp(), ptrp("BUFFER")},
		}, result: resultSpec{kind: KindWait}},
		{name: "epoll_pwait2", sigs: [][]param{
			{fdp("EPFD"), intp("MAXEVENTS"), ptrp("TIMEOUT")},
			{fdp("EPFD"), intp("MAXEVENTS"), ptrp("TIMEOUT"), sigp()},
			{fdp("EPFD"), intp("MAXEVENTS"), ptrp("TIMEOUT"), sigp(), ptrp("BUFFER")},
			{fdp("EPFD"), intp("MAXEVENTS"), i64p("SEC"), i64p("NSEC")},
			{fdp("EPFD"), intp("MAXEVENTS"), i64p("SEC"), i64p("NSEC"), sigp()},
			{fdp("EPFD"), intp("MAXEVENTS"), i64p("SEC"), i64p("NSEC"), sigp(), ptrp("BUFFER")},
		}, result: resultSpec{kind: KindWait}},
		{name: "fdinfo", sigs: [][]param{{fdp("EPFD")}}, result: resultSpec{kind: KindFdinfo}},
	}
	m := map[string]*opSpec{}
	for _, o := range list {
		m[o.name] = o
	}
	return m
}()

func (o *opSpec) usage() string {
	var alts []string
	for _, sig := range o.sigs {
		s := o.name
		for _, p := range sig {
			s += " " + p.name
		}
		alts = append(alts, "'"+s+"'")
	}
	return strings.Join(alts, " or ")
}

// stepWords are the words that start a step and cannot be fd names.
var stepWords = map[string]bool{"join": true, "sleep": true, "interrupt": true, "within": true}
