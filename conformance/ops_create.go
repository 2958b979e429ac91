package conformance

import (
	"fmt"

	fc "github.com/guestpoll/guestpoll/conformance/internal/fuzzcodec"
)

// createOps are the operations that create files.
var createOps = []*operation{
	{
		name: "epoll_create", sigs: [][]param{{intp("SIZE")}}, result: oneFD, binds: bindsNames,
		exec: func(x *execution) (Outcome, error) {
			return x.newFD(x.sys(sysEpollCreate, i32(x.arg("SIZE"))))
		},
		fuzz: fuzzing{opcode: 1, weight: 1,
			decode: func(d *fc.Decoder) {
				c, ok := sizeTab.pick(d)
				emitCreation(d, ok, func() string { return d.Bind("ep", fc.Epoll) }, "epoll_create "+c.text)
			},
			encode: func(e *fc.Encoder, c *Call) bool {
				v := argI32(c, "SIZE")
				sizeTab.encode(e, v, v > 0)
				return true
			}},
	},
	{
		name: "epoll_create1", sigs: [][]param{{maskp("FLAGS", create1Flags, 32)}}, result: oneFD, binds: bindsNames,
		exec: func(x *execution) (Outcome, error) {
			return x.newFD(x.sys(sysEpollCreate1, i32(x.arg("FLAGS"))))
		},
		fuzz: fuzzing{opcode: 0, weight: 4,
			decode: func(d *fc.Decoder) {
				c, ok := create1Tab.pick(d)
				emitCreation(d, ok, func() string { return d.Bind("ep", fc.Epoll) }, "epoll_create1 "+c.text)
			},
			encode: func(e *fc.Encoder, c *Call) bool {
				flags := argFlags(c)
				create1Tab.encode(e, int64(flags), flags&^oCloexec == 0)
				return true
			}},
	},
	{
		name: "pipe2", sigs: [][]param{{maskp("FLAGS", pipeFlags, 32)}}, result: twoFDs, binds: bindsNames,
		exec: func(x *execution) (Outcome, error) {
			pair, err := x.fdPair()
			if err != nil {
				return x.o, err
			}
			_, e := x.sys(sysPipe2, uintptr(pair), i32(x.arg("FLAGS")))
			return x.newFDPair(e)
		},
		fuzz: fuzzing{opcode: 2, weight: 3,
			decode: func(d *fc.Decoder) {
				c, ok := pipeTab.pick(d)
				emitCreation(d, ok, func() string { return d.BindPair("r", "w", fc.PipeRead, fc.PipeWrite) }, "pipe2 "+c.text)
			},
			encode: func(e *fc.Encoder, c *Call) bool {
				flags := argFlags(c)
				pipeTab.encode(e, int64(flags|oNonblock), flags&^(oNonblock|oCloexec|oDirect) == 0)
				return true
			}},
	},
	{
		name: "eventfd2", sigs: [][]param{{intp("INIT"), maskp("FLAGS", eventfdFlags, 32)}}, result: oneFD, binds: bindsNames,
		exec: func(x *execution) (Outcome, error) {
			return x.newFD(x.sys(sysEventfd2, i32(x.arg("INIT")), i32(x.arg("FLAGS"))))
		},
		fuzz: fuzzing{opcode: 3, weight: 3,
			decode: func(d *fc.Decoder) {
				init, _ := efdInitTab.pick(d)
				c, ok := efdFlagsTab.pick(d)
				emitCreation(d, ok, func() string { return d.Bind("ev", fc.Eventfd) }, "eventfd2 "+init.text+" "+c.text)
			},
			encode: func(e *fc.Encoder, c *Call) bool {
				flags := argFlags(c)
				efdInitTab.encode(e, int64(uint32(argVal(c, "INIT"))), true)
				efdFlagsTab.encode(e, int64(flags|oNonblock), flags&^(oNonblock|oCloexec|efdSemaphr) == 0)
				return true
			}},
	},
	{
		name: "socketpair", sigs: [][]param{{maskp("TYPE", sockTypes, 32), maskp("FLAGS", sockFlags, 32)}}, result: twoFDs, binds: bindsNames,
		exec: func(x *execution) (Outcome, error) {
			pair, err := x.fdPair()
			if err != nil {
				return x.o, err
			}
			_, e := x.sys(sysSocketpair, afUnix, i32(x.arg("TYPE")|x.arg("FLAGS")), 0, uintptr(pair))
			return x.newFDPair(e)
		},
		fuzz: fuzzing{opcode: 4, weight: 3,
			decode: func(d *fc.Decoder) {
				call, ok := decodeSocketArgs(d, "socketpair")
				emitCreation(d, ok, func() string { return d.BindPair("sa", "sb", fc.Socket, fc.Socket) }, call)
			},
			encode: encodeSocketArgs},
	},
	{
		name: "socket", sigs: [][]param{{maskp("TYPE", sockTypes, 32), maskp("FLAGS", sockFlags, 32)}}, result: oneFD, binds: bindsNames,
		exec: func(x *execution) (Outcome, error) {
			return x.newFD(x.sys(sysSocket, afUnix, i32(x.arg("TYPE")|x.arg("FLAGS")), 0))
		},
		fuzz: fuzzing{opcode: 5, weight: 1,
			decode: func(d *fc.Decoder) {
				call, ok := decodeSocketArgs(d, "socket")
				emitCreation(d, ok, func() string { return d.Bind("us", fc.Unconnected) }, call)
			},
			encode: encodeSocketArgs},
	},
	{
		name: "timerfd_create", sigs: [][]param{{maskp("CLOCK", clocks, 32), maskp("FLAGS", timerfdFlags, 32)}}, result: oneFD, binds: bindsNames,
		exec: func(x *execution) (Outcome, error) {
			return x.newFD(x.sys(sysTimerfdCreate, i32(x.arg("CLOCK")), i32(x.arg("FLAGS"))))
		},
		apply: func(ex *executor, c *Call, j *job) {
			ex.bindFDs(c, j, timerClock{c.Arg("CLOCK").Val, true})
		},
		fuzz: fuzzing{opcode: 6, weight: 1,
			decode: func(d *fc.Decoder) {
				clock, cok := clockTab.pick(d)
				flags, fok := tfdFlagsTab.pick(d)
				emitCreation(d, cok && fok, func() string { return d.Bind("tm", fc.Timerfd) }, "timerfd_create "+clock.text+" "+flags.text)
			},
			encode: func(e *fc.Encoder, c *Call) bool {
				flags := argFlags(c)
				clk := argVal(c, "CLOCK")
				clockTab.encode(e, clk, clk == 0 || clk == 1 || clk == 7)
				tfdFlagsTab.encode(e, int64(flags|oNonblock), flags&^(oNonblock|oCloexec) == 0)
				return true
			}},
	},
	{
		name: "open_regular", sigs: [][]param{{}}, result: oneFD, binds: bindsNames,
		exec: func(x *execution) (Outcome, error) {
			name := x.w.scratch + offMemfdName
			if err := x.w.write(name, []byte("conf\x00")); err != nil {
				return x.o, err
			}
			return x.newFD(x.sys(sysMemfdCreate, uintptr(name), 0))
		},
		fuzz: fuzzing{opcode: 7, weight: 1,
			decode: func(d *fc.Decoder) { d.Emit("%s = open_regular", d.Bind("f", fc.Regular)) },
			encode: func(e *fc.Encoder, c *Call) bool { return true }},
	},
}

