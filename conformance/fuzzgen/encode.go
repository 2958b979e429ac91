package fuzzgen

import (
	"encoding/binary"
	"fmt"

	"github.com/guestpoll/guestpoll/conformance"
)

// Encode turns a conformance script into generator input whose decoding
// is the closest script the generator can make: the seed corpus of the
// fuzz targets is the conformance corpus encoded this way. Every call step
// (on any thread) becomes one operation in script order; joins, sleeps and
// interrupts are dropped, waits get timeout 0, blocking files become
// non-blocking, timers that the script lets expire become already-expired
// timers, raw fd numbers become the generator's raw numbers, and steps
// the generator has no operation for (setrlimit_nofile) are dropped. Only
// the first MaxOps operations are kept.
//
// The encoder drives a decoder as it goes, so it always agrees with the
// decoder on which names exist.
func Encode(sc *conformance.Script) []byte {
	e := &encoder{g: newGen(nil), names: map[string]int{}}
	for _, st := range sc.Steps {
		if st.Call == nil || e.g.nops >= MaxOps {
			continue
		}
		e.call(st.Call)
	}
	return e.g.in
}

type encoder struct {
	g     *gen
	names map[string]int // script name -> index in g.names
	buf   []byte         // the operation being encoded
	// expired is the fd text of the timer the previous operation set to an
	// expired time: the decoder follows that with a poll, which a decoded
	// script therefore already holds.
	expired string
}

func (e *encoder) put(b ...byte) { e.buf = append(e.buf, b...) }

func (e *encoder) putU32(v uint32) { e.buf = binary.LittleEndian.AppendUint32(e.buf, v) }

func (e *encoder) putU64(v uint64) { e.buf = binary.LittleEndian.AppendUint64(e.buf, v) }

// rawByte returns the reference byte of the raw number standing for v.
func rawByte(v int64) byte {
	switch {
	case v < 0:
		return rawFDBase
	case v < 1024:
		return rawFDBase + 1
	}
	return rawFDBase + 2
}

// fd encodes an fd argument.
func (e *encoder) fd(a *conformance.Arg) {
	if a == nil {
		e.put(rawFDBase)
		return
	}
	if a.Kind == conformance.ArgName {
		if i, ok := e.names[a.Text]; ok && i < rawFDBase {
			e.put(byte(i))
			return
		}
	}
	e.put(rawByte(int64(int32(uint32(a.Val)))))
}

// ep encodes an epoll-fd argument.
func (e *encoder) ep(a *conformance.Arg) {
	if a != nil && a.Kind == conformance.ArgName {
		if i, ok := e.names[a.Text]; ok {
			for p, k := range e.g.epolls {
				if k == i && p < 0x80 {
					e.put(byte(p))
					return
				}
			}
			if i < rawFDBase-0x80 {
				e.put(0x80 | byte(i))
				return
			}
		}
	}
	e.fd(a)
}

// pick encodes a selector: the entry of t with value v that has the wanted
// validity, else the first entry with that validity.
func (e *encoder) pick(t *table, v int64, valid bool) {
	for i, c := range t.vals {
		if c.val == v && (i < t.valid) == valid {
			e.put(byte(i))
			return
		}
	}
	if valid {
		e.put(0)
	} else {
		e.put(byte(t.valid))
	}
}

func indexOf[T comparable](tab []T, v T, dflt int) byte {
	for i, x := range tab {
		if x == v {
			return byte(i)
		}
	}
	return byte(dflt)
}

func (e *encoder) mask(tab []uint32, v uint32, width int) {
	for i, m := range tab {
		if m == v {
			e.put(byte(i))
			return
		}
	}
	e.put(0x80)
	if width == 2 {
		e.put(byte(v), byte(v>>8))
	} else {
		e.putU32(v)
	}
}

func (e *encoder) data(v uint64) {
	if v < 0x80 {
		e.put(byte(v))
		return
	}
	e.put(0x80)
	e.putU64(v)
}

func sval(a *conformance.Arg) int64 {
	if a == nil {
		return 0
	}
	return int64(a.Val)
}

func i32val(a *conformance.Arg) int64 { return int64(int32(uint32(sval(a)))) }

