package syscalls

// Arch selects a task's syscall ABI: its syscall numbers and the layout of
// struct epoll_event.
type Arch int

const (
	// AMD64 is x86-64: packed 12-byte epoll_event, data at offset 4.
	AMD64 Arch = iota
	// ARM64 is aarch64 (the generic syscall table): 16-byte epoll_event,
	// data at offset 8; no epoll_create, epoll_wait, pipe, dup2, poll,
	// eventfd.
	ARM64
)

func (a Arch) String() string {
	switch a {
	case AMD64:
		return "amd64"
	case ARM64:
		return "arm64"
	}
	return "unknown"
}

// EventSize is sizeof(struct epoll_event) for the arch.
func (a Arch) EventSize() int {
	if a == AMD64 {
		return 12
	}
	return 16
}

// eventDataOffset is offsetof(struct epoll_event, data).
func (a Arch) eventDataOffset() int {
	if a == AMD64 {
		return 4
	}
	return 8
}

// UserTop is the end of the user address space (access_ok's limit).
func (a Arch) UserTop() uint64 {
	if a == AMD64 {
		return UserTopAMD64
	}
	return UserTopARM64
}

// sysID names a served syscall independently of the arch.
type sysID uint8

const (
	sysNone sysID = iota
	sysRead
	sysWrite
	sysReadv
	sysWritev
	sysClose
	sysCloseRange
	sysDup
	sysDup2
	sysDup3
	sysFcntl
	sysPoll
	sysPpoll
	sysPipe
	sysPipe2
	sysEventfd
	sysEventfd2
	sysSocket
	sysSocketpair
	sysShutdown
	sysTimerfdCreate
	sysTimerfdSettime
	sysTimerfdGettime
	sysGetrlimit
	sysSetrlimit
	sysPrlimit64
	sysClockGettime
	sysMemfdCreate
	sysEpollCreate
	sysEpollCreate1
	sysEpollCtl
	sysEpollWait
	sysEpollPwait
	sysEpollPwait2
	// Processes and signals (process.go, sigcalls.go, wait.go, pidfd.go,
	// signalfd.go).
	sysRtSigprocmask
	sysKill
	sysTkill
	sysTgkill
	sysGetpid
	sysGettid
	sysGetppid
	sysWait4
	sysPidfdOpen
	sysSignalfd
	sysSignalfd4
	sysBind
	sysListen
	sysConnect
	sysAccept
	sysAccept4
	sysSendto
	sysRecvfrom
	sysMkdirat
	sysMknodat
	sysOpenat
	sysUnlinkat
	sysMax
)

// Syscall numbers, x86-64 (arch/x86/entry/syscalls/syscall_64.tbl).
const (
	AMD64Read           = 0
	AMD64Write          = 1
	AMD64Close          = 3
	AMD64Poll           = 7
	AMD64Readv          = 19
	AMD64Writev         = 20
	AMD64Pipe           = 22
	AMD64Dup            = 32
	AMD64Dup2           = 33
	AMD64Socket         = 41
	AMD64Shutdown       = 48
	AMD64Socketpair     = 53
	AMD64Fcntl          = 72
	AMD64Getrlimit      = 97
	AMD64Setrlimit      = 160
	AMD64EpollCreate    = 213
	AMD64ClockGettime   = 228
	AMD64EpollWait      = 232
	AMD64EpollCtl       = 233
	AMD64Ppoll          = 271
	AMD64EpollPwait     = 281
	AMD64TimerfdCreate  = 283
	AMD64Eventfd        = 284
	AMD64TimerfdSettime = 286
	AMD64TimerfdGettime = 287
	AMD64Eventfd2       = 290
	AMD64EpollCreate1   = 291
	AMD64Dup3           = 292
	AMD64Pipe2          = 293
	AMD64Prlimit64      = 302
	AMD64MemfdCreate    = 319
	AMD64CloseRange     = 436
	AMD64EpollPwait2    = 441

	AMD64RtSigprocmask = 14
	AMD64Getpid        = 39
	AMD64Wait4         = 61
	AMD64Kill          = 62
	AMD64Getppid       = 110
	AMD64Gettid        = 186
	AMD64Tkill         = 200
	AMD64Tgkill        = 234
	AMD64Signalfd      = 282
	AMD64Signalfd4     = 289
	AMD64PidfdOpen     = 434
	AMD64Connect       = 42
	AMD64Accept        = 43
	AMD64Sendto        = 44
	AMD64Recvfrom      = 45
	AMD64Bind          = 49
	AMD64Listen        = 50
	AMD64Openat        = 257
	AMD64Mkdirat       = 258
	AMD64Mknodat       = 259
	AMD64Accept4       = 288
	AMD64Unlinkat      = 263
)

