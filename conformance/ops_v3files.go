package conformance

import (
	"encoding/binary"
	"fmt"
	fc "github.com/guestpoll/guestpoll/conformance/internal/fuzzcodec"
	"syscall"
)

// v3FileOps are version 3's listening sockets, FIFOs, socket I/O with
// flags and pipe sizes.
var v3FileOps = []*operation{
	{
		name: "listen_socket", sigs: [][]param{{maskp("TYPE", sockTypes, 32), maskp("FLAGS", sockFlags, 32), intp("BACKLOG")}}, result: oneFD, binds: bindsNames,
		version: 3,
		before: func(ex *executor, j *job) error {
			ex.nListeners++
			j.v3.addr = abstractAddr(fmt.Sprintf("%s.%d", ex.nonce, ex.nListeners))
			return nil
		},
		exec: execListenSocket,
		apply: func(ex *executor, c *Call, j *job) {
			ex.bindFDs(c, j, timerClock{})
			if j.out.Result.Kind == KindFDs && len(c.Names) == 1 {
				ex.listenAddrs[c.Names[0]] = j.v3.addr
			}
		},
		fuzz: fuzzing{opcode: 36, weight: 1, decode: decodeListenSocket, encode: encodeListenSocket},
	},
	{
		name: "connect", sigs: [][]param{{listenerp("L"), maskp("TYPE", sockTypes, 32), maskp("FLAGS", sockFlags, 32)}}, result: oneFD, binds: bindsNames,
		version: 3,
		before: func(ex *executor, j *job) error {
			l := j.call.Arg("L").Text
			if j.v3.addr = ex.listenAddrs[l]; j.v3.addr == nil {
				return fmt.Errorf("connect %s: %s is not the name of a socket a listen_socket step made", l, l)
			}
			return nil
		},
		exec: execConnect,
		fuzz: fuzzing{opcode: 37, weight: 2, decode: decodeConnect, encode: encodeConnect},
	},
	{
		name: "accept4", sigs: [][]param{{fdp("L"), maskp("FLAGS", sockFlags, 32)}}, result: oneFD, binds: bindsNames,
		version: 3,
		exec: func(x *execution) (Outcome, error) {
			return x.newFD(x.sys(sysAccept4, x.fd("L"), 0, 0, i32(x.arg("FLAGS"))))
		},
		fuzz: fuzzing{opcode: 38, weight: 2, decode: decodeAccept4, encode: encodeAccept4},
	},
	{
		name: "fifo_open", sigs: [][]param{{wordp("NAME"), maskp("FLAGS", fifoFlags, 32)}}, result: oneFD, binds: bindsNames,
		version: 3,
		before: func(ex *executor, j *job) error {
			j.v3.fifoDir = "/tmp/guestpoll-conf-" + ex.nonce
			j.v3.fifo = j.v3.fifoDir + "/" + j.call.Arg("NAME").Text
			ex.fifos[j.v3.fifo] = true
			return nil
		},
		exec: execFifoOpen,
		fuzz: fuzzing{opcode: 39, weight: 1, decode: decodeFifoOpen, encode: encodeFifoOpen},
	},
	{
		name: "send", sigs: [][]param{{fdp("FD"), countp("N"), maskp("FLAGS", sendFlags, 32)}}, result: valueResult,
		version: 3,
		exec:    execSendRecv(sysSendto),
		fuzz: fuzzing{opcode: 40, weight: 2, decode: func(d *fc.Decoder) { decodeSendRecv(d, "send", sendFlagsTab) },
			encode: encodeSendRecv(sendFlagsTab)},
	},
	{
		name: "recv", sigs: [][]param{{fdp("FD"), countp("N"), maskp("FLAGS", recvFlags, 32)}}, result: valueResult,
		version: 3,
		exec:    execSendRecv(sysRecvfrom),
		fuzz: fuzzing{opcode: 41, weight: 2, decode: func(d *fc.Decoder) { decodeSendRecv(d, "recv", recvFlagsTab) },
			encode: encodeSendRecv(recvFlagsTab)},
	},
	{
		name: "fcntl_setpipe_sz", sigs: [][]param{{fdp("FD"), intp("N")}}, result: valueResult,
		version: 3,
		exec: func(x *execution) (Outcome, error) {
			return x.value(x.sys(sysFcntl, x.fd("FD"), fSetpipeSz, i32(x.arg("N"))))
		},
		fuzz: fuzzing{opcode: 42, weight: 1, decode: decodeSetpipeSz, encode: encodeSetpipeSz},
	},
	{
		name: "fcntl_getpipe_sz", sigs: [][]param{{fdp("FD")}}, result: valueResult,
		version: 3,
		exec: func(x *execution) (Outcome, error) {
			return x.value(x.sys(sysFcntl, x.fd("FD"), fGetpipeSz))
		},
		fuzz: fuzzing{opcode: 43, weight: 1, decode: func(d *fc.Decoder) { d.Emit("fcntl_getpipe_sz %s", d.FD().Text) }, encode: encodeFDOnly},
	},
}

