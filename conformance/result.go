package conformance

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// ResultKind says which form a Result has.
type ResultKind string

// The result forms. A call step's success form depends on its operation;
// every call step (and join) may also yield KindErrno or KindTimeout.
const (
	KindNone        ResultKind = "none"         // "-": steps without a result
	KindTimeout     ResultKind = "timeout"      // "TIMEOUT"
	KindErrno       ResultKind = "errno"        // "EBADF"
	KindValue       ResultKind = "value"        // "0", "5"
	KindFDs         ResultKind = "fds"          // "fd", "fd fd"
	KindWait        ResultKind = "wait"         // "2 [IN 0x1] [OUT|HUP 0x2]"
	KindPoll        ResultKind = "poll"         // "1 IN|OUT"
	KindEventfdRead ResultKind = "eventfd_read" // "8 3"
	KindGetfl       ResultKind = "getfl"        // "RDWR|NONBLOCK"
	KindGetfd       ResultKind = "getfd"        // "0", "CLOEXEC"
	KindFdinfo      ResultKind = "fdinfo"       // "[r IN|ERR|HUP 0x1] [w OUT|ERR|HUP 0x2]"
	KindSiginfo     ResultKind = "siginfo"      // "128 USR2": bytes read, then the signal
)

// Result is the structured result of one step. Fields not used by Kind are
// zero. Fd numbers are deliberately absent: they are never compared.
type Result struct {
	Kind    ResultKind
	Errno   string        `json:",omitempty"` // KindErrno: canonical Linux name
	Value   int64         `json:",omitempty"` // KindValue; count for KindWait/KindPoll; bytes read for KindEventfdRead; fd count for KindFDs
	Mask    uint64        `json:",omitempty"` // KindPoll revents, KindGetfl, KindGetfd
	U64     uint64        `json:",omitempty"` // KindEventfdRead value; KindSiginfo signal number
	Events  []Event       `json:",omitempty"` // KindWait
	Entries []FdinfoEntry `json:",omitempty"` // KindFdinfo, sorted by target fd number
}

// Event is one delivered epoll event.
type Event struct {
	Mask uint32
	Data uint64
}

// FdinfoEntry is one interest-list entry as shown by fdinfo. TFD is the
// name given to the target number by the naming rule, or the decimal
// number itself.
type FdinfoEntry struct {
	TFD  string
	Mask uint32
	Data uint64
}

var resultCmpOpts = []cmp.Option{cmpopts.EquateEmpty()}

// resultData is Result without methods: go-cmp would otherwise call
// Result.Equal from within Result.Equal.
type resultData Result

// Equal reports whether two results are the same. Fd results compare by
// shape (how many fds), never by number.
func (r Result) Equal(o Result) bool {
	return cmp.Equal(resultData(r), resultData(o), resultCmpOpts...)
}

// Diff returns a go-cmp diff of two results ("" when equal).
func (r Result) Diff(o Result) string {
	return cmp.Diff(resultData(r), resultData(o), resultCmpOpts...)
}

// String prints the result in script syntax (without the "=>").
func (r Result) String() string {
	switch r.Kind {
	case KindNone:
		return "-"
	case KindTimeout:
		return "TIMEOUT"
	case KindErrno:
		return r.Errno
	case KindValue:
		return strconv.FormatInt(r.Value, 10)
	case KindFDs:
		return strings.TrimSpace(strings.Repeat("fd ", int(max(r.Value, 0))))
	case KindWait:
		var b strings.Builder
		b.WriteString(strconv.FormatInt(r.Value, 10))
		for _, e := range r.Events {
			fmt.Fprintf(&b, " [%s 0x%x]", eventsTable.format(uint64(e.Mask)), e.Data)
		}
		return b.String()
	case KindPoll:
		return strconv.FormatInt(r.Value, 10) + " " + eventsTable.format(r.Mask)
	case KindEventfdRead:
		return strconv.FormatInt(r.Value, 10) + " " + strconv.FormatUint(r.U64, 10)
	case KindSiginfo:
		return strconv.FormatInt(r.Value, 10) + " " + signalName(r.U64)
	case KindGetfl:
		return formatGetfl(r.Mask)
	case KindGetfd:
		return getfdTable.format(r.Mask)
	case KindFdinfo:
		var parts []string
		for _, e := range r.Entries {
			parts = append(parts, fmt.Sprintf("[%s %s 0x%x]", e.TFD, eventsTable.format(uint64(e.Mask)), e.Data))
		}
		return strings.Join(parts, " ")
	}
	return "?" + string(r.Kind)
}

