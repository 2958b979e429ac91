package conformance

import (
	"fmt"
	"strings"

	fc "github.com/guestpoll/guestpoll/conformance/internal/fuzzcodec"
)

// The generator's parts of version 3's operations (their table entries
// name these). Every generated script stays deterministic and never
// blocks (package fuzzgen's doc.go): forks run one call at a time, each
// joined at once; waitpid reaps only a process that exited; every new
// socket, FIFO end and signalfd is non-blocking; a connect binds a name
// only when the simulation knows it succeeds; signals are SIGUSR1 (caught
// in every process), SIGCHLD (ignored, never blocked) and SIGUSR2 (whose
// default action kills) only to a process that blocks it and never
// unblocks it afterwards.

// procIndex returns p's position in list.
func procIndex(list []*fc.Proc, p *fc.Proc) int {
	for i, x := range list {
		if x == p {
			return i
		}
	}
	return 0
}

// pickProc decodes a selector among the forks in the given states,
// forking one (and making it exit, for exited) when there is none; nil
// when none can be made.
func pickProc(d *fc.Decoder, sel byte, states ...fc.ProcState) *fc.Proc {
	list := d.ProcsIn(states...)
	if len(list) == 0 {
		name := d.Fork()
		if name == "" {
			return nil
		}
		d.Emit("fork %s", name)
		p := d.Procs()[len(d.Procs())-1]
		if states[0] != fc.ProcRunning {
			d.Exit(p)
			d.Emit("exit %s", name)
		}
		return p
	}
	return list[int(sel)%len(list)]
}

// encodeProc encodes the selector of the fork named by c's P argument
// among the forks in the given states.
func encodeProc(e *fc.Encoder, c *Call, states ...fc.ProcState) {
	p := e.Proc(c.Arg("P").Text)
	e.Put(byte(procIndex(e.Decoder().ProcsIn(states...), p)))
}

// decodeFork decodes fork's opcode: a selector that is 0 modulo 4 forks
// (up to fc.MaxForks); any other runs the next operation as a step of a
// running fork (forking one if none runs), 'P & CALL' and 'join P'.
func decodeFork(d *fc.Decoder) {
	s := d.Byte()
	if s%4 == 0 {
		if name := d.Fork(); name != "" {
			d.Emit("fork %s", name)
		}
		return
	}
	if p := pickProc(d, s/4, fc.ProcRunning); p != nil {
		d.OnProc(p, func() { decodeOneOp(d) })
	}
}

func encodeFork(e *fc.Encoder, c *Call) bool {
	e.Forking(c.Arg("P").Text)
	e.Put(0)
	return true
}

func decodeExit(d *fc.Decoder) {
	if p := pickProc(d, d.Byte(), fc.ProcRunning); p != nil {
		d.Exit(p)
		d.Emit("exit %s", p.Name)
	}
}

func encodeExit(e *fc.Encoder, c *Call) bool {
	encodeProc(e, c, fc.ProcRunning)
	return true
}

// decodeWaitpid reaps (or fails with ECHILD on) a fork that exited: a
// waitpid for a running fork would block.
func decodeWaitpid(d *fc.Decoder) {
	p := pickProc(d, d.Byte(), fc.ProcExited, fc.ProcReaped)
	if p == nil {
		if p = pickProc(d, 0, fc.ProcRunning); p == nil {
			return
		}
		d.Exit(p)
		d.Emit("exit %s", p.Name)
	}
	d.Emit("waitpid %s", p.Name)
	p.State = fc.ProcReaped
}

func encodeWaitpid(e *fc.Encoder, c *Call) bool {
	encodeProc(e, c, fc.ProcExited, fc.ProcReaped)
	return true
}

var pidfdFlagsTab = valueTable{vals: []choice{{"0", 0}, {"NONBLOCK", oNonblock}, {"1", 1}}, valid: 2}

func decodePidfdOpen(d *fc.Decoder) {
	p := pickProc(d, d.Byte(), fc.ProcRunning, fc.ProcExited, fc.ProcReaped)
	fl, ok := pidfdFlagsTab.pick(d)
	if p == nil {
		return
	}
	// A reaped process has no pid any more: ESRCH.
	emitCreation(d, ok && p.State != fc.ProcReaped, func() string { return d.Bind("pd", fc.Pidfd) },
		fmt.Sprintf("pidfd_open %s %s", p.Name, fl.text))
}

