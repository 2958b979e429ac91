package syscalls

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// foreignFile is a file type of another package, as an embedder writes it:
// it shows an offset, shares its inode with its twin, and adds fdinfo lines.
type foreignFile struct {
	inode *int // shared by twins
	pos   int64
	q     waiter.Queue
}

func (f *foreignFile) Read(*fs.File, []byte) (int, error)  { return 0, unix.EAGAIN }
func (f *foreignFile) Write(*fs.File, []byte) (int, error) { return 0, unix.EAGAIN }
func (f *foreignFile) Release(*fs.File)                    { *f.inode-- }
func (f *foreignFile) Readiness(*fs.File, waiter.EventMask) waiter.EventMask {
	return waiter.EventOut
}
func (f *foreignFile) EventRegister(_ *fs.File, e *waiter.Entry)   { f.q.Register(e) }
func (f *foreignFile) EventUnregister(_ *fs.File, e *waiter.Entry) { f.q.Unregister(e) }
func (f *foreignFile) Offset() int64                               { return f.pos }
func (f *foreignFile) InodeKey() any                               { return f.inode }
func (f *foreignFile) InodeLive() bool                             { return *f.inode > 0 }
func (f *foreignFile) WriteFDInfo(_ *fs.File, w io.Writer) {
	fmt.Fprintf(w, "foreign-pos:\t%d\n", f.pos)
}

var (
	_ fs.Offsetter    = (*foreignFile)(nil)
	_ fs.SharedInode  = (*foreignFile)(nil)
	_ fs.FDInfoWriter = (*foreignFile)(nil)
)

func TestFDInfoOfForeignFileType(t *testing.T) {
	x := newTT(t, AMD64)
	inode := 2
	a, err := x.t.fds.Install(fs.New(&foreignFile{inode: &inode, pos: 7}, unix.O_RDWR), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := x.t.fds.Install(fs.New(&foreignFile{inode: &inode, pos: 9}, unix.O_RDWR), 0, false)
	s, e := FDInfo(x.t, a)
	if e != 0 {
		t.Fatal(e)
	}
	lines := strings.Split(s, "\n")
	if lines[0] != "pos:\t7" || lines[4] != "foreign-pos:\t7" || len(lines) != 6 {
		t.Errorf("fdinfo of a foreign file:\n%s", s)
	}
	if sb, _ := FDInfo(x.t, b); strings.Split(sb, "\n")[3] != lines[3] {
		t.Errorf("twins of one SharedInode show different inodes: %q and %q", lines[3], strings.Split(sb, "\n")[3])
	}
	ep := x.epoll()
	if e := x.ctl(ep, 1, uintptr(b), unix.EPOLLOUT, 1); e != 0 {
		t.Fatal(e)
	}
	se, _ := FDInfo(x.t, int32(ep))
	if !strings.Contains(se, fmt.Sprintf("tfd: %8d events:       1c data:                1  pos:9 ino:", b)) {
		t.Errorf("epoll line of a foreign target:\n%s", se)
	}
}