func formatGetfl(v uint64) string {
	var s string
	if a := v & 3; a < 3 {
		s = accessModes[a]
	} else {
		s = "0x3"
	}
	if rest := v &^ 3; rest != 0 {
		s += "|" + getflStatuses.format(rest)
	}
	return s
}

// resultSpec says which results a step can have.
type resultSpec struct {
	kind ResultKind // success form; KindNone: only "-"
	nfds int        // for KindFDs
}

// Expectation is a "=> ..." clause of a script step.
type Expectation struct {
	Any  bool     // "=> *"
	Alts []Result // "=> A || B"
}

// Matches reports whether r satisfies the expectation.
func (e *Expectation) Matches(r Result) bool {
	if e.Any {
		return true
	}
	for _, a := range e.Alts {
		if a.Equal(r) {
			return true
		}
	}
	return false
}

// Single reports whether the expectation is one plain result (neither
// "*" nor "A || B"); recording replaces such expectations.
func (e *Expectation) Single() bool { return !e.Any && len(e.Alts) == 1 }

func (e *Expectation) String() string {
	if e.Any {
		return "*"
	}
	var s []string
	for _, a := range e.Alts {
		s = append(s, a.String())
	}
	return strings.Join(s, " || ")
}

func parseExpectation(spec resultSpec, text string) (*Expectation, error) {
	t := strings.TrimSpace(text)
	if t == "*" {
		return &Expectation{Any: true}, nil
	}
	alts := strings.Split(t, "||")
	e := &Expectation{}
	for _, a := range alts {
		a = strings.TrimSpace(a)
		if len(alts) > 1 {
			if a == "" {
				return nil, errors.New("empty alternative in 'A || B' expectation")
			}
			if a == "*" {
				return nil, errors.New("'*' cannot be combined with other alternatives")
			}
		}
		r, err := parseResult(spec, a)
		if err != nil {
			return nil, err
		}
		e.Alts = append(e.Alts, r)
	}
	return e, nil
}

// resultTokens splits result text on white space and around brackets.
func resultTokens(s string) []string {
	s = strings.ReplaceAll(s, "[", " [ ")
	s = strings.ReplaceAll(s, "]", " ] ")
	return strings.Fields(s)
}

func parseResult(spec resultSpec, text string) (Result, error) {
	toks := resultTokens(text)
	if spec.kind == KindNone {
		if len(toks) == 1 && toks[0] == "-" {
			return Result{Kind: KindNone}, nil
		}
		return Result{}, fmt.Errorf("this step has no result: write '=> -' or nothing, not %q", text)
	}
	if len(toks) == 0 {
		if spec.kind == KindFdinfo {
			return Result{Kind: KindFdinfo}, nil
		}
		return Result{}, errors.New("empty result after '=>'")
	}
	if len(toks) == 1 {
		switch t := toks[0]; {
		case t == "TIMEOUT":
			return Result{Kind: KindTimeout}, nil
		case t == "-":
			return Result{}, errors.New("result '-' is only for steps without a result (T &, sleep, interrupt)")
		case len(t) > 1 && t[0] == 'E' && isUpperWord(t):
			n, err := parseErrnoName(t)
			if err != nil {
				return Result{}, err
			}
			return Result{Kind: KindErrno, Errno: ErrnoName(n)}, nil
		}
	}
	p := &resultParser{toks: toks}
	r, err := p.parse(spec)
	if err != nil {
		return Result{}, err
	}
	if p.i < len(p.toks) {
		return Result{}, fmt.Errorf("unexpected %q at the end of the result", p.toks[p.i])
	}
	return r, nil
}

