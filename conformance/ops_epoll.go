package conformance

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	fc "github.com/guestpoll/guestpoll/conformance/internal/fuzzcodec"
)

// epollOps are epoll's own operations.
var epollOps = []*operation{
	{
		name: "epoll_ctl", sigs: [][]param{
			{fdp("EPFD"), maskp("OP", ctlOps, 32), fdp("FD")},
			{fdp("EPFD"), maskp("OP", ctlOps, 32), fdp("FD"), maskp("EVENTS", eventsTable, 32), i64p("DATA")},
			{fdp("EPFD"), maskp("OP", ctlOps, 32), fdp("FD"), ptrp("EVENT")},
		}, result: valueResult,
		exec: execCtl,
		fuzz: fuzzing{opcode: 12, weight: 12, decode: decodeCtl, encode: encodeCtl},
	},
	{
		name: "epoll_wait", sigs: [][]param{
			{fdp("EPFD"), intp("MAXEVENTS"), intp("TIMEOUT_MS")},
			{fdp("EPFD"), intp("MAXEVENTS"), intp("TIMEOUT_MS"), ptrp("BUFFER")},
		}, result: resultSpec{kind: KindWait},
		exec: func(x *execution) (Outcome, error) {
			return x.wait(func(buf uint64, maxev uintptr, _ uint64) (uintptr, syscall.Errno) {
				return x.sys(sysEpollWait, x.fd("EPFD"), uintptr(buf), maxev, i32(x.arg("TIMEOUT_MS")))
			})
		},
		fuzz: fuzzing{opcode: 13, weight: 6,
			decode: func(d *fc.Decoder) {
				w := decodeWaitArgs(d, false)
				timeout := decodeTimeoutMS(d, w.valid)
				d.Emit("%s", w.withBuffer(fmt.Sprintf("epoll_wait %s %s %s", w.ep.Text, w.maxev.text, timeout)))
			},
			encode: func(e *fc.Encoder, c *Call) bool {
				encodeTimeoutMS(e, c, encodeWaitArgs(e, c, false))
				return true
			}},
	},
	{
		name: "epoll_pwait", sigs: [][]param{
			{fdp("EPFD"), intp("MAXEVENTS"), intp("TIMEOUT_MS"), sigp()},
			{fdp("EPFD"), intp("MAXEVENTS"), intp("TIMEOUT_MS"), sigp(), ptrp("BUFFER")},
		}, result: resultSpec{kind: KindWait},
		exec: func(x *execution) (Outcome, error) {
			return x.wait(func(buf uint64, maxev uintptr, sigmask uint64) (uintptr, syscall.Errno) {
				return x.sys(sysEpollPwait, x.fd("EPFD"), uintptr(buf), maxev, i32(x.arg("TIMEOUT_MS")), uintptr(sigmask), sigsetSize)
			})
		},
		fuzz: fuzzing{opcode: 14, weight: 2,
			decode: func(d *fc.Decoder) {
				w := decodeWaitArgs(d, true)
				timeout := decodeTimeoutMS(d, w.valid)
				d.Emit("%s", w.withBuffer(fmt.Sprintf("epoll_pwait %s %s %s %s", w.ep.Text, w.maxev.text, timeout, w.sigs)))
			},
			encode: func(e *fc.Encoder, c *Call) bool {
				encodeTimeoutMS(e, c, encodeWaitArgs(e, c, true))
				return true
			}},
	},
	{
		name: "epoll_pwait2", sigs: [][]param{
			{fdp("EPFD"), intp("MAXEVENTS"), ptrp("TIMEOUT")},
			{fdp("EPFD"), intp("MAXEVENTS"), ptrp("TIMEOUT"), sigp()},
			{fdp("EPFD"), intp("MAXEVENTS"), ptrp("TIMEOUT"), sigp(), ptrp("BUFFER")},
			{fdp("EPFD"), intp("MAXEVENTS"), i64p("SEC"), i64p("NSEC")},
			{fdp("EPFD"), intp("MAXEVENTS"), i64p("SEC"), i64p("NSEC"), sigp()},
			{fdp("EPFD"), intp("MAXEVENTS"), i64p("SEC"), i64p("NSEC"), sigp(), ptrp("BUFFER")},
		}, result: resultSpec{kind: KindWait},
		exec: execPwait2,
		fuzz: fuzzing{opcode: 15, weight: 2, decode: decodePwait2, encode: encodePwait2},
	},
	{
		name: "fdinfo", sigs: [][]param{{fdp("EPFD")}}, result: resultSpec{kind: KindFdinfo},
		exec: execFdinfo,
		apply: func(ex *executor, c *Call, j *job) {
			if r := &j.out.Result; r.Kind == KindFdinfo {
				r.Entries = ex.fdn.nameEntries(j.rawFdinfo)
			}
		},
		fuzz: fuzzing{opcode: 17, weight: 2,
			decode: func(d *fc.Decoder) {
				// A fork's own fds have numbers that differ between
				// backends, and an instance may list them: no fdinfo
				// once a fork has bound a name.
				if r := d.Epoll(); !d.ForkBound() {
					d.Emit("fdinfo %s", r.Text)
				}
			},
			encode: func(e *fc.Encoder, c *Call) bool {
				encodeEpoll(e, c.Arg("EPFD"))
				return true
			}},
	},
}