// abstractAddr builds the struct sockaddr_un of an abstract address
// (sun_path starts with a NUL byte), private to this run by its nonce.
func abstractAddr(name string) []byte {
	b := make([]byte, 2, 2+1+len(name)+len("guestpoll-conf."))
	binary.LittleEndian.PutUint16(b, afUnix)
	b = append(b, 0)
	return append(b, "guestpoll-conf."+name...)
}

// putAddr writes the job's sockaddr_un to scratch memory.
func (x *execution) putAddr() (uint64, error) {
	a := x.w.scratch + offSockaddr
	return a, x.w.write(a, x.j.v3.addr)
}

// execListenSocket makes a socket, binds it to the run's fresh abstract
// address and listens; a failure after socket closes it.
func execListenSocket(x *execution) (Outcome, error) {
	addr, err := x.putAddr()
	if err != nil {
		return x.o, err
	}
	fd, e := x.sys(sysSocket, afUnix, i32(x.arg("TYPE")|x.arg("FLAGS")), 0)
	if e != 0 {
		return x.errno(e)
	}
	if _, e = x.sys(sysBind, fd, uintptr(addr), uintptr(len(x.j.v3.addr))); e == 0 {
		_, e = x.sys(sysListen, fd, i32(x.arg("BACKLOG")))
	}
	if e != 0 {
		x.w.sys(sysClose, fd)
		return x.errno(e)
	}
	return x.newFD(fd, 0)
}

// execConnect makes a socket and connects it to listener L's address; a
// failed connect closes it.
func execConnect(x *execution) (Outcome, error) {
	addr, err := x.putAddr()
	if err != nil {
		return x.o, err
	}
	fd, e := x.sys(sysSocket, afUnix, i32(x.arg("TYPE")|x.arg("FLAGS")), 0)
	if e != 0 {
		return x.errno(e)
	}
	if _, e = x.sys(sysConnect, fd, uintptr(addr), uintptr(len(x.j.v3.addr))); e != 0 {
		x.w.sys(sysClose, fd)
		return x.errno(e)
	}
	return x.newFD(fd, 0)
}

// execSendRecv returns the exec of send (nr sysSendto) and recv (nr
// sysRecvfrom): the call on FD with an N-byte I/O buffer, FLAGS and no
// address.
func execSendRecv(nr uintptr) func(x *execution) (Outcome, error) {
	return func(x *execution) (Outcome, error) {
		buf, err := x.w.ioBuffer(x.arg("N"))
		if err != nil {
			return x.o, err
		}
		return x.value(x.sys(nr, x.fd("FD"), uintptr(buf), uintptr(x.arg("N")), i32(x.arg("FLAGS")), 0, 0))
	}
}

// execFifoOpen creates the run's FIFO directory and the FIFO if they do
// not exist yet (EEXIST is expected after the first use), then opens it.
func execFifoOpen(x *execution) (Outcome, error) {
	dir, err := x.putPath(x.j.v3.fifoDir)
	if err != nil {
		return x.o, err
	}
	if _, e := x.w.sys(sysMkdirat, sx(atFdcwd), uintptr(dir), 0o700); e != 0 && e != syscall.EEXIST {
		return x.o, fmt.Errorf("mkdirat %s: %v", x.j.v3.fifoDir, e)
	}
	path, err := x.putPath(x.j.v3.fifo)
	if err != nil {
		return x.o, err
	}
	if _, e := x.w.sys(sysMknodat, sx(atFdcwd), uintptr(path), sIFIFO|0o600, 0); e != 0 && e != syscall.EEXIST {
		return x.o, fmt.Errorf("mknodat %s: %v", x.j.v3.fifo, e)
	}
	return x.newFD(x.sys(sysOpenat, sx(atFdcwd), uintptr(path), i32(x.arg("FLAGS")), 0))
}

// putPath writes a NUL-terminated path to scratch memory.
func (x *execution) putPath(p string) (uint64, error) {
	if len(p) >= 512 {
		return 0, fmt.Errorf("path %q too long", p)
	}
	a := x.w.scratch + offPath
	return a, x.w.write(a, append([]byte(p), 0))
}

// removeFifos removes the run's FIFOs and their directory, on cw, at the
// end of a run.
func (ex *executor) removeFifos(cw *worker) {
	if len(ex.fifos) == 0 || cw == nil {
		return
	}
	var paths []string
	for p := range ex.fifos {
		paths = append(paths, p)
	}
	dir := "/tmp/guestpoll-conf-" + ex.nonce
	j := &job{step: -1, done: make(chan struct{}), run: func(w *worker) (Outcome, error) {
		for _, p := range append(paths, dir) {
			a := w.scratch + offPath
			if err := w.write(a, append([]byte(p), 0)); err != nil {
				return Outcome{}, err
			}
			flags := uintptr(0)
			if p == dir {
				flags = atRemovedir
			}
			w.sys(sysUnlinkat, sx(atFdcwd), uintptr(a), flags)
		}
		return Outcome{}, nil
	}}
	cw.enqueue(j)
	if !j.wait(ex.opts.cleanupTimeout()) {
		ex.abort("runner error: removing the run's FIFOs timed out")
	}
}

func wordp(name string) param     { return param{name: name, kind: pWord} }
func listenerp(name string) param { return param{name: name, kind: pListener} }