// Syscall numbers, arm64 (include/uapi/asm-generic/unistd.h).
const (
	ARM64Eventfd2       = 19
	ARM64EpollCreate1   = 20
	ARM64EpollCtl       = 21
	ARM64EpollPwait     = 22
	ARM64Dup            = 23
	ARM64Dup3           = 24
	ARM64Fcntl          = 25
	ARM64Close          = 57
	ARM64Pipe2          = 59
	ARM64Read           = 63
	ARM64Write          = 64
	ARM64Readv          = 65
	ARM64Writev         = 66
	ARM64Ppoll          = 73
	ARM64TimerfdCreate  = 85
	ARM64TimerfdSettime = 86
	ARM64TimerfdGettime = 87
	ARM64ClockGettime   = 113
	ARM64Getrlimit      = 163
	ARM64Setrlimit      = 164
	ARM64Socket         = 198
	ARM64Socketpair     = 199
	ARM64Shutdown       = 210
	ARM64Prlimit64      = 261
	ARM64MemfdCreate    = 279
	ARM64CloseRange     = 436
	ARM64EpollPwait2    = 441

	ARM64Signalfd4     = 74
	ARM64Kill          = 129
	ARM64Tkill         = 130
	ARM64Tgkill        = 131
	ARM64RtSigprocmask = 135
	ARM64Getpid        = 172
	ARM64Getppid       = 173
	ARM64Gettid        = 178
	ARM64Wait4         = 260
	ARM64PidfdOpen     = 434
	ARM64Mknodat       = 33
	ARM64Mkdirat       = 34
	ARM64Openat        = 56
	ARM64Bind          = 200
	ARM64Listen        = 201
	ARM64Accept        = 202
	ARM64Connect       = 203
	ARM64Sendto        = 206
	ARM64Recvfrom      = 207
	ARM64Accept4       = 242
	ARM64Unlinkat      = 35
)

const maxSysNr = 512

var (
	amd64Table [maxSysNr]sysID
	arm64Table [maxSysNr]sysID
)

