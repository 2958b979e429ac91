package hostfd

import (
	"golang.org/x/sys/unix"
)

// F_GETPIPE_SZ and F_SETPIPE_SZ on a host pipe (fs.PipeSizer): the host
// sizes its pipe; the model sends the wakeup Linux's pipe_resize_ring
// sends, a wake-one with key 0 on the writers' queue, to the write end's
// queue when the resize succeeded.

// PipeSize implements fs.PipeSizer.
func (p pipeImpl) PipeSize() int {
	r, _, e := unix.RawSyscall(unix.SYS_FCNTL, uintptr(p.h.fd), unix.F_GETPIPE_SZ, 0)
	if e != 0 {
		return 0
	}
	return int(r)
}

// SetPipeSize implements fs.PipeSizer.
func (p pipeImpl) SetPipeSize(size uint32) (int, error) {
	w := p.h.peer // the write end, when this is the read end
	if fl, e := getFL(p.h.fd); e == 0 && fl&unix.O_ACCMODE == unix.O_WRONLY {
		w = p.h
	}
	w.begin(gOut)
	r, _, e := unix.RawSyscall(unix.SYS_FCNTL, uintptr(p.h.fd), unix.F_SETPIPE_SZ, uintptr(size))
	mode := endNone
	if e == 0 {
		mode = endNotify
	}
	w.end(gOut, 0, mode, false)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
