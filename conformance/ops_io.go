package conformance

import (
	"encoding/binary"
	"fmt"

	fc "github.com/guestpoll/guestpoll/conformance/internal/fuzzcodec"
)

// ioOps are the operations on the files' data and readiness.
var ioOps = []*operation{
	{
		name: "write", sigs: [][]param{{fdp("FD"), countp("N")}}, result: valueResult,
		exec: func(x *execution) (Outcome, error) { return x.transfer(sysWrite) },
		fuzz: fuzzing{opcode: 18, weight: 5,
			decode: func(d *fc.Decoder) { decodeTransfer(d, "write") },
			encode: encodeTransfer},
	},
	{
		name: "read", sigs: [][]param{{fdp("FD"), countp("N")}}, result: valueResult,
		exec: func(x *execution) (Outcome, error) { return x.transfer(sysRead) },
		fuzz: fuzzing{opcode: 19, weight: 5,
			decode: func(d *fc.Decoder) { decodeTransfer(d, "read") },
			encode: encodeTransfer},
	},
	{
		name: "eventfd_write", sigs: [][]param{{fdp("FD"), i64p("VALUE")}}, result: valueResult,
		exec: func(x *execution) (Outcome, error) {
			b := make([]byte, 8)
			binary.LittleEndian.PutUint64(b, x.arg("VALUE"))
			if err := x.w.write(x.w.scratch+offEventfd, b); err != nil {
				return x.o, err
			}
			return x.value(x.sys(sysWrite, x.fd("FD"), uintptr(x.w.scratch+offEventfd), 8))
		},
		fuzz: fuzzing{opcode: 20, weight: 3,
			decode: func(d *fc.Decoder) {
				r := d.FD()
				d.Emit("eventfd_write %s %s", r.Text, efdValTab[d.Sel(len(efdValTab))].text)
			},
			encode: func(e *fc.Encoder, c *Call) bool {
				encodeFD(e, c.Arg("FD"))
				e.Put(0)
				for i, x := range efdValTab {
					if x.val == argVal(c, "VALUE") {
						e.Replace(byte(i))
					}
				}
				return true
			}},
	},
	{
		name: "eventfd_read", sigs: [][]param{{fdp("FD")}}, result: resultSpec{kind: KindEventfdRead},
		exec: execEventfdRead,
		fuzz: fuzzing{opcode: 21, weight: 2,
			decode: func(d *fc.Decoder) { d.Emit("eventfd_read %s", d.FD().Text) },
			encode: encodeFDOnly},
	},
	{
		name: "shutdown", sigs: [][]param{{fdp("FD"), maskp("HOW", shutdownHows, 32)}}, result: valueResult,
		exec: func(x *execution) (Outcome, error) {
			return x.value(x.sys(sysShutdown, x.fd("FD"), i32(x.arg("HOW"))))
		},
		fuzz: fuzzing{opcode: 22, weight: 2,
			decode: func(d *fc.Decoder) {
				r := d.FD()
				how := howTab[d.Sel(len(howTab))]
				d.Shutdown(r, how)
				d.Emit("shutdown %s %s", r.Text, how)
			},
			encode: func(e *fc.Encoder, c *Call) bool {
				encodeFD(e, c.Arg("FD"))
				e.Put(byte(min(uint64(argVal(c, "HOW")), 3)))
				return true
			}},
	},
	{
		name: "poll", sigs: [][]param{{fdp("FD"), maskp("EVENTS", pollTable, 16), intp("TIMEOUT_MS")}}, result: resultSpec{kind: KindPoll},
		exec: execPoll,
		fuzz: fuzzing{opcode: 16, weight: 3,
			decode: func(d *fc.Decoder) {
				r := d.FD()
				d.Emit("poll %s %s 0", r.Text, maskText(d.Mask(pollMaskTab, 2)&0xffff))
			},
			encode: func(e *fc.Encoder, c *Call) bool {
				if a := c.Arg("FD"); e.PrevExpired() != "" && a.Text == e.PrevExpired() && c.Arg("TIMEOUT_MS").Val == 1000 {
					return false // the wait the generator adds after an expired timer
				}
				encodeFD(e, c.Arg("FD"))
				e.Mask(pollMaskTab, uint32(argVal(c, "EVENTS")), 2)
				return true
			}},
	},
	{
		name: "timerfd_settime", sigs: [][]param{{fdp("FD"), maskp("FLAGS", settimeFlags, 32), {name: "VALUE_MS", kind: pTime}, i64p("INTERVAL_MS")}}, result: valueResult,
		check: checkSettime,
		exec:  execSettime,
		fuzz:  fuzzing{opcode: 23, weight: 2, decode: decodeSettime, encode: encodeSettime},
	},
}

