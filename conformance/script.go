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
	ArgWord     ArgKind = "word"     // a process, thread, FIFO or listener name (version 3)
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

// stepWords are the words that start a step and cannot be fd names.
var stepWords = map[string]bool{"join": true, "sleep": true, "interrupt": true, "within": true}