func execCtl(x *execution) (Outcome, error) {
	var ptr uint64
	if ev := x.c.Arg("EVENTS"); ev != nil {
		b := make([]byte, EventSize)
		binary.LittleEndian.PutUint32(b, uint32(ev.Val))
		binary.LittleEndian.PutUint64(b[4:], x.arg("DATA"))
		if err := x.w.write(x.w.scratch+offEvent, b); err != nil {
			return x.o, err
		}
		ptr = x.w.scratch + offEvent
	} else if p := x.c.Arg("EVENT"); p != nil {
		ptr = x.w.ptrArg(p)
	}
	return x.value(x.sys(sysEpollCtl, x.fd("EPFD"), i32(x.arg("OP")), x.fd("FD"), uintptr(ptr)))
}

func execPwait2(x *execution) (Outcome, error) {
	var ts uint64
	if t := x.c.Arg("TIMEOUT"); t != nil {
		ts = x.w.ptrArg(t)
	} else {
		b := make([]byte, 16)
		binary.LittleEndian.PutUint64(b, x.arg("SEC"))
		binary.LittleEndian.PutUint64(b[8:], x.arg("NSEC"))
		if err := x.w.write(x.w.scratch+offTimespec, b); err != nil {
			return x.o, err
		}
		ts = x.w.scratch + offTimespec
	}
	return x.wait(func(buf uint64, maxev uintptr, sigmask uint64) (uintptr, syscall.Errno) {
		return x.sys(sysEpollPwait2, x.fd("EPFD"), uintptr(buf), maxev, uintptr(ts), uintptr(sigmask), sigsetSize)
	})
}

func execFdinfo(x *execution) (Outcome, error) {
	t0 := time.Now()
	text, e := x.w.ex.m.Fdinfo(x.w.id, x.j.fd("EPFD"))
	x.o.Elapsed = time.Since(t0)
	if e != 0 {
		return x.errno(e)
	}
	raw, err := ParseFdinfo(text)
	if err != nil {
		return x.o, err
	}
	x.j.rawFdinfo = raw
	x.o.Result = Result{Kind: KindFdinfo} // named at apply time
	return x.o, nil
}

func decodeCtl(d *fc.Decoder) {
	ep := d.Epoll()
	op := ctlOpTab[d.Sel(len(ctlOpTab))]
	fd := d.FD()
	switch form := ctlFormTab[d.Sel(len(ctlFormTab))]; form {
	case "":
		m := d.Mask(ctlMaskTab, 4)
		data := d.Data()
		d.Emit("epoll_ctl %s %s %s %s 0x%x", ep.Text, op, fd.Text, maskText(m), data)
	case "-":
		d.Emit("epoll_ctl %s %s %s", ep.Text, op, fd.Text)
	default:
		d.Emit("epoll_ctl %s %s %s %s", ep.Text, op, fd.Text, form)
	}
}

