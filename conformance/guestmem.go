package conformance

import (
	"encoding/binary"
	"fmt"
	"syscall"
	"time"
)

// Offsets of the guest structures in a worker's scratch page.
const (
	scratchSize  = 4096
	offEvent     = 0   // struct epoll_event, 12 bytes
	offSigset    = 16  // 8-byte sigset
	offTimespec  = 32  // struct timespec, 16 bytes
	offItimer    = 64  // struct itimerspec, 32 bytes
	offPollfd    = 96  // struct pollfd, 8 bytes
	offFdPair    = 112 // int[2]
	offRlimit    = 128 // struct rlimit, 16 bytes
	offMemfdName = 160 // "conf\0"
	offEventfd   = 192 // 8-byte eventfd value
)

func (w *worker) sys(nr uintptr, args ...uintptr) (uintptr, syscall.Errno) {
	var a [6]uintptr
	copy(a[:], args)
	return w.ex.m.Syscall(w.id, nr, a)
}

// timed runs one system call and measures it.
func (w *worker) timed(o *Outcome, nr uintptr, args ...uintptr) (uintptr, syscall.Errno) {
	t0 := time.Now()
	r, e := w.sys(nr, args...)
	o.Elapsed = time.Since(t0)
	return r, e
}

func (w *worker) write(addr uint64, b []byte) error { return w.mem.WriteMem(addr, b) }

func (w *worker) read(addr uint64, n int) ([]byte, error) {
	b := make([]byte, n)
	return b, w.mem.ReadMem(addr, b)
}

func (w *worker) putRlimit(cur, max uint64) error {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b, cur)
	binary.LittleEndian.PutUint64(b[8:], max)
	return w.write(w.scratch+offRlimit, b)
}

func (w *worker) eventsBuffer() (uint64, error) {
	if w.events == 0 {
		a, err := w.mem.Alloc(EventsBufferSize)
		if err != nil {
			return 0, fmt.Errorf("allocating the events buffer: %w", err)
		}
		w.events = a
	}
	return w.events, nil
}

func (w *worker) ioBuffer(n uint64) (uint64, error) {
	if n == 0 {
		n = 1
	}
	if w.ioSize < n {
		size := max(n, 1<<16)
		a, err := w.mem.Alloc(size)
		if err != nil {
			return 0, fmt.Errorf("allocating a %d-byte buffer: %w", size, err)
		}
		w.io, w.ioSize = a, size
	}
	return w.io, nil
}

// sx sign-extends a 32-bit (or wider) integer argument to a register, the
// way a C caller passes an int.
func sx(v int64) uintptr { return uintptr(v) }

// i32 takes a parsed 32-bit argument (possibly written as 0xffffffff) as a
// sign-extended register value.
func i32(v uint64) uintptr { return uintptr(int64(int32(uint32(v)))) }

func errnoResult(e syscall.Errno) Result {
	return Result{Kind: KindErrno, Errno: ErrnoName(int(e))}
}

// ptrArg returns the guest pointer for a NULL/BADPTR argument.
func (w *worker) ptrArg(a *Arg) uint64 {
	if a.Kind == ArgBadPtr {
		return w.mem.BadPtr()
	}
	return 0
}
