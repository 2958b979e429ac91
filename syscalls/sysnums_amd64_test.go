//go:build linux && amd64

package syscalls

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The hand-written amd64 numbers agree with golang.org/x/sys/unix.
func TestAMD64NumbersMatchUnix(t *testing.T) {
	for got, want := range map[int]int{
		AMD64Read: unix.SYS_READ, AMD64Write: unix.SYS_WRITE, AMD64Close: unix.SYS_CLOSE,
		AMD64Poll: unix.SYS_POLL, AMD64Readv: unix.SYS_READV, AMD64Writev: unix.SYS_WRITEV,
		AMD64Pipe: unix.SYS_PIPE, AMD64Dup: unix.SYS_DUP, AMD64Dup2: unix.SYS_DUP2,
		AMD64Socket: unix.SYS_SOCKET, AMD64Shutdown: unix.SYS_SHUTDOWN,
		AMD64Socketpair: unix.SYS_SOCKETPAIR, AMD64Fcntl: unix.SYS_FCNTL,
		AMD64Getrlimit: unix.SYS_GETRLIMIT, AMD64Setrlimit: unix.SYS_SETRLIMIT,
		AMD64EpollCreate: unix.SYS_EPOLL_CREATE, AMD64ClockGettime: unix.SYS_CLOCK_GETTIME,
		AMD64EpollWait: unix.SYS_EPOLL_WAIT, AMD64EpollCtl: unix.SYS_EPOLL_CTL,
		AMD64Ppoll: unix.SYS_PPOLL, AMD64EpollPwait: unix.SYS_EPOLL_PWAIT,
		AMD64TimerfdCreate: unix.SYS_TIMERFD_CREATE, AMD64Eventfd: unix.SYS_EVENTFD,
		AMD64TimerfdSettime: unix.SYS_TIMERFD_SETTIME, AMD64TimerfdGettime: unix.SYS_TIMERFD_GETTIME,
		AMD64Eventfd2: unix.SYS_EVENTFD2, AMD64EpollCreate1: unix.SYS_EPOLL_CREATE1,
		AMD64Dup3: unix.SYS_DUP3, AMD64Pipe2: unix.SYS_PIPE2, AMD64Prlimit64: unix.SYS_PRLIMIT64,
		AMD64MemfdCreate: unix.SYS_MEMFD_CREATE, AMD64CloseRange: unix.SYS_CLOSE_RANGE,
		AMD64EpollPwait2:   unix.SYS_EPOLL_PWAIT2,
		AMD64RtSigprocmask: unix.SYS_RT_SIGPROCMASK, AMD64Getpid: unix.SYS_GETPID,
		AMD64Wait4: unix.SYS_WAIT4, AMD64Kill: unix.SYS_KILL, AMD64Getppid: unix.SYS_GETPPID,
		AMD64Gettid: unix.SYS_GETTID, AMD64Tkill: unix.SYS_TKILL, AMD64Tgkill: unix.SYS_TGKILL,
		AMD64Signalfd: unix.SYS_SIGNALFD, AMD64Signalfd4: unix.SYS_SIGNALFD4,
		AMD64PidfdOpen: unix.SYS_PIDFD_OPEN,
		AMD64Connect:   unix.SYS_CONNECT, AMD64Accept: unix.SYS_ACCEPT, AMD64Sendto: unix.SYS_SENDTO,
		AMD64Recvfrom: unix.SYS_RECVFROM, AMD64Bind: unix.SYS_BIND, AMD64Listen: unix.SYS_LISTEN,
		AMD64Openat: unix.SYS_OPENAT, AMD64Mkdirat: unix.SYS_MKDIRAT, AMD64Mknodat: unix.SYS_MKNODAT,
		AMD64Accept4: unix.SYS_ACCEPT4, AMD64Unlinkat: unix.SYS_UNLINKAT,
	} {
		if got != want {
			t.Errorf("amd64 number %d, unix says %d", got, want)
		}
	}
}