func init() {
	for nr, id := range map[int]sysID{
		AMD64Read: sysRead, AMD64Write: sysWrite, AMD64Close: sysClose, AMD64Poll: sysPoll,
		AMD64Readv: sysReadv, AMD64Writev: sysWritev, AMD64Pipe: sysPipe, AMD64Dup: sysDup,
		AMD64Dup2: sysDup2, AMD64Socket: sysSocket, AMD64Shutdown: sysShutdown,
		AMD64Socketpair: sysSocketpair, AMD64Fcntl: sysFcntl, AMD64Getrlimit: sysGetrlimit,
		AMD64Setrlimit: sysSetrlimit, AMD64EpollCreate: sysEpollCreate,
		AMD64ClockGettime: sysClockGettime, AMD64EpollWait: sysEpollWait, AMD64EpollCtl: sysEpollCtl,
		AMD64Ppoll: sysPpoll, AMD64EpollPwait: sysEpollPwait, AMD64TimerfdCreate: sysTimerfdCreate,
		AMD64Eventfd: sysEventfd, AMD64TimerfdSettime: sysTimerfdSettime,
		AMD64TimerfdGettime: sysTimerfdGettime, AMD64Eventfd2: sysEventfd2,
		AMD64EpollCreate1: sysEpollCreate1, AMD64Dup3: sysDup3, AMD64Pipe2: sysPipe2,
		AMD64Prlimit64: sysPrlimit64, AMD64MemfdCreate: sysMemfdCreate,
		AMD64CloseRange: sysCloseRange, AMD64EpollPwait2: sysEpollPwait2,
		AMD64RtSigprocmask: sysRtSigprocmask, AMD64Getpid: sysGetpid, AMD64Wait4: sysWait4,
		AMD64Kill: sysKill, AMD64Getppid: sysGetppid, AMD64Gettid: sysGettid,
		AMD64Tkill: sysTkill, AMD64Tgkill: sysTgkill, AMD64Signalfd: sysSignalfd,
		AMD64Signalfd4: sysSignalfd4, AMD64PidfdOpen: sysPidfdOpen,
		AMD64Connect: sysConnect, AMD64Accept: sysAccept, AMD64Sendto: sysSendto,
		AMD64Recvfrom: sysRecvfrom, AMD64Bind: sysBind, AMD64Listen: sysListen,
		AMD64Openat: sysOpenat, AMD64Mkdirat: sysMkdirat, AMD64Mknodat: sysMknodat,
		AMD64Accept4: sysAccept4, AMD64Unlinkat: sysUnlinkat,
	} {
		amd64Table[nr] = id
	}
	for nr, id := range map[int]sysID{
		ARM64Eventfd2: sysEventfd2, ARM64EpollCreate1: sysEpollCreate1, ARM64EpollCtl: sysEpollCtl,
		ARM64EpollPwait: sysEpollPwait, ARM64Dup: sysDup, ARM64Dup3: sysDup3, ARM64Fcntl: sysFcntl,
		ARM64Close: sysClose, ARM64Pipe2: sysPipe2, ARM64Read: sysRead, ARM64Write: sysWrite,
		ARM64Readv: sysReadv, ARM64Writev: sysWritev, ARM64Ppoll: sysPpoll,
		ARM64TimerfdCreate: sysTimerfdCreate, ARM64TimerfdSettime: sysTimerfdSettime,
		ARM64TimerfdGettime: sysTimerfdGettime, ARM64ClockGettime: sysClockGettime,
		ARM64Getrlimit: sysGetrlimit, ARM64Setrlimit: sysSetrlimit, ARM64Socket: sysSocket,
		ARM64Socketpair: sysSocketpair, ARM64Shutdown: sysShutdown, ARM64Prlimit64: sysPrlimit64,
		ARM64MemfdCreate: sysMemfdCreate, ARM64CloseRange: sysCloseRange,
		ARM64EpollPwait2: sysEpollPwait2,
		ARM64Signalfd4:   sysSignalfd4, ARM64Kill: sysKill, ARM64Tkill: sysTkill,
		ARM64Tgkill: sysTgkill, ARM64RtSigprocmask: sysRtSigprocmask, ARM64Getpid: sysGetpid,
		ARM64Getppid: sysGetppid, ARM64Gettid: sysGettid, ARM64Wait4: sysWait4,
		ARM64PidfdOpen: sysPidfdOpen,
		ARM64Mknodat:   sysMknodat, ARM64Mkdirat: sysMkdirat, ARM64Openat: sysOpenat,
		ARM64Bind: sysBind, ARM64Listen: sysListen, ARM64Accept: sysAccept,
		ARM64Connect: sysConnect, ARM64Sendto: sysSendto, ARM64Recvfrom: sysRecvfrom,
		ARM64Accept4: sysAccept4, ARM64Unlinkat: sysUnlinkat,
	} {
		arm64Table[nr] = id
	}
}

// handler serves one syscall. It returns the result or an errno.
type handler func(t *Task, a *[6]uintptr) (uintptr, errno)

// handlers is filled by the init functions of the files that serve them;
// a nil entry is ENOSYS.
var handlers [sysMax]handler

func register(id sysID, h handler) { handlers[id] = h }
