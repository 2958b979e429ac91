package conformance

import (
	"encoding/binary"
	"fmt"
	fc "github.com/guestpoll/guestpoll/conformance/internal/fuzzcodec"
)

// signalOps are version 3's signal operations.
var signalOps = []*operation{
	{
		name: "sigmask", sigs: [][]param{{maskp("HOW", sigmaskHows, 32), sigp()}}, result: valueResult,
		version: 3,
		exec: func(x *execution) (Outcome, error) {
			set, err := x.sigmask()
			if err != nil {
				return x.o, err
			}
			return x.value(x.sys(sysRtSigprocmask, i32(x.arg("HOW")), uintptr(set), 0, sigsetSize))
		},
		fuzz: fuzzing{opcode: 33, weight: 1, decode: decodeSigmask, encode: encodeSigmask},
	},
	{
		name: "signalfd", sigs: [][]param{{sigp(), maskp("FLAGS", sockFlags, 32)}}, result: oneFD, binds: bindsNames,
		version: 3,
		exec: func(x *execution) (Outcome, error) {
			set, err := x.sigmask()
			if err != nil {
				return x.o, err
			}
			return x.newFD(x.sys(sysSignalfd4, sx(-1), uintptr(set), sigsetSize, i32(x.arg("FLAGS"))))
		},
		fuzz: fuzzing{opcode: 34, weight: 1, decode: decodeSignalfd, encode: encodeSignalfd},
	},
	{
		name: "signalfd_read", sigs: [][]param{{fdp("FD")}}, result: resultSpec{kind: KindSiginfo},
		version: 3,
		exec: func(x *execution) (Outcome, error) {
			buf, err := x.w.ioBuffer(siginfoSize)
			if err != nil {
				return x.o, err
			}
			if err := x.w.write(buf, make([]byte, siginfoSize)); err != nil {
				return x.o, err
			}
			r, e := x.sys(sysRead, x.fd("FD"), uintptr(buf), siginfoSize)
			if e != 0 {
				return x.errno(e)
			}
			if r > siginfoSize {
				return x.o, fmt.Errorf("read of %d bytes returned %d", siginfoSize, r)
			}
			b, err := x.w.read(buf, 4)
			if err != nil {
				return x.o, err
			}
			x.o.Result = Result{Kind: KindSiginfo, Value: int64(r), U64: uint64(binary.LittleEndian.Uint32(b))}
			return x.o, nil
		},
		fuzz: fuzzing{opcode: 35, weight: 1, decode: func(d *fc.Decoder) { d.Emit("signalfd_read %s", d.FDOf(fc.Signalfd).Text) },
			encode: func(e *fc.Encoder, c *Call) bool { encodeFDOf(e, fc.Signalfd, c.Arg("FD")); return true }},
	},
}

// siginfoSize is sizeof(struct signalfd_siginfo).
const siginfoSize = 128
