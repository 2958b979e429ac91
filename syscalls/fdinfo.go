package syscalls

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fs"
)

// Inode numbers and superblock devs shown by fdinfo. All anonymous-inode
// files (epoll, eventfd, timerfd) share one inode, as in Linux; pipes
// (both ends) and sockets get a number of their own.
const (
	anonInodeIno = 0x3
	fdinfoMntID  = 15
	sdevPipefs   = 0xf
	sdevAnon     = 0x10
	sdevSockfs   = 0x8
	sdevShmem    = 0x1
)

// pipeIdentity is implemented by file types whose several files share an
// inode (the two ends of a pipe).
type pipeIdentity interface{ InodeKey() any }

// inoOf returns f's inode number and superblock dev for fdinfo.
func (k *Kernel) inoOf(f *fs.File) (uint64, uint64) {
	impl := f.Impl()
	switch impl.(type) {
	case *epoll.EventPoll, fs.TimerFile:
		return anonInodeIno, sdevAnon
	}
	if _, ok := impl.(fs.Shutdowner); ok {
		return k.inoFor(f), sdevSockfs
	}
	if _, ok := impl.(fs.BlockingIO); ok {
		return k.inoFor(f), sdevPipefs
	}
	if f.Pollable() != nil { // eventfd and other anon-inode files
		return anonInodeIno, sdevAnon
	}
	return k.inoFor(f), sdevShmem
}

// inoFor returns a stable number for f (shared by files whose type reports
// the same InodeKey), dropping entries of released files.
func (k *Kernel) inoFor(f *fs.File) uint64 {
	var key any = f
	if p, ok := f.Impl().(pipeIdentity); ok {
		key = p.InodeKey()
	}
	k.inoMu.Lock()
	defer k.inoMu.Unlock()
	if e, ok := k.inos[key]; ok {
		return e.ino
	}
	for g, e := range k.inos {
		if e.file.Released() {
			delete(k.inos, g)
		}
	}
	k.nextIno++
	k.inos[key] = inoEntry{k.nextIno, f}
	return k.nextIno
}

type inoEntry struct {
	ino  uint64
	file *fs.File
}

// FDInfo returns the text of /proc/self/fdinfo/<fd> for the task's fd: the
// header, and for an epoll fd one line per registration sorted by fd.
func FDInfo(t *Task, fd int32) (string, unix.Errno) {
	f, cloexec, err := t.fds.Get(fd)
	if err != nil {
		return "", errnoOf(err)
	}
	defer f.DecRef()
	flags := f.StatusFlags()
	if cloexec {
		flags |= unix.O_CLOEXEC
	}
	ino, _ := t.k.inoOf(f)
	var sb strings.Builder
	fmt.Fprintf(&sb, "pos:\t0\nflags:\t0%o\nmnt_id:\t%d\nino:\t%d\n", flags, fdinfoMntID, ino)
	if ep, ok := epoll.FromFile(f); ok {
		for _, in := range ep.Interests() {
			tino, sdev := t.k.inoOf(in.File)
			fmt.Fprintf(&sb, "tfd: %8d events: %8x data: %16x  pos:%d ino:%x sdev:%x\n",
				in.Fd, uint32(in.Events), in.Data, 0, tino, sdev)
		}
	}
	return sb.String(), 0
}
