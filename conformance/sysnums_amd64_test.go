//go:build linux && amd64

package conformance

import (
	"testing"

	"golang.org/x/sys/unix"
)

// checkSyscallNumbers checks the guest ABI constants against x/sys/unix.
func checkSyscallNumbers(t *testing.T) {
	pairs := []struct {
		name      string
		ours, sys uintptr
	}{
		{"read", sysRead, unix.SYS_READ}, {"write", sysWrite, unix.SYS_WRITE}, {"close", sysClose, unix.SYS_CLOSE},
		{"poll", sysPoll, unix.SYS_POLL}, {"dup", sysDup, unix.SYS_DUP}, {"dup2", sysDup2, unix.SYS_DUP2},
		{"getpid", sysGetpid, unix.SYS_GETPID}, {"socket", sysSocket, unix.SYS_SOCKET},
		{"shutdown", sysShutdown, unix.SYS_SHUTDOWN}, {"socketpair", sysSocketpair, unix.SYS_SOCKETPAIR},
		{"fcntl", sysFcntl, unix.SYS_FCNTL}, {"getrlimit", sysGetrlimit, unix.SYS_GETRLIMIT},
		{"setrlimit", sysSetrlimit, unix.SYS_SETRLIMIT}, {"epoll_create", sysEpollCreate, unix.SYS_EPOLL_CREATE},
		{"clock_gettime", sysClockGettime, unix.SYS_CLOCK_GETTIME}, {"epoll_wait", sysEpollWait, unix.SYS_EPOLL_WAIT},
		{"epoll_ctl", sysEpollCtl, unix.SYS_EPOLL_CTL}, {"epoll_pwait", sysEpollPwait, unix.SYS_EPOLL_PWAIT},
		{"timerfd_create", sysTimerfdCreate, unix.SYS_TIMERFD_CREATE}, {"timerfd_settime", sysTimerfdSettm, unix.SYS_TIMERFD_SETTIME},
		{"eventfd2", sysEventfd2, unix.SYS_EVENTFD2}, {"epoll_create1", sysEpollCreate1, unix.SYS_EPOLL_CREATE1},
		{"dup3", sysDup3, unix.SYS_DUP3}, {"pipe2", sysPipe2, unix.SYS_PIPE2},
		{"memfd_create", sysMemfdCreate, unix.SYS_MEMFD_CREATE}, {"epoll_pwait2", sysEpollPwait2, unix.SYS_EPOLL_PWAIT2},
	}
	for _, p := range pairs {
		if p.ours != p.sys {
			t.Errorf("%s: %d, unix says %d", p.name, p.ours, p.sys)
		}
	}
	consts := []struct {
		name      string
		ours, sys uint64
	}{
		{"EPOLLIN", 0x1, unix.EPOLLIN}, {"EPOLLRDHUP", 0x2000, unix.EPOLLRDHUP}, {"EPOLLET", 1 << 31, uint64(uint32(unix.EPOLLET))},
		{"EPOLLEXCLUSIVE", 1 << 28, unix.EPOLLEXCLUSIVE}, {"EPOLLONESHOT", 1 << 30, unix.EPOLLONESHOT},
		{"O_DIRECT", 0x4000, unix.O_DIRECT}, {"O_NONBLOCK", 0x800, unix.O_NONBLOCK}, {"O_CLOEXEC", 0x80000, unix.O_CLOEXEC},
		{"O_APPEND", 0x400, unix.O_APPEND}, {"EFD_SEMAPHORE", 1, unix.EFD_SEMAPHORE},
		{"SOCK_SEQPACKET", 5, unix.SOCK_SEQPACKET}, {"CLOCK_BOOTTIME", 7, unix.CLOCK_BOOTTIME},
		{"TFD_TIMER_ABSTIME", 1, unix.TFD_TIMER_ABSTIME}, {"F_SETFL", fSetfl, unix.F_SETFL}, {"F_GETFL", fGetfl, unix.F_GETFL},
		{"RLIMIT_NOFILE", rlimitNofile, unix.RLIMIT_NOFILE}, {"EPOLL_CTL_MOD", 3, unix.EPOLL_CTL_MOD},
		{"SIGUSR1", sigUSR1, uint64(unix.SIGUSR1)}, {"SIGUSR2", sigUSR2, uint64(unix.SIGUSR2)},
	}
	for _, c := range consts {
		if c.ours != c.sys {
			t.Errorf("%s: %#x, unix says %#x", c.name, c.ours, c.sys)
		}
	}
	for i, name := range errnoNames {
		if name != "" && unix.ErrnoName(unix.Errno(i)) != name && name != "EOPNOTSUPP" && name != "EUCLEAN" {
			t.Errorf("errno %d: %s, unix says %s", i, name, unix.ErrnoName(unix.Errno(i)))
		}
	}
}
