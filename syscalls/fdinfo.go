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

// posOf is fdinfo's pos: the file offset of an fs.Offsetter, else 0.
func posOf(f *fs.File) int64 {
	if o, ok := f.Impl().(fs.Offsetter); ok {
		return o.Offset()
	}
	return 0
}

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

// inoFor returns a stable number for f (shared by the files of an
// fs.SharedInode with the same InodeKey), dropping entries of inodes no
// longer open.
func (k *Kernel) inoFor(f *fs.File) uint64 {
	var key any = f
	shared, ok := f.Impl().(fs.SharedInode)
	if ok {
		key = shared.InodeKey()
	}
	k.inoMu.Lock()
	defer k.inoMu.Unlock()
	if e, ok := k.inos[key]; ok {
		return e.ino
	}
	for g, e := range k.inos {
		if !e.live() {
			delete(k.inos, g)
		}
	}
	k.nextIno++
	k.inos[key] = inoEntry{ino: k.nextIno, file: f, shared: shared}
	return k.nextIno
}

type inoEntry struct {
	ino    uint64
	file   *fs.File
	shared fs.SharedInode // nil unless the inode may outlive file
}

func (e inoEntry) live() bool {
	if e.shared != nil {
		return e.shared.InodeLive()
	}
	return !e.file.Released()
}

// FDInfo returns the text of /proc/self/fdinfo/<fd> for the task's fd: the
// header, then the lines of an fs.FDInfoWriter (a signalfd's sigmask, a
// pidfd's Pid and NSpid, -1 once reaped, as Linux 6.18 shows them), and for
// an epoll fd one line per registration sorted by fd.
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
	fmt.Fprintf(&sb, "pos:\t%d\nflags:\t0%o\nmnt_id:\t%d\nino:\t%d\n", posOf(f), flags, fdinfoMntID, ino)
	if w, ok := f.Impl().(fs.FDInfoWriter); ok {
		w.WriteFDInfo(f, &sb)
	}
	if ep, ok := epoll.FromFile(f); ok {
		for _, in := range ep.Interests() {
			tino, sdev := t.k.inoOf(in.File)
			fmt.Fprintf(&sb, "tfd: %8d events: %8x data: %16x  pos:%d ino:%x sdev:%x\n",
				in.Fd, uint32(in.Events), in.Data, posOf(in.File), tino, sdev)
		}
	}
	return sb.String(), 0
}
