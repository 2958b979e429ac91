package peers

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
)

// newHostSet returns a host epoll instance with n eventfd registrations
// (data = index), the one at index ready holding 1 (ready < 0: none).
func newHostSet(b testing.TB, n, ready int, events uint32) (epfd int, fds []int) {
	b.Helper()
	if ok, limit := kerneltest.HostFDRoom(n + 1); !ok {
		b.Skipf("needs %d fds; RLIMIT_NOFILE is %d", n+1, limit)
	}
	epfd = kerneltest.HostEpoll(b)
	fds = make([]int, n)
	for i := range fds {
		var init uint
		if i == ready {
			init = 1
		}
		fds[i] = kerneltest.HostEventfd(b, init)
		kerneltest.HostCtl(b, epfd, unix.EPOLL_CTL_ADD, fds[i], events, uint64(i))
	}
	return epfd, fds
}