func isUpperWord(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

type resultParser struct {
	toks []string
	i    int
}

func (p *resultParser) next(what string) (string, error) {
	if p.i >= len(p.toks) {
		return "", fmt.Errorf("result ends where %s was expected", what)
	}
	t := p.toks[p.i]
	p.i++
	return t, nil
}

func (p *resultParser) expect(tok string) error {
	t, err := p.next("'" + tok + "'")
	if err != nil {
		return err
	}
	if t != tok {
		return fmt.Errorf("expected '%s', found %q", tok, t)
	}
	return nil
}

func (p *resultParser) count(what string) (int64, error) {
	t, err := p.next(what)
	if err != nil {
		return 0, err
	}
	v, neg, ok := parseNumber(t)
	if !ok || !fitsBits(v, neg, 64) {
		return 0, fmt.Errorf("expected %s (a number), found %q", what, t)
	}
	return int64(v), nil
}

func (p *resultParser) u64(what string) (uint64, error) {
	t, err := p.next(what)
	if err != nil {
		return 0, err
	}
	v, _, ok := parseNumber(t)
	if !ok {
		return 0, fmt.Errorf("expected %s (a number), found %q", what, t)
	}
	return v, nil
}

func (p *resultParser) mask(t *nameTable, bits int, what string) (uint64, error) {
	tok, err := p.next(what)
	if err != nil {
		return 0, err
	}
	return parseResultMask(t, nil, bits, tok)
}

// parseResultMask parses a mask as printed in results: names joined by '|',
// possibly followed by a number for unnamed bits; a number alone is fine.
func parseResultMask(t *nameTable, extra map[string]uint64, bits int, tok string) (uint64, error) {
	var v uint64
	for _, part := range strings.Split(tok, "|") {
		if part == "" {
			return 0, fmt.Errorf("bad mask %q", tok)
		}
		if n, ok := t.lookup(part); ok {
			v |= n
			continue
		}
		if n, ok := extra[part]; ok {
			v |= n
			continue
		}
		n, neg, ok := parseNumber(part)
		if !ok {
			return 0, fmt.Errorf("unknown flag %q in %q (known: %s)", part, tok, t.list())
		}
		if neg || !fitsBits(n, false, bits) {
			return 0, fmt.Errorf("mask %q does not fit in %d bits", tok, bits)
		}
		v |= n
	}
	return v, nil
}

func (p *resultParser) parse(spec resultSpec) (Result, error) {
	switch spec.kind {
	case KindValue:
		v, err := p.count("a value")
		return Result{Kind: KindValue, Value: v}, err
	case KindFDs:
		return p.fds(spec.nfds)
	case KindWait:
		return p.waitEvents()
	case KindPoll:
		n, err := p.count("the poll count")
		if err != nil {
			return Result{}, err
		}
		m, err := p.mask(eventsTable, 16, "revents")
		return Result{Kind: KindPoll, Value: n, Mask: m}, err
	case KindEventfdRead:
		n, err := p.count("the byte count")
		if err != nil {
			return Result{}, err
		}
		v, err := p.u64("the value read")
		return Result{Kind: KindEventfdRead, Value: n, U64: v}, err
	case KindSiginfo:
		n, err := p.count("the byte count")
		if err != nil {
			return Result{}, err
		}
		t, err := p.next("the signal")
		if err != nil {
			return Result{}, err
		}
		sig, ok := signalNames.lookup(t)
		if v, neg, isNum := parseNumber(t); isNum && !neg {
			sig, ok = v, true
		}
		if !ok {
			return Result{}, fmt.Errorf("expected a signal name (%s) or number, found %q", signalNames.list(), t)
		}
		return Result{Kind: KindSiginfo, Value: n, U64: sig}, nil
	case KindGetfl:
		return p.getfl()
	case KindGetfd:
		m, err := p.mask(getfdTable, 32, "fd flags")
		return Result{Kind: KindGetfd, Mask: m}, err
	case KindFdinfo:
		return p.fdinfoEntries()
	}
	return Result{}, fmt.Errorf("internal: no result form %q", spec.kind)
}

// fds parses "fd fd": exactly nfds of them.
func (p *resultParser) fds(nfds int) (Result, error) {
	n := 0
	for p.i < len(p.toks) {
		t, _ := p.next("fd")
		if t != "fd" {
			return Result{}, fmt.Errorf("expected 'fd', found %q", t)
		}
		n++
	}
	if n != nfds {
		return Result{}, fmt.Errorf("this call returns %d fd(s): write %q", nfds, strings.TrimSpace(strings.Repeat("fd ", nfds)))
	}
	return Result{Kind: KindFDs, Value: int64(n)}, nil
}

// waitEvents parses "N [MASK DATA]...".
func (p *resultParser) waitEvents() (Result, error) {
	n, err := p.count("the event count")
	if err != nil {
		return Result{}, err
	}
	r := Result{Kind: KindWait, Value: n}
	for p.i < len(p.toks) {
		if err := p.expect("["); err != nil {
			return Result{}, err
		}
		m, err := p.mask(eventsTable, 32, "an event mask")
		if err != nil {
			return Result{}, err
		}
		d, err := p.u64("event data")
		if err != nil {
			return Result{}, err
		}
		if err := p.expect("]"); err != nil {
			return Result{}, err
		}
		r.Events = append(r.Events, Event{Mask: uint32(m), Data: d})
	}
	if int64(len(r.Events)) != n {
		return Result{}, fmt.Errorf("event count %d but %d event(s) listed", n, len(r.Events))
	}
	return r, nil
}

// getfl parses the access mode and status flags, joined by '|' or spaces.
func (p *resultParser) getfl() (Result, error) {
	var v uint64
	modes := map[string]uint64{"RDONLY": 0, "WRONLY": 1, "RDWR": 2}
	for p.i < len(p.toks) {
		t, _ := p.next("")
		m, err := parseResultMask(getflStatuses, modes, 32, t)
		if err != nil {
			return Result{}, err
		}
		v |= m
	}
	return Result{Kind: KindGetfl, Mask: v & getflShown}, nil
}

// fdinfoEntries parses "[TFD MASK DATA]...".
func (p *resultParser) fdinfoEntries() (Result, error) {
	r := Result{Kind: KindFdinfo}
	for p.i < len(p.toks) {
		if err := p.expect("["); err != nil {
			return Result{}, err
		}
		t, err := p.next("a target fd")
		if err != nil {
			return Result{}, err
		}
		if !isName(t) {
			v, neg, ok := parseNumber(t)
			if !ok || !fitsBits(v, neg, 32) {
				return Result{}, fmt.Errorf("expected a target fd name or number, found %q", t)
			}
			t = strconv.FormatInt(int64(int32(v)), 10)
		}
		m, err := p.mask(eventsTable, 32, "an interest mask")
		if err != nil {
			return Result{}, err
		}
		d, err := p.u64("data")
		if err != nil {
			return Result{}, err
		}
		if err := p.expect("]"); err != nil {
			return Result{}, err
		}
		r.Entries = append(r.Entries, FdinfoEntry{TFD: t, Mask: uint32(m), Data: d})
	}
	return r, nil
}

// parseNumber parses a decimal or 0x-hexadecimal number with an optional
// leading '-'. It returns the two's-complement 64-bit value and whether
// the number was negative.
func parseNumber(s string) (v uint64, neg bool, ok bool) {
	if strings.HasPrefix(s, "-") {
		neg = true
		s = s[1:]
	}
	if s == "" {
		return 0, false, false
	}
	base := 10
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		base = 16
		s = s[2:]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || base == 16 && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F')) {
			return 0, false, false
		}
	}
	u, err := strconv.ParseUint(s, base, 64)
	if err != nil {
		return 0, false, false
	}
	if neg {
		if u > 1<<63 {
			return 0, false, false
		}
		return -u, u != 0, true
	}
	return u, false, true
}

// fitsBits reports whether a number parsed by parseNumber fits a
// bits-wide integer, signed or unsigned (so -1 and 0xffffffff both fit 32).
func fitsBits(v uint64, neg bool, bits int) bool {
	if bits >= 64 {
		return true
	}
	if neg {
		return -v <= 1<<(bits-1)
	}
	return v < 1<<bits
}

// signalName prints a signal number as its name in SIGNAL positions, or
// the decimal number.
func signalName(sig uint64) string {
	for _, f := range signalNames.names {
		if f.val == sig {
			return f.name
		}
	}
	return strconv.FormatUint(sig, 10)
}
