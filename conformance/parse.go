package conformance

import (
	"fmt"

	"strconv"
	"strings"
)

// ParseError is one problem in a script, with its file and line.
type ParseError struct {
	Path string
	Line int
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg) }

// ParseErrors is every problem found in one script, in line order.
type ParseErrors []*ParseError

func (es ParseErrors) Error() string {
	var s []string
	for _, e := range es {
		s = append(s, e.Error())
	}
	return strings.Join(s, "\n")
}

const maxParseErrors = 20

// maxSleepMS bounds sleep steps, to catch typos.
const maxSleepMS = 600000

// Parse parses the text of a script or of a trace. path is used in error
// messages. All problems found are returned as ParseErrors (at most 20);
// Parse never panics, whatever the input.
func Parse(path, text string) (*Script, error) {
	p := &parser{
		sc:       &Script{Path: path, Lines: strings.Split(text, "\n")},
		declared: map[string]bool{},
		threads:  map[string]*threadInfo{},
		procs:    map[string]procPhase{},
	}
	for i, raw := range p.sc.Lines {
		if len(p.errs) >= maxParseErrors {
			break
		}
		p.line = i + 1
		p.parseLine(raw)
	}
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return p.sc, nil
}

type threadInfo struct {
	pending []int // spawn step indices not yet joined, oldest first
}

type parser struct {
	sc       *Script
	line     int
	errs     ParseErrors
	declared map[string]bool // fd names bound so far (statically)
	threads  map[string]*threadInfo
	procs    map[string]procPhase // version 3's process names
}

