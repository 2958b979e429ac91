package conformance

import (
	"encoding/binary"
	"fmt"

	fc "github.com/guestpoll/guestpoll/conformance/internal/fuzzcodec"
)

// fdOps are the operations on fd numbers and fd flags.
var fdOps = []*operation{
	{
		name: "dup", sigs: [][]param{{fdp("FD")}}, result: oneFD, binds: bindsNames,
		exec: func(x *execution) (Outcome, error) { return x.newFD(x.sys(sysDup, x.fd("FD"))) },
		apply: func(ex *executor, c *Call, j *job) {
			ex.bindFDs(c, j, ex.clockOf(j.fd("FD")))
		},
		fuzz: fuzzing{opcode: 8, weight: 2,
			decode: func(d *fc.Decoder) {
				old := d.FD()
				if name, ok := d.BindShared("d", old); ok {
					d.Emit("%s = dup %s", name, old.Text)
				} else {
					d.Emit("dup %s", old.Text)
				}
			},
			encode: func(e *fc.Encoder, c *Call) bool {
				encodeFD(e, c.Arg("FD"))
				return true
			}},
	},
	{
		name: "dup2", sigs: [][]param{{fdp("OLD"), newfdp()}}, result: oneFD, binds: bindsNew,
		exec: func(x *execution) (Outcome, error) { return x.newFD(x.sys(sysDup2, x.fd("OLD"), x.fd("NEW"))) },
		apply: func(ex *executor, c *Call, j *job) {
			if j.out.Result.Kind == KindFDs && j.fd("OLD") == j.out.FDs[0] {
				return // dup2 of a number onto itself changes nothing
			}
			ex.bindFDs(c, j, ex.clockOf(j.fd("OLD")))
		},
		fuzz: fuzzing{opcode: 9, weight: 2,
			decode: func(d *fc.Decoder) {
				old, nw := d.FD(), d.FD()
				d.Emit("dup2 %s %s", old.Text, nw.Text)
				d.DupOnto(old, nw)
			},
			encode: func(e *fc.Encoder, c *Call) bool {
				encodeFD(e, c.Arg("OLD"))
				encodeFD(e, c.Arg("NEW"))
				return true
			}},
	},
	{
		name: "dup3", sigs: [][]param{{fdp("OLD"), newfdp(), maskp("FLAGS", dup3Flags, 32)}}, result: oneFD, binds: bindsNew,
		exec: func(x *execution) (Outcome, error) {
			return x.newFD(x.sys(sysDup3, x.fd("OLD"), x.fd("NEW"), i32(x.arg("FLAGS"))))
		},
		apply: func(ex *executor, c *Call, j *job) {
			ex.bindFDs(c, j, ex.clockOf(j.fd("OLD")))
		},
		fuzz: fuzzing{opcode: 10, weight: 1,
			decode: func(d *fc.Decoder) {
				old, nw := d.FD(), d.FD()
				flags, ok := dup3Tab.pick(d)
				d.Emit("dup3 %s %s %s", old.Text, nw.Text, flags.text)
				if ok && old.Num != nw.Num {
					d.DupOnto(old, nw)
				}
			},
			encode: func(e *fc.Encoder, c *Call) bool {
				encodeFD(e, c.Arg("OLD"))
				encodeFD(e, c.Arg("NEW"))
				flags := argFlags(c)
				dup3Tab.encode(e, int64(flags), flags&^oCloexec == 0)
				return true
			}},
	},
	{
		name: "close", sigs: [][]param{{fdp("FD")}}, result: valueResult,
		exec:  func(x *execution) (Outcome, error) { return x.value(x.sys(sysClose, x.fd("FD"))) },
		apply: applyClose,
		fuzz: fuzzing{opcode: 11, weight: 4,
			decode: func(d *fc.Decoder) {
				r := d.FD()
				d.Emit("close %s", r.Text)
				d.Close(r)
			},
			encode: encodeFDOnly},
	},
	{
		name: "fcntl_setfl", sigs: [][]param{{fdp("FD"), maskp("FLAGS", setflFlags, 32)}}, result: valueResult,
		exec: func(x *execution) (Outcome, error) {
			return x.value(x.sys(sysFcntl, x.fd("FD"), fSetfl, i32(x.arg("FLAGS"))))
		},
		fuzz: fuzzing{opcode: 24, weight: 1, decode: decodeSetfl,
			encode: func(e *fc.Encoder, c *Call) bool {
				encodeFD(e, c.Arg("FD"))
				e.Put(0)
				for i, x := range setflTab {
					if x.val == int64(argFlags(c)) {
						e.Replace(byte(i))
					}
				}
				return true
			}},
	},
	{
		name: "fcntl_getfl", sigs: [][]param{{fdp("FD")}}, result: resultSpec{kind: KindGetfl},
		exec: func(x *execution) (Outcome, error) { return x.getFlags(fGetfl, KindGetfl, getflShown) },
		fuzz: fuzzing{opcode: 25, weight: 1,
			decode: func(d *fc.Decoder) { d.Emit("fcntl_getfl %s", d.FD().Text) },
			encode: encodeFDOnly},
	},
	{
		name: "fcntl_getfd", sigs: [][]param{{fdp("FD")}}, result: resultSpec{kind: KindGetfd},
		exec: func(x *execution) (Outcome, error) { return x.getFlags(fGetfd, KindGetfd, ^uint64(0)) },
		fuzz: fuzzing{opcode: 26, weight: 1,
			decode: func(d *fc.Decoder) { d.Emit("fcntl_getfd %s", d.FD().Text) },
			encode: encodeFDOnly},
	},
	{
		name: "setrlimit_nofile", sigs: [][]param{{i64p("N")}}, result: valueResult,
		exec: execSetrlimit,
		fuzz: fuzzing{notGenerated: "the Linux side of a fuzz run shares the test process, whose RLIMIT_NOFILE it must not lower"},
	},
}