// transfer runs a write or a read of N bytes from or into the thread's
// I/O buffer.
func (x *execution) transfer(nr uintptr) (Outcome, error) {
	n := x.arg("N")
	buf, err := x.w.ioBuffer(n)
	if err != nil {
		return x.o, err
	}
	return x.value(x.sys(nr, x.fd("FD"), uintptr(buf), uintptr(n)))
}

func execEventfdRead(x *execution) (Outcome, error) {
	w := x.w
	if err := w.write(w.scratch+offEventfd, make([]byte, 8)); err != nil {
		return x.o, err
	}
	r, e := x.sys(sysRead, x.fd("FD"), uintptr(w.scratch+offEventfd), 8)
	if e != 0 {
		return x.errno(e)
	}
	if r > 8 {
		return x.o, fmt.Errorf("read of 8 bytes returned %d", r)
	}
	b, err := w.read(w.scratch+offEventfd, 8)
	if err != nil {
		return x.o, err
	}
	var v uint64
	for k := int(r) - 1; k >= 0; k-- {
		v = v<<8 | uint64(b[k])
	}
	x.o.Result = Result{Kind: KindEventfdRead, Value: int64(r), U64: v}
	return x.o, nil
}

func execPoll(x *execution) (Outcome, error) {
	w := x.w
	b := make([]byte, 8)
	binary.LittleEndian.PutUint32(b, uint32(x.j.fd("FD")))
	binary.LittleEndian.PutUint16(b[4:], uint16(x.arg("EVENTS")))
	if err := w.write(w.scratch+offPollfd, b); err != nil {
		return x.o, err
	}
	r, e := x.sys(sysPoll, uintptr(w.scratch+offPollfd), 1, i32(x.arg("TIMEOUT_MS")))
	if e != 0 {
		return x.errno(e)
	}
	rb, err := w.read(w.scratch+offPollfd, 8)
	if err != nil {
		return x.o, err
	}
	x.o.Result = Result{Kind: KindPoll, Value: int64(r), Mask: uint64(binary.LittleEndian.Uint16(rb[6:]))}
	return x.o, nil
}

func decodeTransfer(d *fc.Decoder, op string) {
	r := d.FD()
	d.Emit("%s %s %s", op, r.Text, sizeIOTab[d.Sel(len(sizeIOTab))].text)
}

func encodeTransfer(e *fc.Encoder, c *Call) bool {
	encodeFD(e, c.Arg("FD"))
	e.Put(nearest(sizeIOTab, argVal(c, "N")))
	return true
}

// The generator's values of the I/O arguments.
var (
	sizeIOTab = nums(1, 2, 7, 8, 9, 100, 4096, 0, 512, 4095, 4097, 8192, 65535, 65536, 65537, 100000, 212992, 300000)
	efdValTab = []choice{{"1", 1}, {"2", 2}, {"0", 0}, {"3", 3}, {"100", 100},
		{"0xfffffffffffffffe", -2}, {"0xffffffffffffffff", -1}, {"0x7fffffffffffffff", 1<<63 - 1}, {"0xfffffffffffffffd", -3}}
	howTab = []string{"RD", "WR", "RDWR", "3", "-1"}
	// Event masks for poll (selector < 0x80; otherwise 2 raw bytes).
	pollMaskTab = []uint32{
		evIn, evOut, evIn | evOut, evPri, evRdhup, evIn | evRdhup, 0, evRdnorm | evWrnorm,
		evIn | evOut | evPri | evErr | evHup | evNval | evRdnorm | evRdband | evWrnorm | evWrband | evMsg | evRdhup,
		evErr | evHup | evNval, evIn | evPri | evRdnorm | evRdband, evOut | evWrnorm | evWrband,
	}
)

