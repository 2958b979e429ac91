package hostfd

import (
	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
)

// hostImpl is implemented by the Impl of every imported file.
type hostImpl interface {
	host() *hostFile
	readv(f *fs.File, dst []byte, vec [][]byte) (int, error)
	writev(f *fs.File, src []byte, vec [][]byte) (int, error)
}

func hostOf(f *fs.File) (hostImpl, *hostFile) {
	if hi, ok := f.Impl().(hostImpl); ok {
		return hi, hi.host()
	}
	return nil, nil
}

// IsHost reports whether f is an imported host fd.
func IsHost(f *fs.File) bool {
	_, h := hostOf(f)
	return h != nil
}

// KindOf returns the kind of an imported file (KindOther for a file that
// is not one).
func KindOf(f *fs.File) Kind {
	if _, h := hostOf(f); h != nil {
		return h.kind
	}
	return KindOther
}

// ReadVec is readv on an imported file: one host readv into bufs (at most
// 1024), non-blocking, with the wakeups a read owes. The caller holds a
// reference on f.
func ReadVec(f *fs.File, bufs [][]byte) (int, error) {
	hi, h := hostOf(f)
	if h == nil {
		return 0, unix.EINVAL
	}
	if !f.Readable() {
		return 0, unix.EBADF
	}
	if bufs == nil {
		bufs = [][]byte{}
	}
	return hi.readv(f, nil, bufs)
}

// WriteVec is writev on an imported file.
func WriteVec(f *fs.File, bufs [][]byte) (int, error) {
	hi, h := hostOf(f)
	if h == nil {
		return 0, unix.EINVAL
	}
	if !f.Writable() {
		return 0, unix.EBADF
	}
	if bufs == nil {
		bufs = [][]byte{}
	}
	return hi.writev(f, nil, bufs)
}
