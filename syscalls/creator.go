package syscalls

import (
	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
)

// FileCreator makes the files that pipe2, eventfd2, socket, socketpair and
// timerfd_create install. The syscall layer validates the arguments it owns
// (flag bits, address family, protocol) first; a creator receives the same
// arguments as the kernel/fs constructors of the same name and returns the
// same errors for the rest: unix.Errno values (wrapped ones are
// unwrapped); any other error panics, naming the creator's type. Each returned File carries one reference, owned
// by the caller.
//
// The default creator is the model's own (kernel/fs). Package hostfd
// provides one whose files are real host fds.
//
// The calls of listening sockets and messages are dispatched by interface,
// whoever made the socket: bind, listen, connect, accept4 and
// sendto/recvfrom need fs.Listener and fs.MessageIO (a creator's socket
// without them gets EOPNOTSUPP; package hostfd's sockets have both and
// act on the host), and pipe sizes need fs.PipeSizer (F_SETPIPE_SZ and
// F_GETPIPE_SZ: EBADF otherwise). FIFOs do not come from the creator:
// openat always makes the model's FIFO pipes.
type FileCreator interface {
	// Pipe is fs.NewPipe: flags may hold O_NONBLOCK and O_DIRECT.
	Pipe(flags uint32) (r, w *fs.File, err error)
	// Eventfd is fs.NewEventfd: flags may hold O_NONBLOCK and
	// fs.EFDSemaphore.
	Eventfd(initval uint64, flags uint32) (*fs.File, error)
	// SocketPair is fs.NewSocketPair (AF_UNIX).
	SocketPair(typ int, flags uint32) (a, b *fs.File, err error)
	// Socket is fs.NewSocket (AF_UNIX, unbound and unconnected).
	Socket(typ int, flags uint32) (*fs.File, error)
	// Timerfd is fs.NewTimerfd on the kernel's clock.
	Timerfd(clock fs.Clock, clockID int32, flags uint32) (*fs.File, error)
}

// ModelFiles is the default FileCreator: the kernel/fs file types.
type ModelFiles struct{}

// Pipe implements FileCreator.
func (ModelFiles) Pipe(flags uint32) (r, w *fs.File, err error) {
	r, w = fs.NewPipe(flags)
	return r, w, nil
}

// Eventfd implements FileCreator.
func (ModelFiles) Eventfd(initval uint64, flags uint32) (*fs.File, error) {
	return fs.NewEventfd(initval, flags), nil
}

// SocketPair implements FileCreator.
func (ModelFiles) SocketPair(typ int, flags uint32) (a, b *fs.File, err error) {
	return fs.NewSocketPair(typ, flags)
}

// Socket implements FileCreator.
func (ModelFiles) Socket(typ int, flags uint32) (*fs.File, error) {
	return fs.NewSocket(typ, flags)
}

// Timerfd implements FileCreator.
func (ModelFiles) Timerfd(clock fs.Clock, clockID int32, flags uint32) (*fs.File, error) {
	return fs.NewTimerfd(clock, clockID, flags)
}

// SetFileCreator makes k's creation syscalls use c (nil: the model's own
// files). Call it before any task of k runs.
func (k *Kernel) SetFileCreator(c FileCreator) { k.creator = c }

// files returns k's file creator.
func (k *Kernel) files() FileCreator {
	if k.creator == nil {
		return ModelFiles{}
	}
	return k.creator
}

// creatorErrno converts an error of k's file creator (see FileCreator).
func (k *Kernel) creatorErrno(err error) unix.Errno {
	if e, ok := err.(unix.Errno); ok || err == nil {
		return e
	}
	return errnoFrom(err, k.files())
}