func encodePidfdOpen(e *fc.Encoder, c *Call) bool {
	encodeProc(e, c, fc.ProcRunning, fc.ProcExited, fc.ProcReaped)
	fl := argFlags(c)
	pidfdFlagsTab.encode(e, int64(fl), fl&^oNonblock == 0)
	return true
}

// signalTab is what kill and tkill send: SIGUSR2 only where it is
// blocked (safeSignal).
var signalTab = []string{"USR1", "CHLD", "USR2"}

// safeSignal returns sig, or USR1 in place of a SIGUSR2 that target does
// not block (its default action would kill target); it records a
// SIGUSR2 sent to a live process.
func safeSignal(target *fc.Proc, sig string) string {
	if sig != "USR2" || target.State != fc.ProcRunning {
		return sig
	}
	if target.Mask&fc.SigUSR2 == 0 {
		return "USR1"
	}
	target.USR2Sent = true
	return sig
}

// decodeKill sends a signal to the script's process (SELF) or a fork.
func decodeKill(d *fc.Decoder) {
	s := int(d.Byte())
	sig := signalTab[d.Sel(len(signalTab))]
	target, name := d.Main(), "SELF"
	if procs := d.Procs(); s%4 != 0 && len(procs) > 0 {
		target = procs[(s/4)%len(procs)]
		name = target.Name
	}
	d.Emit("kill %s %s", name, safeSignal(target, sig))
}

func encodeKill(e *fc.Encoder, c *Call) bool {
	if p := e.Proc(c.Arg("P").Text); p != nil {
		e.Put(byte(4*procIndex(e.Decoder().Procs(), p) + 1))
	} else {
		e.Put(0)
	}
	e.Put(fc.Index(signalTab, c.Arg("SIGNAL").Text, 0))
	return true
}

// decodeTkill signals the main script thread (the generator starts no
// other thread).
func decodeTkill(d *fc.Decoder) {
	sig := signalTab[d.Sel(len(signalTab))]
	d.Emit("tkill MAIN %s", safeSignal(d.Main(), sig))
}

func encodeTkill(e *fc.Encoder, c *Call) bool {
	e.Put(fc.Index(signalTab, c.Arg("SIGNAL").Text, 0))
	return true
}

// sigmask's sets never hold SIGCHLD: the host's Go runtime unblocks it
// on threads of its own, which would take a blocked one in place of the
// script's (conformance/doc.go).
var (
	sigmaskHowTab = []string{"BLOCK", "UNBLOCK", "SETMASK", "3"}
	sigmaskSetTab = []choice{{"USR1", int64(fc.SigUSR1)}, {"USR2", int64(fc.SigUSR2)},
		{"USR1|USR2", int64(fc.SigUSR1 | fc.SigUSR2)}, {"0", 0}, {"NULL", -1}, {"BADPTR", -2}}
)

// decodeSigmask changes the mask of the thread running the step; a
// change that would unblock SIGUSR2 in a process it was sent to blocks
// the set instead.
func decodeSigmask(d *fc.Decoder) {
	how := sigmaskHowTab[d.Sel(len(sigmaskHowTab))]
	set := sigmaskSetTab[d.Sel(len(sigmaskSetTab))]
	p := d.Cur()
	if set.val >= 0 && how != "3" {
		bits := uint64(set.val)
		next := map[string]uint64{"BLOCK": p.Mask | bits, "UNBLOCK": p.Mask &^ bits, "SETMASK": bits}[how]
		if p.USR2Sent && next&fc.SigUSR2 == 0 {
			how, next = "BLOCK", p.Mask|bits
		}
		p.Mask = next
	}
	d.Emit("sigmask %s %s", how, set.text)
}

func encodeSigmask(e *fc.Encoder, c *Call) bool {
	e.Put(fc.Index(sigmaskHowTab, c.Arg("HOW").Text, 0))
	e.Put(encodeSigset(c.Arg("SIGNALS")))
	return true
}