// checkSettime refuses a relative VALUE_MS without ABSTIME.
func checkSettime(args []Arg) error {
	v := args[2]
	if v.Kind == ArgRelative && args[1].Val&1 == 0 {
		return fmt.Errorf("VALUE_MS %q is relative to now ('+MS'), which needs the ABSTIME bit in FLAGS", v.Text)
	}
	return nil
}

// execSettime arms a timerfd; a '+MS' value is made absolute on the
// timer's clock (job.clock) just before the call.
func execSettime(x *execution) (Outcome, error) {
	w := x.w
	v := x.c.Arg("VALUE_MS")
	var sec, nsec int64
	if v.Kind == ArgRelative {
		if _, e := w.sys(sysClockGettime, uintptr(x.j.clock), uintptr(w.scratch+offTimespec)); e != 0 {
			return x.errno(e)
		}
		b, err := w.read(w.scratch+offTimespec, 16)
		if err != nil {
			return x.o, err
		}
		now := int64(binary.LittleEndian.Uint64(b))*1e9 + int64(binary.LittleEndian.Uint64(b[8:]))
		abs := now + int64(v.Val)*1e6
		sec, nsec = abs/1e9, abs%1e9
	} else {
		sec, nsec = msToTimespec(int64(v.Val))
	}
	isec, insec := msToTimespec(int64(x.arg("INTERVAL_MS")))
	b := make([]byte, 32)
	binary.LittleEndian.PutUint64(b, uint64(isec))
	binary.LittleEndian.PutUint64(b[8:], uint64(insec))
	binary.LittleEndian.PutUint64(b[16:], uint64(sec))
	binary.LittleEndian.PutUint64(b[24:], uint64(nsec))
	if err := w.write(w.scratch+offItimer, b); err != nil {
		return x.o, err
	}
	return x.value(x.sys(sysTimerfdSettm, x.fd("FD"), i32(x.arg("FLAGS")), uintptr(w.scratch+offItimer), 0))
}

// msToTimespec splits milliseconds with Go's truncating division, so a
// negative value gives a negative tv_nsec (EINVAL), as in C.
func msToTimespec(ms int64) (sec, nsec int64) { return ms / 1000, (ms % 1000) * 1e6 }

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

func decodeSettime(d *fc.Decoder) {
	r := d.FD()
	form := timerForms[d.Sel(len(timerForms))]
	d.Emit("timerfd_settime %s %s", r.Text, form.args)
	if k, ok := d.KindOf(r); ok && k == fc.Timerfd && form.expired {
		d.Emit("poll %s IN 1000", r.Text)
	}
}

func encodeSettime(e *fc.Encoder, c *Call) bool {
	encodeFD(e, c.Arg("FD"))
	form := timerForm(c)
	e.Put(form)
	if timerForms[form].expired {
		e.SetExpired(c.Arg("FD").Text)
	}
	return true
}

// timerForm picks the timer form closest to a timerfd_settime step: a timer
// the script lets expire becomes an already-expired one.
func timerForm(c *Call) byte {
	flags := c.Arg("FLAGS").Val
	v := c.Arg("VALUE_MS")
	interval := int64(c.Arg("INTERVAL_MS").Val)
	var want string
	switch {
	case flags&^3 != 0:
		want = "4 1000000 0"
	case v.Kind != ArgRelative && int64(v.Val) < 0 || interval < 0:
		want = "0 -1 0"
	case v.Kind != ArgRelative && v.Val == 0:
		want = "0 0 0"
	case v.Kind == ArgRelative && int64(v.Val) >= 1000 || v.Kind != ArgRelative && flags&1 == 0 && int64(v.Val) >= 1000:
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