// encodeFDOnly encodes a call whose one argument is FD.
func encodeFDOnly(e *fc.Encoder, c *Call) bool {
	encodeFD(e, c.Arg("FD"))
	return true
}

// applyClose forgets a closed fd (unless the close failed with EBADF or
// never finished).
func applyClose(ex *executor, c *Call, j *job) {
	r := &j.out.Result
	if r.Kind == KindErrno && r.Errno == "EBADF" || r.Kind == KindTimeout {
		return
	}
	fd := j.fd("FD")
	ex.fdn.handOut(fd)
	if j.proc != MainProcess {
		return // a child's fd: the script's process still holds its own
	}
	delete(ex.owned, fd)
	delete(ex.clocks, fd)
}

// getFlags runs fcntl(FD, cmd) and shows the bits of shown as a kind
// result.
func (x *execution) getFlags(cmd uintptr, kind ResultKind, shown uint64) (Outcome, error) {
	r, e := x.sys(sysFcntl, x.fd("FD"), cmd)
	if e != 0 {
		return x.errno(e)
	}
	x.o.Result = Result{Kind: kind, Mask: uint64(uint32(r)) & shown}
	return x.o, nil
}

// execSetrlimit sets RLIMIT_NOFILE's soft limit, keeping the hard one;
// the first one saves the limits, which cleanup restores.
func execSetrlimit(x *execution) (Outcome, error) {
	w, ex := x.w, x.w.ex
	ex.rlMu.Lock()
	defer ex.rlMu.Unlock()
	if _, e := w.sys(sysGetrlimit, rlimitNofile, uintptr(w.scratch+offRlimit)); e != 0 {
		return x.o, fmt.Errorf("getrlimit(RLIMIT_NOFILE): %v", e)
	}
	b, err := w.read(w.scratch+offRlimit, 16)
	if err != nil {
		return x.o, err
	}
	cur, hard := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
	if !ex.rlSaved {
		ex.rlSaved, ex.rlOrig = true, [2]uint64{cur, hard}
	}
	if err := w.putRlimit(x.arg("N"), hard); err != nil {
		return x.o, err
	}
	return x.value(x.sys(sysSetrlimit, rlimitNofile, uintptr(w.scratch+offRlimit)))
}

// decodeSetfl decodes fcntl_setfl. Clearing O_NONBLOCK would let a later
// read or write block, so it is cleared only on epoll and regular files:
// every table entry has one with O_NONBLOCK added.
func decodeSetfl(d *fc.Decoder) {
	r := d.FD()
	c := setflTab[d.Sel(len(setflTab))]
	if k, ok := d.KindOf(r); ok && k != fc.Epoll && k != fc.Regular && c.val&oNonblock == 0 {
		want := c.val | oNonblock
		for _, x := range setflTab {
			if x.val == want {
				c = x
			}
		}
	}
	d.Emit("fcntl_setfl %s %s", r.Text, c.text)
}

var (
	dup3Tab  = valueTable{vals: []choice{{"0", 0}, {"CLOEXEC", oCloexec}, {"1", 1}, {"0x800", oNonblock}}, valid: 2}
	setflTab = []choice{{"NONBLOCK", oNonblock}, {"0", 0}, {"0xc00", oNonblock | oAppend}, {"0x400", oAppend},
		{"0x4800", oNonblock | oDirect}, {"0x4000", oDirect}, {"0xffffffff", -1}}
)