// encodeSigset returns the selector of sigmaskSetTab closest to a.
func encodeSigset(a *Arg) byte {
	switch {
	case a == nil || a.Kind == ArgNull:
		return 4
	case a.Kind == ArgBadPtr:
		return 5
	}
	for i, c := range sigmaskSetTab {
		if c.val >= 0 && uint64(c.val) == a.Val&^fc.SigCHLD {
			return byte(i)
		}
	}
	return 3
}

var (
	signalfdSetTab = valueTable{vals: []choice{{"USR1", 0}, {"USR2", 0}, {"CHLD", 0}, {"USR1|USR2", 0},
		{"USR1|USR2|CHLD", 0}, {"0", 0}, {"NULL", 0}, {"BADPTR", 0}}, valid: 6}
	nonblockFlagsTab = valueTable{vals: []choice{{"NONBLOCK", oNonblock}, {"NONBLOCK|CLOEXEC", oNonblock | oCloexec}, {"1", 1}}, valid: 2}
	// socketFlagsTab has no invalid entry: socket(2) ors FLAGS into
	// TYPE, so a stray bit makes another type or a blocking socket.
	socketFlagsTab = valueTable{vals: nonblockFlagsTab.vals[:2], valid: 2}
)

func decodeSignalfd(d *fc.Decoder) {
	set, sok := signalfdSetTab.pick(d)
	fl, fok := nonblockFlagsTab.pick(d)
	emitCreation(d, sok && fok, func() string { return d.Bind("sfd", fc.Signalfd) }, "signalfd "+set.text+" "+fl.text)
}

func encodeSignalfd(e *fc.Encoder, c *Call) bool {
	a := c.Arg("SIGNALS")
	switch {
	case a == nil || a.Kind == ArgNull:
		e.Put(6)
	case a.Kind == ArgBadPtr:
		e.Put(7)
	default:
		e.Put(fc.Index([]string{"USR1", "USR2", "CHLD", "USR1|USR2", "USR1|USR2|CHLD", "0"}, a.Text, 3))
	}
	fl := argFlags(c)
	nonblockFlagsTab.encode(e, int64(fl|oNonblock), fl&^(oNonblock|oCloexec) == 0)
	return true
}

// The version 3 file operations' values.
var (
	listenTypeTab = valueTable{vals: []choice{{"STREAM", 1}, {"SEQPACKET", 5}, {"DGRAM", 2}}, valid: 2}
	// backlogTab: listen(-1) takes the maximum, somaxconn (4096).
	backlogTab  = []choice{{"0", 0}, {"1", 1}, {"2", 2}, {"5", 5}, {"-1", 4096}}
	fifoNameTab = []string{"fifoa", "fifob"}
	fifoOpenTab = []string{"RDONLY|NONBLOCK", "WRONLY|NONBLOCK", "RDWR|NONBLOCK",
		"RDONLY|NONBLOCK|CLOEXEC", "WRONLY|NONBLOCK|CLOEXEC", "RDWR|NONBLOCK|CLOEXEC"}
	sendFlagsTab = []string{"0", "OOB", "DONTWAIT", "NOSIGNAL", "OOB|DONTWAIT", "DONTWAIT|NOSIGNAL"}
	recvFlagsTab = []string{"0", "OOB", "PEEK", "DONTWAIT", "OOB|PEEK", "PEEK|DONTWAIT"}
	pipeSizeTab  = nums(4096, 8192, 65536, 1048576, 0, 1, 4097, 16384, -1)
)

// decodeListenSocket makes a non-blocking listener on a fresh address.
func decodeListenSocket(d *fc.Decoder) {
	typ, tok := listenTypeTab.pick(d)
	fl, fok := socketFlagsTab.pick(d)
	bl := backlogTab[d.Sel(len(backlogTab))]
	emitCreation(d, tok && fok, func() string { return d.BindListener(int(typ.val), int(bl.val)) },
		fmt.Sprintf("listen_socket %s %s %s", typ.text, fl.text, bl.text))
}

func encodeListenSocket(e *fc.Encoder, c *Call) bool {
	typ := argVal(c, "TYPE")
	listenTypeTab.encode(e, typ, typ == 1 || typ == 5)
	fl := argFlags(c)
	socketFlagsTab.encode(e, int64(fl|oNonblock), fl&^(oNonblock|oCloexec) == 0)
	e.Put(nearest(backlogTab, argI32(c, "BACKLOG")))
	return true
}