func encodeCtl(e *fc.Encoder, c *Call) bool {
	encodeEpoll(e, c.Arg("EPFD"))
	var op byte
	switch c.Arg("OP").Val {
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
	e.Put(op)
	encodeFD(e, c.Arg("FD"))
	switch ev, p := c.Arg("EVENTS"), c.Arg("EVENT"); {
	case ev != nil:
		e.Put(0)
		e.Mask(ctlMaskTab, uint32(ev.Val), 4)
		e.Data(c.Arg("DATA").Val)
	case p == nil:
		e.Put(fc.Index(ctlFormTab, "-", 0))
	case p.Kind == ArgBadPtr:
		e.Put(fc.Index(ctlFormTab, "BADPTR", 0))
	default:
		e.Put(fc.Index(ctlFormTab, "NULL", 0))
	}
	return true
}

// waitArgs are the decoded arguments the three waits share.
type waitArgs struct {
	ep    fc.Ref
	maxev choice
	valid bool   // maxev is valid
	buf   string // "" (the executor's buffer), NULL or BADPTR
	sigs  string
}

func decodeWaitArgs(d *fc.Decoder, withSigs bool) waitArgs {
	var w waitArgs
	w.ep = d.Epoll()
	w.maxev, w.valid = maxevTab.pick(d)
	w.buf = bufTab[d.Sel(len(bufTab))]
	if w.buf == "BADPTR" && w.maxev.val == MaxEvents {
		// BADPTR plus 2 GiB may leave user space on one backend only.
		w.buf = ""
	}
	w.sigs = "NULL"
	if withSigs {
		w.sigs = sigsTab[d.Sel(len(sigsTab))]
		if d.Cur().USR2Sent && (w.sigs == "0" || w.sigs == "USR1") {
			// The wait's mask would unblock a SIGUSR2 sent to the
			// process, whose default action kills it.
			w.sigs = "USR1|USR2"
		}
	}
	return w
}

// withBuffer appends the BUFFER argument, if any, to call.
func (w waitArgs) withBuffer(call string) string {
	if w.buf != "" {
		return call + " " + w.buf
	}
	return call
}

// decodeTimeoutMS decodes the timeout of epoll_wait and epoll_pwait: 0,
// or a non-zero one only with an invalid maxevents (which fails first).
func decodeTimeoutMS(d *fc.Decoder, valid bool) string {
	timeout := "0"
	if t := d.Byte(); !valid {
		timeout = badTimeout[int(t)%len(badTimeout)]
	}
	return timeout
}

func decodePwait2(d *fc.Decoder) {
	w := decodeWaitArgs(d, true)
	ts := tsTab[d.Sel(len(tsTab))]
	if ts == "NULL" && w.valid {
		ts = "0 0"
	}
	call := fmt.Sprintf("epoll_pwait2 %s %s %s", w.ep.Text, w.maxev.text, ts)
	switch {
	case w.buf != "":
		call += " " + w.sigs + " " + w.buf
	case w.sigs != "NULL":
		call += " " + w.sigs
	}
	d.Emit("%s", call)
}

// encodeWaitArgs encodes the arguments the waits share; it returns
// whether maxevents is valid.
func encodeWaitArgs(e *fc.Encoder, c *Call, withSigs bool) bool {
	encodeEpoll(e, c.Arg("EPFD"))
	maxev := argI32(c, "MAXEVENTS")
	valid := maxev > 0 && maxev <= MaxEvents
	maxevTab.encode(e, maxev, valid)
	buf := ""
	if b := c.Arg("BUFFER"); b != nil {
		buf = "NULL"
		if b.Kind == ArgBadPtr {
			buf = "BADPTR"
		}
	}
	e.Put(fc.Index(bufTab, buf, 0))
	if withSigs {
		sigs := "NULL"
		if s := c.Arg("SIGNALS"); s != nil {
			switch {
			case s.Kind == ArgBadPtr:
				sigs = "BADPTR"
			case s.Kind == ArgNull:
			case s.Val == 1<<9:
				sigs = "USR1"
			case s.Val == 1<<9|1<<11:
				sigs = "USR1|USR2"
			default:
				sigs = "0"
			}
		}
		e.Put(fc.Index(sigsTab, sigs, 0))
	}
	return valid
}

func encodeTimeoutMS(e *fc.Encoder, c *Call, valid bool) {
	t := "0"
	if !valid {
		t = c.Arg("TIMEOUT_MS").Text
	}
	e.Put(fc.Index(badTimeout, t, 2))
}

func encodePwait2(e *fc.Encoder, c *Call) bool {
	encodeWaitArgs(e, c, true)
	ts := "0 0"
	if p := c.Arg("TIMEOUT"); p != nil {
		ts = "NULL"
		if p.Kind == ArgBadPtr {
			ts = "BADPTR"
		}
	} else {
		sec, nsec := argVal(c, "SEC"), argVal(c, "NSEC")
		switch {
		case sec < 0:
			ts = "-1 0"
		case nsec < 0:
			ts = "0 -1"
		case nsec >= 1e9:
			ts = "0 1000000000"
		}
	}
	e.Put(fc.Index(tsTab, ts, 0))
	return true
}

// The generator's values of epoll's arguments.
var (
	ctlOpTab = []string{"ADD", "MOD", "DEL", "ADD", "MOD", "ADD", "0", "4", "0xffffffff"}
	// ctl event-pointer forms: most pass an event, the rest NULL or BADPTR.
	ctlFormTab = []string{"", "", "", "", "", "", "", "-", "NULL", "BADPTR"}

	// maxevents: the valid ones first.
	maxevTab   = valueTable{vals: nums(1, 2, 3, 8, 64, MaxEvents, 0, -1, MaxEvents+1, intMin), valid: 6}
	bufTab     = []string{"", "", "", "", "", "", "NULL", "BADPTR"}
	sigsTab    = []string{"NULL", "0", "USR1", "USR1|USR2", "NULL", "BADPTR"}
	badTimeout = []string{"0", "-1", "1000"} // timeouts used only with an invalid maxevents
	// epoll_pwait2 timeouts: "sec nsec" or a pointer; NULL only with an
	// invalid maxevents (else it would wait forever).
	tsTab = []string{"0 0", "0 0", "0 0", "0 0", "0 1", "-1 0", "0 1000000000", "0 -1", "BADPTR", "NULL"}

	// Event masks for epoll_ctl (selector < 0x80; otherwise 4 raw bytes).
	ctlMaskTab = []uint32{
		evIn, evOut, evIn | evOut, evIn | evET, evOut | evET, evIn | evOut | evET,
		evIn | evOneshot, evIn | evET | evOneshot, evIn | evExclusive, evIn | evOut | evExclusive,
		evIn | evET | evExclusive, evIn | evRdhup, evIn | evRdhup | evET, evPri, evErr | evHup, 0,
		evIn | evOut | evPri | evRdnorm | evRdband | evWrnorm | evWrband | evMsg | evRdhup,
		evOneshot, evET, evExclusive | evOneshot, evIn | evWakeup, evHup, evRdnorm, evWrnorm,
		evOut | evExclusive | evET, evIn | evOut | evOneshot | evET,
	}
)

// Epoll event bits, for the generator's mask tables.
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

// maskText prints a generated mask with flag names when every bit has
// one, else as one hexadecimal number (generated scripts never mix names
// and numbers in a mask).
func maskText(m uint32) string {
	if m == 0 {
		return "0"
	}
	var parts []string
	rest := uint64(m)
	for _, n := range eventsTable.names {
		if rest&n.val != 0 {
			parts = append(parts, n.name)
			rest &^= n.val
		}
	}
	if rest != 0 {
		return "0x" + strconv.FormatUint(uint64(m), 16)
	}
	return strings.Join(parts, "|")
}

// wait runs one of the waits: it prepares the events buffer (BUFFER, or
// the thread's own) and the sigmask (SIGNALS, if any), makes the call
// through call and reads the events back.
func (x *execution) wait(call func(buf uint64, maxev uintptr, sigmask uint64) (uintptr, syscall.Errno)) (Outcome, error) {
	c, w := x.c, x.w
	maxev := int32(uint32(x.arg("MAXEVENTS")))
	var buf uint64
	override := c.Arg("BUFFER")
	if override != nil {
		buf = w.ptrArg(override)
	} else {
		var err error
		if buf, err = w.eventsBuffer(); err != nil {
			return x.o, err
		}
	}
	sigmask, err := x.sigmask()
	if err != nil {
		return x.o, err
	}
	r, e := call(buf, sx(int64(maxev)), sigmask)
	if e != 0 {
		return x.errno(e)
	}
	n := int64(r)
	if n < 0 || n > 0 && n > int64(maxev) {
		return x.o, fmt.Errorf("%s returned %d events for maxevents %d", c.Op, n, maxev)
	}
	x.o.Result = Result{Kind: KindWait, Value: n}
	if n == 0 {
		return x.o, nil
	}
	if override != nil {
		return x.o, fmt.Errorf("%s returned %d events into a %s buffer", c.Op, n, override.Text)
	}
	b, err := w.read(buf, int(n)*EventSize)
	if err != nil {
		return x.o, err
	}
	for k := 0; k < int(n); k++ {
		ev := b[k*EventSize:]
		x.o.Result.Events = append(x.o.Result.Events, Event{
			Mask: binary.LittleEndian.Uint32(ev),
			Data: binary.LittleEndian.Uint64(ev[4:]),
		})
	}
	return x.o, nil
}

// sigmask returns the guest address of the SIGNALS argument's sigset: 0
// for NULL or no argument, BadPtr, or the mask written to scratch memory.
func (x *execution) sigmask() (uint64, error) {
	s := x.c.Arg("SIGNALS")
	if s == nil {
		return 0, nil
	}
	switch s.Kind {
	case ArgNull:
		return 0, nil
	case ArgBadPtr:
		return x.w.mem.BadPtr(), nil
	}
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, s.Val)
	addr := x.w.scratch + offSigset
	return addr, x.w.write(addr, b)
}