func (p *parser) errorf(format string, args ...any) {
	p.errs = append(p.errs, &ParseError{Path: p.sc.Path, Line: p.line, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) parseLine(raw string) {
	trimmed := strings.TrimSpace(raw)
	if trimmed == "" || trimmed[0] == '#' {
		return
	}
	if strings.HasPrefix(trimmed, "!!") {
		if p.sc.AbortLine != 0 {
			p.errorf("a second '!!' line (the first is line %d)", p.sc.AbortLine)
			return
		}
		reason := strings.TrimSpace(trimmed[2:])
		if reason == "" {
			p.errorf("'!!' needs a reason")
			return
		}
		p.sc.Abort, p.sc.AbortLine = reason, p.line
		return
	}
	if p.sc.AbortLine != 0 {
		p.errorf("step after the '!!' line %d (a trace ends there)", p.sc.AbortLine)
		return
	}
	code, commentCol := raw, -1
	if j := strings.IndexByte(raw, '#'); j >= 0 {
		code, commentCol = raw[:j], j
	}
	stepText, resText, arrowCol := code, "", -1
	if k := strings.Index(code, "=>"); k >= 0 {
		stepText, resText, arrowCol = code[:k], code[k+2:], k
	}
	if strings.TrimSpace(stepText) == "" {
		p.errorf("'=>' without a step before it")
		return
	}
	st, ok := p.parseStep(stepText)
	if !ok {
		return
	}
	st.Line, st.arrowCol, st.commentCol = p.line, arrowCol, commentCol
	// Check the step against earlier ones and its result before changing
	// any state, so that a bad line leaves no trace.
	if !p.check(st) {
		return
	}
	if arrowCol >= 0 {
		spec := resultSpec{kind: KindNone}
		switch st.Kind {
		case StepCall:
			spec = st.Call.spec().result
		case StepJoin:
			spec = p.sc.Steps[st.Joins].Call.spec().result
		}
		e, err := parseExpectation(spec, resText)
		if err != nil {
			p.errorf("%s: bad result: %v", st.describe(), err)
			return
		}
		st.Expect = e
	}
	p.commit(st, len(p.sc.Steps))
	p.sc.Steps = append(p.sc.Steps, st)
}

func (s *Step) describe() string {
	if s.Call != nil {
		return s.Call.Op
	}
	return string(s.Kind)
}

// check performs the static checks that depend on earlier steps (threads)
// and resolves a join to the spawn step it joins. It changes no state.
func (p *parser) check(st *Step) bool {
	switch st.Kind {
	case StepJoin:
		t := p.threads[st.Thread]
		if t == nil {
			p.errorf("join %s: thread %s was never started (start it with '%s & CALL')", st.Thread, st.Thread, st.Thread)
			return false
		}
		if len(t.pending) == 0 {
			p.errorf("join %s: every call of %s is already joined", st.Thread, st.Thread)
			return false
		}
		st.Joins = t.pending[0]
	case StepInterrupt:
		if p.threads[st.Thread] == nil && p.procs[st.Thread] == 0 {
			p.errorf("interrupt %s: thread %s was never started", st.Thread, st.Thread)
			return false
		}
	}
	return p.checkProcess(st)
}

// commit records a checked step's effects on names and threads.
func (p *parser) commit(st *Step, idx int) {
	p.commitProcess(st)
	switch st.Kind {
	case StepCall:
		for _, n := range st.Call.Names {
			p.declared[n] = true
		}
	case StepSpawn:
		t := p.threads[st.Thread]
		if t == nil {
			t = &threadInfo{}
			p.threads[st.Thread] = t
		}
		t.pending = append(t.pending, idx)
	case StepJoin:
		t := p.threads[st.Thread]
		t.pending = t.pending[1:]
		for _, n := range p.sc.Steps[st.Joins].Call.Names {
			p.declared[n] = true
		}
	}
}

func (p *parser) parseStep(text string) (*Step, bool) {
	t := strings.TrimSpace(text)
	if i := strings.IndexByte(t, '&'); i >= 0 {
		th := strings.TrimSpace(t[:i])
		if !p.checkThread(th, "before '&'") {
			return nil, false
		}
		c, w, ok := p.parseCall(t[i+1:])
		if !ok {
			return nil, false
		}
		return &Step{Kind: StepSpawn, Thread: th, Call: c, Within: w}, true
	}
	if !strings.Contains(t, "=") {
		f := strings.Fields(t)
		switch f[0] {
		case "join", "interrupt":
			if len(f) > 2 && f[2] == "within" {
				p.errorf("%s takes no 'within' (a thread's call is timed by a 'within' on its 'T & CALL' step)", f[0])
				return nil, false
			}
			if len(f) != 2 {
				p.errorf("usage: '%s THREAD'", f[0])
				return nil, false
			}
			if !p.checkThread(f[1], "after '"+f[0]+"'") {
				return nil, false
			}
			k := StepJoin
			if f[0] == "interrupt" {
				k = StepInterrupt
			}
			return &Step{Kind: k, Thread: f[1]}, true
		case "sleep":
			if len(f) != 2 {
				if len(f) > 2 && f[2] == "within" {
					p.errorf("sleep takes no 'within'")
				} else {
					p.errorf("usage: 'sleep MS'")
				}
				return nil, false
			}
			ms, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || ms < 0 || ms > maxSleepMS {
				p.errorf("sleep: expected a number of milliseconds from 0 to %d, found %q", maxSleepMS, f[1])
				return nil, false
			}
			return &Step{Kind: StepSleep, Sleep: ms}, true
		case "within":
			p.errorf("'within' must follow a call")
			return nil, false
		}
	}
	c, w, ok := p.parseCall(t)
	if !ok {
		return nil, false
	}
	return &Step{Kind: StepCall, Call: c, Within: w}, true
}

func (p *parser) checkThread(th, where string) bool {
	switch {
	case th == "":
		p.errorf("missing thread name %s", where)
	case !isThreadName(th):
		p.errorf("%q is not a thread name (%s; thread names are [A-Z][A-Z0-9_]*)", th, where)
	case keywords[th]:
		p.errorf("%q is a keyword and cannot name a thread", th)
	default:
		return true
	}
	return false
}

func isName(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] == '_') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func isThreadName(s string) bool {
	if s == "" || !(s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	return isUpperWord(s)
}

func (p *parser) parseCall(text string) (*Call, *Within, bool) {
	t := strings.TrimSpace(text)
	c := &Call{}
	if i := strings.IndexByte(t, '='); i >= 0 {
		var ok bool
		if c.Names, ok = p.parseBinding(t[:i]); !ok {
			return nil, nil, false
		}
		t = strings.TrimSpace(t[i+1:])
	}
	f := strings.Fields(t)
	if len(f) == 0 {
		p.errorf("missing operation")
		return nil, nil, false
	}
	f, w, ok := p.cutWithin(f)
	if !ok {
		return nil, nil, false
	}
	c.Op = f[0]
	spec := operationsByName[c.Op]
	if spec == nil {
		switch c.Op {
		case "join", "sleep", "interrupt":
			p.errorf("%s is not a call: it cannot be used here", c.Op)
		default:
			p.errorf("unknown step %q", c.Op)
		}
		return nil, nil, false
	}
	if !p.checkBinding(c, spec) {
		return nil, nil, false
	}
	args, err := p.matchArgs(spec, f[1:])
	if err != nil {
		p.errorf("%s: %v", c.Op, err)
		return nil, nil, false
	}
	c.Args = args
	return c, w, true
}

// parseBinding parses the names left of a call's '='.
func (p *parser) parseBinding(left string) ([]string, bool) {
	var names []string
	seen := map[string]bool{}
	for _, part := range strings.Split(left, ",") {
		n := strings.TrimSpace(part)
		switch {
		case n == "":
			p.errorf("empty name in the binding %q (names are separated by commas)", strings.TrimSpace(left))
			return nil, false
		case !isName(n):
			p.errorf("%q is not an fd name (names are [a-z_][a-z0-9_]*, separated by commas)", n)
			return nil, false
		case stepWords[n] || operationsByName[n] != nil:
			p.errorf("%q is a step word and cannot name an fd", n)
			return nil, false
		case seen[n]:
			p.errorf("name %q appears twice in one binding", n)
			return nil, false
		}
		seen[n] = true
		names = append(names, n)
	}
	return names, true
}

// cutWithin removes a trailing 'within MIN..MAX' from a call's tokens and
// returns the bound (nil if none).
func (p *parser) cutWithin(f []string) ([]string, *Within, bool) {
	for j, tok := range f {
		if tok != "within" {
			continue
		}
		if j != len(f)-2 {
			p.errorf("'within MIN..MAX' must be the last thing before '=>'")
			return nil, nil, false
		}
		w, ok := parseWithin(f[j+1])
		if !ok {
			p.errorf("bad 'within' bounds %q: expected MIN..MAX in milliseconds, MIN <= MAX", f[j+1])
			return nil, nil, false
		}
		if j == 0 {
			p.errorf("missing operation before 'within'")
			return nil, nil, false
		}
		return f[:j], w, true
	}
	return f, nil, true
}

// checkBinding checks a call's 'NAMES =' against what its operation binds.
func (p *parser) checkBinding(c *Call, spec *operation) bool {
	if len(c.Names) == 0 {
		return true
	}
	switch {
	case spec.binds == bindsNew:
		p.errorf("%s takes no 'NAME =' binding: NEW, when it is a name, is bound again", c.Op)
		return false
	case spec.binds != bindsNames:
		p.errorf("%s returns no fd: it cannot bind a name", c.Op)
		return false
	case len(c.Names) != spec.result.nfds:
		p.errorf("%s returns %d fd(s) but %d name(s) are bound", c.Op, spec.result.nfds, len(c.Names))
		return false
	}
	return true
}

func parseWithin(s string) (*Within, bool) {
	a, b, ok := strings.Cut(s, "..")
	if !ok {
		return nil, false
	}
	lo, err1 := strconv.ParseInt(a, 10, 64)
	hi, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || lo < 0 || hi < lo {
		return nil, false
	}
	return &Within{Min: lo, Max: hi}, true
}

// matchArgs fits the tokens to one of the operation's signatures.
func (p *parser) matchArgs(spec *operation, toks []string) ([]Arg, error) {
	var bestErr error
	best := -1
	for _, sig := range spec.sigs {
		if len(sig) != len(toks) {
			continue
		}
		var args []Arg
		var err error
		n := 0
		for i, pm := range sig {
			var a Arg
			if a, err = p.parseArg(pm, toks[i]); err != nil {
				break
			}
			args = append(args, a)
			n++
		}
		if err == nil {
			if err := checkCall(spec, args); err != nil {
				return nil, err
			}
			return args, nil
		}
		if n > best {
			best, bestErr = n, err
		}
	}
	if bestErr == nil {
		for _, t := range toks {
			if strings.HasPrefix(t, "|") || strings.HasSuffix(t, "|") {
				return nil, fmt.Errorf("bad mask %q: names are joined by '|' without spaces", t)
			}
		}
		return nil, fmt.Errorf("wrong number of arguments (%d); usage: %s", len(toks), spec.usage())
	}
	if len(spec.sigs) > 1 {
		return nil, fmt.Errorf("%v; usage: %s", bestErr, spec.usage())
	}
	return nil, bestErr
}

// checkCall performs checks that involve several arguments.
func checkCall(spec *operation, args []Arg) error {
	if spec.check != nil {
		return spec.check(args)
	}
	return nil
}

func (p *parser) parseArg(pm param, tok string) (Arg, error) {
	a := Arg{Param: pm.name, Text: tok}
	switch pm.kind {
	case pFD, pNewFD:
		if isName(tok) {
			if !p.declared[tok] {
				if pm.kind == pNewFD {
					return a, fmt.Errorf("%s %q must be a name already bound, or a number", pm.name, tok)
				}
				return a, fmt.Errorf("%s: name %q is not bound by any earlier step", pm.name, tok)
			}
			a.Kind = ArgName
			return a, nil
		}
		v, neg, ok := parseNumber(tok)
		if !ok || !fitsBits(v, neg, 32) {
			return a, fmt.Errorf("%s: expected an fd name or a 32-bit number, found %q", pm.name, tok)
		}
		a.Kind, a.Val = ArgNumber, v
		return a, nil
	case pInt, pI64:
		v, neg, ok := parseNumber(tok)
		if !ok {
			return a, fmt.Errorf("%s: expected a number, found %q", pm.name, tok)
		}
		if !fitsBits(v, neg, pm.bits) {
			return a, fmt.Errorf("%s: %q does not fit in %d bits", pm.name, tok, pm.bits)
		}
		a.Kind, a.Val = ArgNumber, v
		return a, nil
	case pCount:
		v, neg, ok := parseNumber(tok)
		if !ok || neg || v > MaxIO {
			return a, fmt.Errorf("%s: expected a byte count from 0 to %d, found %q", pm.name, MaxIO, tok)
		}
		a.Kind, a.Val = ArgNumber, v
		return a, nil
	case pTime:
		if rest, ok := strings.CutPrefix(tok, "+"); ok {
			v, neg, ok := parseNumber(rest)
			if !ok || neg || v >= 1<<62 {
				return a, fmt.Errorf("%s: expected +MS with a non-negative number, found %q", pm.name, tok)
			}
			a.Kind, a.Val = ArgRelative, v
			return a, nil
		}
		v, _, ok := parseNumber(tok)
		if !ok {
			return a, fmt.Errorf("%s: expected milliseconds or +MS, found %q", pm.name, tok)
		}
		a.Kind, a.Val = ArgNumber, v
		return a, nil
	case pPtr:
		return pointerArg(a, pm, tok)
	case pProcess, pThread:
		return p.taskArg(a, pm, tok)
	case pWord:
		if !isName(tok) {
			return a, fmt.Errorf("%s: expected a lower-case word ([a-z_][a-z0-9_]*), found %q", pm.name, tok)
		}
		a.Kind = ArgWord
		return a, nil
	case pListener:
		if !isName(tok) || !p.declared[tok] {
			return a, fmt.Errorf("%s: expected the name a listen_socket step bound, found %q", pm.name, tok)
		}
		a.Kind = ArgWord
		return a, nil
	case pSignals:
		if tok == "NULL" || tok == "BADPTR" {
			return pointerArg(a, pm, tok)
		}
		return maskArg(a, signalsTable, 64, tok)
	case pMask:
		return maskArg(a, pm.table, pm.bits, tok)
	}
	return a, fmt.Errorf("internal: parameter kind %d", pm.kind)
}

func pointerArg(a Arg, pm param, tok string) (Arg, error) {
	switch tok {
	case "NULL":
		a.Kind = ArgNull
	case "BADPTR":
		a.Kind = ArgBadPtr
	default:
		return a, fmt.Errorf("%s: expected NULL or BADPTR, found %q", pm.name, tok)
	}
	return a, nil
}

// maskArg parses a mask argument: flag names of t joined by '|', or a
// plain number, never both.
func maskArg(a Arg, t *nameTable, bits int, tok string) (Arg, error) {
	if v, neg, ok := parseNumber(tok); ok {
		if !fitsBits(v, neg, bits) {
			return a, fmt.Errorf("%s: %q does not fit in %d bits", t.what, tok, bits)
		}
		a.Kind, a.Val = ArgNumber, v
		return a, nil
	}
	parts := strings.Split(tok, "|")
	if t.single && len(parts) > 1 {
		return a, fmt.Errorf("%s takes one name or a number, found %q", t.what, tok)
	}
	for _, part := range parts {
		if part == "" {
			return a, fmt.Errorf("%s: bad mask %q (names are joined by '|' without spaces)", t.what, tok)
		}
		v, ok := t.lookup(part)
		if !ok {
			if _, _, isNum := parseNumber(part); isNum {
				return a, fmt.Errorf("%s: mask %q mixes names and numbers", t.what, tok)
			}
			return a, fmt.Errorf("%s: unknown name %q (expected one of: %s; or a number)", t.what, part, t.list())
		}
		a.Val |= v
	}
	a.Kind = ArgMask
	return a, nil
}