// call encodes one call and runs the decoder on it.
func (e *encoder) call(c *conformance.Call) {
	e.buf = e.buf[:0]
	expired := e.expired
	e.expired = ""
	arg := c.Arg
	flags := uint64(sval(arg("FLAGS"))) & 0xffffffff
	switch c.Op {
	case "epoll_create1":
		e.put(opByte(opEpollCreate1))
		e.pick(&create1Tab, int64(flags), flags&^oCloexec == 0)
	case "epoll_create":
		e.put(opByte(opEpollCreate))
		v := i32val(arg("SIZE"))
		e.pick(&sizeTab, v, v > 0)
	case "pipe2":
		e.put(opByte(opPipe2))
		e.pick(&pipeTab, int64(flags|oNonblock), flags&^(oNonblock|oCloexec|oDirect) == 0)
	case "eventfd2":
		e.put(opByte(opEventfd2))
		e.pick(&efdInitTab, int64(uint32(sval(arg("INIT")))), true)
		e.pick(&efdFlagsTab, int64(flags|oNonblock), flags&^(oNonblock|oCloexec|efdSemaphr) == 0)
	case "socketpair", "socket":
		if c.Op == "socketpair" {
			e.put(opByte(opSocketpair))
		} else {
			e.put(opByte(opSocket))
		}
		typ := sval(arg("TYPE"))
		e.pick(&sockTypeTab, typ, typ == 1 || typ == 2 || typ == 5)
		e.pick(&sockFlagsTab, int64(flags|oNonblock), flags&^(oNonblock|oCloexec) == 0)
	case "timerfd_create":
		e.put(opByte(opTimerfdCreate))
		clk := sval(arg("CLOCK"))
		e.pick(&clockTab, clk, clk == 0 || clk == 1 || clk == 7)
		e.pick(&tfdFlagsTab, int64(flags|oNonblock), flags&^(oNonblock|oCloexec) == 0)
	case "open_regular":
		e.put(opByte(opOpenRegular))
	case "dup":
		e.put(opByte(opDup))
		e.fd(arg("FD"))
	case "dup2":
		e.put(opByte(opDup2))
		e.fd(arg("OLD"))
		e.fd(arg("NEW"))
	case "dup3":
		e.put(opByte(opDup3))
		e.fd(arg("OLD"))
		e.fd(arg("NEW"))
		e.pick(&dup3Tab, int64(flags), flags&^oCloexec == 0)
	case "close":
		e.put(opByte(opClose))
		e.fd(arg("FD"))
	case "epoll_ctl":
		e.ctl(c)
	case "epoll_wait", "epoll_pwait", "epoll_pwait2":
		e.wait(c)
	case "poll":
		if a := c.Arg("FD"); expired != "" && a.Text == expired && c.Arg("TIMEOUT_MS").Val == 1000 {
			return // the wait the generator adds after an expired timer
		}
		e.put(opByte(opPoll))
		e.fd(arg("FD"))
		e.mask(pollMaskTab, uint32(sval(arg("EVENTS"))), 2)
	case "fdinfo":
		e.put(opByte(opFdinfo))
		e.ep(arg("EPFD"))
	case "write", "read":
		if c.Op == "write" {
			e.put(opByte(opWrite))
		} else {
			e.put(opByte(opRead))
		}
		e.fd(arg("FD"))
		e.put(nearest(sizeIOTab, sval(arg("N"))))
	case "eventfd_write":
		e.put(opByte(opEventfdWrite))
		e.fd(arg("FD"))
		e.put(0)
		v := sval(arg("VALUE"))
		for i, x := range efdValTab {
			if x.val == v {
				e.buf[len(e.buf)-1] = byte(i)
			}
		}
	case "eventfd_read":
		e.put(opByte(opEventfdRead))
		e.fd(arg("FD"))
	case "shutdown":
		e.put(opByte(opShutdown))
		e.fd(arg("FD"))
		e.put(byte(min(uint64(sval(arg("HOW"))), 3)))
	case "timerfd_settime":
		e.put(opByte(opTimer))
		e.fd(arg("FD"))
		form := timerForm(c)
		e.put(form)
		if timerForms[form].expired {
			e.expired = arg("FD").Text
		}
	case "fcntl_setfl":
		e.put(opByte(opSetfl))
		e.fd(arg("FD"))
		e.put(0)
		for i, x := range setflTab {
			if x.val == int64(flags) {
				e.buf[len(e.buf)-1] = byte(i)
			}
		}
	case "fcntl_getfl":
		e.put(opByte(opGetfl))
		e.fd(arg("FD"))
	case "fcntl_getfd":
		e.put(opByte(opGetfd))
		e.fd(arg("FD"))
	default:
		return // no such operation in the generator
	}
	e.run(c)
}

// run decodes the operation just encoded and maps the names it bound.
func (e *encoder) run(c *conformance.Call) {
	g := e.g
	start := len(g.in)
	g.in = append(g.in, e.buf...)
	g.op()
	if g.pos != len(g.in) {
		panic(fmt.Sprintf("fuzzgen: encoder and decoder disagree on %s: %d bytes encoded, %d decoded", c, len(e.buf), g.pos-start))
	}
	for i, n := range c.Names {
		if i < len(g.bound) {
			for k, gn := range g.names {
				if gn.text == g.bound[i] {
					e.names[n] = k
				}
			}
		}
	}
}