// decodeConnect connects a non-blocking socket to a listener (making one
// when none was); it binds a name when the simulation knows the connect
// succeeds (fc.Decoder.ConnectSucceeds).
func decodeConnect(d *fc.Decoder) {
	s := d.Sel(256)
	typ, _ := listenTypeTab.pick(d)
	if typ.val == 2 {
		typ = listenTypeTab.vals[0]
	}
	fl, fok := socketFlagsTab.pick(d)
	ls := d.Listeners()
	if len(ls) == 0 {
		d.Emit("%s = listen_socket %s NONBLOCK 1", d.BindListener(int(typ.val), 1), typ.text)
		ls = d.Listeners()
	}
	l := ls[s%len(ls)]
	call := fmt.Sprintf("connect %s %s %s", l, typ.text, fl.text)
	if fok && d.ConnectSucceeds(l, int(typ.val)) {
		d.Emit("%s = %s", d.Bind("c", fc.Socket), call)
	} else {
		d.Emit("%s", call)
	}
}

func encodeConnect(e *fc.Encoder, c *Call) bool {
	ls := e.Decoder().Listeners()
	if len(ls) == 0 {
		return false
	}
	e.Put(0)
	for i, l := range ls {
		if l == e.DecodedName(c.Arg("L").Text) {
			e.Replace(byte(i))
		}
	}
	typ := argVal(c, "TYPE")
	listenTypeTab.encode(e, typ, true)
	fl := argFlags(c)
	socketFlagsTab.encode(e, int64(fl|oNonblock), fl&^(oNonblock|oCloexec) == 0)
	return true
}

func decodeAccept4(d *fc.Decoder) {
	r := d.FDOf(fc.Listener)
	fl, ok := nonblockFlagsTab.pick(d)
	emitCreation(d, ok && d.Accept(r), func() string { return d.Bind("a", fc.Socket) }, "accept4 "+r.Text+" "+fl.text)
}

func encodeAccept4(e *fc.Encoder, c *Call) bool {
	encodeFDOf(e, fc.Listener, c.Arg("L"))
	fl := argFlags(c)
	nonblockFlagsTab.encode(e, int64(fl|oNonblock), fl&^(oNonblock|oCloexec) == 0)
	return true
}

// decodeFifoOpen opens a FIFO end, always non-blocking (a blocking open
// waits for the other end, and a blocking end's reads wait for data); a
// write-only open binds a name only when a reader is open (else ENXIO).
func decodeFifoOpen(d *fc.Decoder) {
	name := fifoNameTab[d.Sel(len(fifoNameTab))]
	fl := fifoOpenTab[d.Sel(len(fifoOpenTab))]
	write := strings.HasPrefix(fl, "WRONLY")
	emitCreation(d, !write || d.FifoHasReader(name), func() string { return d.BindFifo(name, !write) },
		"fifo_open "+name+" "+fl)
}

func encodeFifoOpen(e *fc.Encoder, c *Call) bool {
	e.Put(fc.Index(fifoNameTab, c.Arg("NAME").Text, 0))
	e.Put(byte([]int{0, 1, 2, 0}[argFlags(c)&3] + 3*int(min(argFlags(c)&oCloexec, 1))))
	return true
}

func decodeSendRecv(d *fc.Decoder, op string, flags []string) {
	r := d.FD()
	n := sizeIOTab[d.Sel(len(sizeIOTab))].text
	d.Emit("%s %s %s %s", op, r.Text, n, flags[d.Sel(len(flags))])
}

func encodeSendRecv(flags []string) func(e *fc.Encoder, c *Call) bool {
	return func(e *fc.Encoder, c *Call) bool {
		encodeFD(e, c.Arg("FD"))
		e.Put(nearest(sizeIOTab, argVal(c, "N")))
		e.Put(fc.Index(flags, c.Arg("FLAGS").Text, 0))
		return true
	}
}

func decodeSetpipeSz(d *fc.Decoder) {
	r := d.FD()
	d.Emit("fcntl_setpipe_sz %s %s", r.Text, pipeSizeTab[d.Sel(len(pipeSizeTab))].text)
}

func encodeSetpipeSz(e *fc.Encoder, c *Call) bool {
	encodeFD(e, c.Arg("FD"))
	e.Put(nearest(pipeSizeTab, argI32(c, "N")))
	return true
}
