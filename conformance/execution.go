package conformance

import (
	"encoding/binary"
	"fmt"
	"syscall"
)

// execution is one call being executed on a worker's thread: the call,
// its job (arguments resolved at its step) and the outcome being built.
// An operation's exec function gets one.
type execution struct {
	w *worker
	j *job
	c *Call
	o Outcome
}

// exec runs one call on the worker's thread.
func (w *worker) exec(j *job) (Outcome, error) {
	o := j.call.spec()
	if o == nil {
		return Outcome{}, fmt.Errorf("internal: no operation %q", j.call.Op)
	}
	return o.exec(&execution{w: w, j: j, c: j.call})
}

// arg returns the value of the argument filling parameter p.
func (x *execution) arg(p string) uint64 { return x.c.Arg(p).Val }

// fd returns the fd argument filling parameter p, as a register.
func (x *execution) fd(p string) uintptr { return sx(int64(x.j.fd(p))) }

// sys runs the call's system call and measures it.
func (x *execution) sys(nr uintptr, args ...uintptr) (uintptr, syscall.Errno) {
	return x.w.timed(&x.o, nr, args...)
}

// errno makes the outcome the error e.
func (x *execution) errno(e syscall.Errno) (Outcome, error) {
	x.o.Result = errnoResult(e)
	return x.o, nil
}

// value makes the outcome a value result, or the error e.
func (x *execution) value(r uintptr, e syscall.Errno) (Outcome, error) {
	if e != 0 {
		return x.errno(e)
	}
	x.o.Result = Result{Kind: KindValue, Value: int64(r)}
	return x.o, nil
}

// newFD makes the outcome the one fd r, or the error e.
func (x *execution) newFD(r uintptr, e syscall.Errno) (Outcome, error) {
	if e != 0 {
		return x.errno(e)
	}
	x.o.Result = Result{Kind: KindFDs, Value: 1}
	x.o.FDs = []int32{int32(r)}
	return x.o, nil
}

// fdPair returns the address of the int[2] a pipe2 or socketpair fills,
// zeroed.
func (x *execution) fdPair() (uint64, error) {
	addr := x.w.scratch + offFdPair
	return addr, x.w.write(addr, make([]byte, 8))
}

// newFDPair makes the outcome the two fds in the fdPair array, or the
// error e.
func (x *execution) newFDPair(e syscall.Errno) (Outcome, error) {
	if e != 0 {
		return x.errno(e)
	}
	b, err := x.w.read(x.w.scratch+offFdPair, 8)
	if err != nil {
		return x.o, err
	}
	x.o.Result = Result{Kind: KindFDs, Value: 2}
	x.o.FDs = []int32{int32(binary.LittleEndian.Uint32(b)), int32(binary.LittleEndian.Uint32(b[4:]))}
	return x.o, nil
}