func (e *encoder) ctl(c *conformance.Call) {
	e.put(opByte(opCtl))
	e.ep(c.Arg("EPFD"))
	var op byte
	switch v := c.Arg("OP").Val; v {
	case 1:
		op = 0
	case 3:
		op = 1
	case 2:
		op = 2
	case 0:
		op = 6
	case 4:
		op = 7
	default:
		op = 8
	}
	e.put(op)
	e.fd(c.Arg("FD"))
	switch ev, p := c.Arg("EVENTS"), c.Arg("EVENT"); {
	case ev != nil:
		e.put(0)
		e.mask(ctlMaskTab, uint32(ev.Val), 4)
		e.data(c.Arg("DATA").Val)
	case p == nil:
		e.put(indexOf(ctlFormTab, "-", 0))
	case p.Kind == conformance.ArgBadPtr:
		e.put(indexOf(ctlFormTab, "BADPTR", 0))
	default:
		e.put(indexOf(ctlFormTab, "NULL", 0))
	}
}

func (e *encoder) wait(c *conformance.Call) {
	var op opcode
	switch c.Op {
	case "epoll_wait":
		op = opWait
	case "epoll_pwait":
		op = opPwait
	default:
		op = opPwait2
	}
	e.put(opByte(op))
	e.ep(c.Arg("EPFD"))
	maxev := i32val(c.Arg("MAXEVENTS"))
	valid := maxev > 0 && maxev <= maxEvents
	e.pick(&maxevTab, maxev, valid)
	buf := ""
	if b := c.Arg("BUFFER"); b != nil {
		buf = "NULL"
		if b.Kind == conformance.ArgBadPtr {
			buf = "BADPTR"
		}
	}
	e.put(indexOf(bufTab, buf, 0))
	if op != opWait {
		sigs := "NULL"
		if s := c.Arg("SIGNALS"); s != nil {
			switch {
			case s.Kind == conformance.ArgBadPtr:
				sigs = "BADPTR"
			case s.Kind == conformance.ArgNull:
			case s.Val == 1<<9:
				sigs = "USR1"
			case s.Val == 1<<9|1<<11:
				sigs = "USR1|USR2"
			default:
				sigs = "0"
			}
		}
		e.put(indexOf(sigsTab, sigs, 0))
	}
	switch op {
	case opWait, opPwait:
		t := "0"
		if !valid {
			t = c.Arg("TIMEOUT_MS").Text
		}
		e.put(indexOf(badTimeout, t, 2))
	case opPwait2:
		ts := "0 0"
		if p := c.Arg("TIMEOUT"); p != nil {
			ts = "NULL"
			if p.Kind == conformance.ArgBadPtr {
				ts = "BADPTR"
			}
		} else {
			sec, nsec := sval(c.Arg("SEC")), sval(c.Arg("NSEC"))
			switch {
			case sec < 0:
				ts = "-1 0"
			case nsec < 0:
				ts = "0 -1"
			case nsec >= 1e9:
				ts = "0 1000000000"
			}
		}
		e.put(indexOf(tsTab, ts, 0))
	}
}

// nearest returns the selector of the table entry closest to v.
func nearest(tab []choice, v int64) byte {
	best := 0
	for i, c := range tab {
		if absDiff(c.val, v) < absDiff(tab[best].val, v) {
			best = i
		}
	}
	return byte(best)
}

func absDiff(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}

// timerForm picks the timer form closest to a timerfd_settime step: a timer
// the script lets expire becomes an already-expired one.
func timerForm(c *conformance.Call) byte {
	flags := c.Arg("FLAGS").Val
	v := c.Arg("VALUE_MS")
	interval := int64(c.Arg("INTERVAL_MS").Val)
	var want string
	switch {
	case flags&^3 != 0:
		want = "4 1000000 0"
	case v.Kind != conformance.ArgRelative && int64(v.Val) < 0 || interval < 0:
		want = "0 -1 0"
	case v.Kind != conformance.ArgRelative && v.Val == 0:
		want = "0 0 0"
	case v.Kind == conformance.ArgRelative && int64(v.Val) >= 1000 || v.Kind != conformance.ArgRelative && flags&1 == 0 && int64(v.Val) >= 1000:
		want = "0 1000000 0"
		if interval > 0 {
			want = "0 1000000 1000000"
		}
	default:
		want = "ABSTIME 1 0"
	}
	for i, f := range timerForms {
		if f.args == want {
			return byte(i)
		}
	}
	return 0
}