// decodeSocketArgs decodes socket's and socketpair's TYPE and FLAGS: the
// call's text, and whether it cannot fail.
func decodeSocketArgs(d *fc.Decoder, op string) (string, bool) {
	typ, tok := sockTypeTab.pick(d)
	flags, fok := sockFlagsTab.pick(d)
	return fmt.Sprintf("%s %s %s", op, typ.text, flags.text), tok && fok
}

func encodeSocketArgs(e *fc.Encoder, c *Call) bool {
	flags := argFlags(c)
	typ := argVal(c, "TYPE")
	sockTypeTab.encode(e, typ, typ == 1 || typ == 2 || typ == 5)
	sockFlagsTab.encode(e, int64(flags|oNonblock), flags&^(oNonblock|oCloexec) == 0)
	return true
}

// The generator's values of the creations' arguments: the entries before
// Valid always succeed, the others always fail.
var (
	create1Tab = valueTable{vals: []choice{{"0", 0}, {"CLOEXEC", oCloexec}, {"1", 1}, {"0x800", oNonblock}, {"0xffffffff", -1}}, valid: 2}
	sizeTab    = valueTable{vals: nums(1, 8, intMax, 0, -1, intMin), valid: 3}
	pipeTab    = valueTable{vals: []choice{
		{"NONBLOCK", oNonblock}, {"NONBLOCK|CLOEXEC", oNonblock | oCloexec}, {"NONBLOCK|DIRECT", oNonblock | oDirect},
		{"NONBLOCK|CLOEXEC|DIRECT", oNonblock | oCloexec | oDirect}, {"1", 1}, {"0xffffffff", -1}}, valid: 4}
	efdInitTab  = valueTable{vals: nums(0, 1, 2, 3, 7, 0xfffffffe, 0xffffffff), valid: 7}
	efdFlagsTab = valueTable{vals: []choice{
		{"NONBLOCK", oNonblock}, {"NONBLOCK|SEMAPHORE", oNonblock | efdSemaphr}, {"NONBLOCK|CLOEXEC", oNonblock | oCloexec},
		{"NONBLOCK|SEMAPHORE|CLOEXEC", oNonblock | efdSemaphr | oCloexec}, {"2", 2}, {"0xffffffff", -1}}, valid: 4}
	sockTypeTab  = valueTable{vals: []choice{{"STREAM", 1}, {"DGRAM", 2}, {"SEQPACKET", 5}, {"0", 0}, {"4", 4}}, valid: 3}
	sockFlagsTab = valueTable{vals: []choice{{"NONBLOCK", oNonblock}, {"NONBLOCK|CLOEXEC", oNonblock | oCloexec}, {"0x100", 0x100}}, valid: 2}
	clockTab     = valueTable{vals: []choice{{"MONOTONIC", 1}, {"REALTIME", 0}, {"BOOTTIME", 7}, {"2", 2}, {"3", 3}, {"-1", -1}}, valid: 3}
	tfdFlagsTab  = valueTable{vals: []choice{{"NONBLOCK", oNonblock}, {"NONBLOCK|CLOEXEC", oNonblock | oCloexec}, {"1", 1}, {"0x100", 0x100}}, valid: 2}
)
