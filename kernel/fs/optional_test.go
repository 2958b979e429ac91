package fs_test

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
)

// exclusiveForeign is a file type of another package whose blocked tasks
// wait as exclusive waiters only on some files.
type exclusiveForeign struct{ exclusive bool }

func (x exclusiveForeign) Read(*fs.File, []byte) (int, error)  { return 0, unix.EAGAIN }
func (x exclusiveForeign) Write(*fs.File, []byte) (int, error) { return 0, unix.EAGAIN }
func (x exclusiveForeign) Release(*fs.File)                    {}
func (x exclusiveForeign) BlockingWaitExclusive(*fs.File) bool { return x.exclusive }

func TestBlockingWaitExclusiveAsksTheType(t *testing.T) {
	r, w := fs.NewPipe(0)
	defer r.DecRef()
	defer w.DecRef()
	efd := fs.NewEventfd(0, 0)
	defer efd.DecRef()
	for _, c := range []struct {
		name string
		f    *fs.File
		want bool
	}{
		{"pipe read end", r, true},
		{"pipe write end", w, true},
		{"eventfd", efd, false},
		{"foreign, exclusive", fs.New(exclusiveForeign{true}, unix.O_RDWR), true},
		{"foreign, plain", fs.New(exclusiveForeign{false}, unix.O_RDWR), false},
	} {
		if got := fs.BlockingWaitExclusive(c.f); got != c.want {
			t.Errorf("%s: BlockingWaitExclusive = %v, want %v", c.name, got, c.want)
		}
	}
}
