package fs

import "io"

// What /proc/PID/fdinfo/N shows of a file, beyond its status flags, comes
// from three optional interfaces, which the syscall layer (syscalls.FDInfo)
// asks for. A file type that implements none shows pos 0 and no extra
// lines; its inode number is then the syscall layer's choice (the one
// anonymous inode for a pollable type that is neither a socket nor a pipe,
// as for Linux's anon-inode files; one of its own otherwise).

// Offsetter is implemented by file types with a file offset (Linux's
// f_pos): fdinfo's "pos:" field, and the "pos:" of an epoll registration's
// line. Regular files implement it.
type Offsetter interface {
	Offset() int64
}

// SharedInode is implemented by file types whose several open files share
// one inode, as both ends of a pipe do: fdinfo shows them with one inode
// number, and a checkpoint keeps them sharing it. InodeKey is the same
// comparable value for every file of the inode; InodeLive reports whether
// any of them is still open (the number is forgotten once none is). Pipe
// ends implement it; a file type that does not gets an inode per File.
type SharedInode interface {
	InodeKey() any
	InodeLive() bool
}

// FDInfoWriter is implemented by file types whose fdinfo shows lines of
// their own after the common header (Linux's show_fdinfo file operation:
// a signalfd's "sigmask:", an eventfd's "eventfd-count:"). WriteFDInfo
// writes whole lines, each ending in a newline. It may take the file's
// state lock. No type of this package implements it yet; an epoll
// instance's registration lines come from the syscall layer, which knows
// the targets' inode numbers.
type FDInfoWriter interface {
	WriteFDInfo(f *File, w io.Writer)
}
