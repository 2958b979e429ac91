package conformance

import (
	"fmt"
	"strconv"
	"strings"
)

// Guest ABI constants. The guest is always x86-64 Linux, whatever the host
// architecture, so these are spelled out here instead of being taken from
// golang.org/x/sys/unix (whose values follow the host). A test checks them
// against unix.SYS_* on amd64.
const (
	sysRead          = 0
	sysWrite         = 1
	sysClose         = 3
	sysPoll          = 7
	sysDup           = 32
	sysDup2          = 33
	sysGetpid        = 39
	sysSocket        = 41
	sysShutdown      = 48
	sysSocketpair    = 53
	sysFcntl         = 72
	sysGetrlimit     = 97
	sysSetrlimit     = 160
	sysEpollCreate   = 213
	sysClockGettime  = 228
	sysEpollWait     = 232
	sysEpollCtl      = 233
	sysEpollPwait    = 281
	sysTimerfdCreate = 283
	sysTimerfdSettm  = 286
	sysEventfd2      = 290
	sysEpollCreate1  = 291
	sysDup3          = 292
	sysPipe2         = 293
	sysMemfdCreate   = 319
	sysEpollPwait2   = 441

	// Version 3.
	sysRtSigprocmask = 14
	sysSendto        = 44
	sysRecvfrom      = 45
	sysConnect       = 42
	sysBind          = 49
	sysListen        = 50
	sysKill          = 62
	sysWait4         = 61
	sysTgkill        = 234
	sysMkdirat       = 258
	sysMknodat       = 259
	sysOpenat        = 257
	sysSignalfd4     = 289
	sysAccept4       = 288
	sysPidfdOpen     = 434
	sysUnlinkat      = 263
)

// Other guest constants used by the executor.
const (
	afUnix       = 1
	fGetfd       = 1
	fGetfl       = 3
	fSetfl       = 4
	rlimitNofile = 7
	sigsetSize   = 8
	sigUSR1      = 10
	sigUSR2      = 12
	sigCHLD      = 17
	sigKILL      = 9
	fSetpipeSz   = 1031
	fGetpipeSz   = 1032
	atFdcwd      = -100
	sIFIFO       = 0o010000
	atRemovedir  = 0x200

	// EventSize is sizeof(struct epoll_event) on x86-64 (packed).
	EventSize = 12
	// MaxEvents is the largest maxevents Linux accepts on x86-64
	// (INT_MAX / sizeof(struct epoll_event)).
	MaxEvents = 178956970
	// EventsBufferSize is the size of the per-thread events buffer the
	// executor allocates, large enough for MaxEvents events.
	EventsBufferSize = MaxEvents * EventSize
	// MaxIO is the largest byte count accepted by the write and read steps.
	MaxIO = EventsBufferSize
)

type flagName struct {
	name string
	val  uint64
}

// nameTable is the set of names accepted (and printed) in one kind of mask.
type nameTable struct {
	what   string // for messages: "EVENTS", "FLAGS", ...
	names  []flagName
	single bool // at most one name (OP, HOW, TYPE, CLOCK)
}

func (t *nameTable) lookup(name string) (uint64, bool) {
	for _, f := range t.names {
		if f.name == name {
			return f.val, true
		}
	}
	return 0, false
}

func (t *nameTable) list() string {
	var s []string
	for _, f := range t.names {
		s = append(s, f.name)
	}
	return strings.Join(s, " ")
}

// format prints v as names in table order joined by '|', followed by one
// hexadecimal number for bits that have no name; 0 prints as "0".
func (t *nameTable) format(v uint64) string {
	if v == 0 {
		return "0"
	}
	var parts []string
	rest := v
	for _, f := range t.names {
		if f.val != 0 && v&f.val == f.val && rest&f.val != 0 {
			parts = append(parts, f.name)
			rest &^= f.val
		}
	}
	if rest != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(rest, 16))
	}
	return strings.Join(parts, "|")
}

var (
	eventsTable = &nameTable{what: "EVENTS", names: []flagName{
		{"IN", 0x1}, {"OUT", 0x4}, {"PRI", 0x2}, {"ERR", 0x8}, {"HUP", 0x10},
		{"NVAL", 0x20}, {"RDNORM", 0x40}, {"RDBAND", 0x80}, {"WRNORM", 0x100},
		{"WRBAND", 0x200}, {"MSG", 0x400}, {"RDHUP", 0x2000},
		{"EXCLUSIVE", 1 << 28}, {"WAKEUP", 1 << 29}, {"ONESHOT", 1 << 30}, {"ET", 1 << 31},
	}}
	// pollTable holds the names valid in poll's 16-bit events.
	pollTable = &nameTable{what: "EVENTS", names: eventsTable.names[:12]}

	create1Flags  = &nameTable{what: "FLAGS", names: []flagName{{"CLOEXEC", 0x80000}}}
	pipeFlags     = &nameTable{what: "FLAGS", names: []flagName{{"NONBLOCK", 0x800}, {"CLOEXEC", 0x80000}, {"DIRECT", 0x4000}}}
	eventfdFlags  = &nameTable{what: "FLAGS", names: []flagName{{"NONBLOCK", 0x800}, {"SEMAPHORE", 0x1}, {"CLOEXEC", 0x80000}}}
	sockFlags     = &nameTable{what: "FLAGS", names: []flagName{{"NONBLOCK", 0x800}, {"CLOEXEC", 0x80000}}}
	sockTypes     = &nameTable{what: "TYPE", single: true, names: []flagName{{"STREAM", 1}, {"DGRAM", 2}, {"SEQPACKET", 5}}}
	clocks        = &nameTable{what: "CLOCK", single: true, names: []flagName{{"REALTIME", 0}, {"MONOTONIC", 1}, {"BOOTTIME", 7}}}
	timerfdFlags  = &nameTable{what: "FLAGS", names: []flagName{{"NONBLOCK", 0x800}, {"CLOEXEC", 0x80000}}}
	settimeFlags  = &nameTable{what: "FLAGS", names: []flagName{{"ABSTIME", 1}}}
	dup3Flags     = &nameTable{what: "FLAGS", names: []flagName{{"CLOEXEC", 0x80000}}}
	shutdownHows  = &nameTable{what: "HOW", single: true, names: []flagName{{"RD", 0}, {"WR", 1}, {"RDWR", 2}}}
	setflFlags    = &nameTable{what: "FLAGS", names: []flagName{{"NONBLOCK", 0x800}}}
	ctlOps        = &nameTable{what: "OP", single: true, names: []flagName{{"ADD", 1}, {"DEL", 2}, {"MOD", 3}}}
	signalsTable  = &nameTable{what: "SIGNALS", names: []flagName{{"USR1", 1 << (sigUSR1 - 1)}, {"USR2", 1 << (sigUSR2 - 1)}, {"CHLD", 1 << (sigCHLD - 1)}}}
	getfdTable    = &nameTable{what: "fd flags", names: []flagName{{"CLOEXEC", 1}}}
	getflStatuses = &nameTable{what: "status flags", names: []flagName{{"NONBLOCK", 0x800}, {"APPEND", 0x400}, {"DIRECT", 0x4000}}}
	accessModes   = []string{"RDONLY", "WRONLY", "RDWR"}

	// Version 3.
	pidfdFlags  = &nameTable{what: "FLAGS", names: []flagName{{"NONBLOCK", 0x800}}}
	signalNames = &nameTable{what: "SIGNAL", single: true, names: []flagName{{"USR1", sigUSR1}, {"USR2", sigUSR2}, {"CHLD", sigCHLD}}}
	sigmaskHows = &nameTable{what: "HOW", single: true, names: []flagName{{"BLOCK", 0}, {"UNBLOCK", 1}, {"SETMASK", 2}}}
	fifoFlags   = &nameTable{what: "FLAGS", names: []flagName{{"RDONLY", 0}, {"WRONLY", 1}, {"RDWR", 2}, {"NONBLOCK", 0x800}, {"CLOEXEC", 0x80000}}}
	sendFlags   = &nameTable{what: "FLAGS", names: []flagName{{"OOB", 1}, {"DONTWAIT", 0x40}, {"NOSIGNAL", 0x4000}}}
	recvFlags   = &nameTable{what: "FLAGS", names: []flagName{{"OOB", 1}, {"PEEK", 2}, {"DONTWAIT", 0x40}}}
)

// getflShown is the set of F_GETFL bits a result shows.
const getflShown = 3 | 0x800 | 0x400 | 0x4000

// keywords are the upper-case words that can never be thread names: the
// pointer words, every name of the operations' masks and the names
// results print.
var keywords = func() map[string]bool {
	m := map[string]bool{"NULL": true, "BADPTR": true, "TIMEOUT": true, "SELF": true, "MAIN": true}
	tables := []*nameTable{signalsTable, getfdTable, getflStatuses}
	for _, o := range operations {
		for _, sig := range o.sigs {
			for _, p := range sig {
				if p.table != nil {
					tables = append(tables, p.table)
				}
			}
		}
	}
	for _, t := range tables {
		for _, f := range t.names {
			m[f.name] = true
		}
	}
	for _, a := range accessModes {
		m[a] = true
	}
	return m
}()

// errnoNames are Linux's errno names (generic numbering, as on x86-64).
var errnoNames = [...]string{
	1: "EPERM", "ENOENT", "ESRCH", "EINTR", "EIO", "ENXIO", "E2BIG", "ENOEXEC", "EBADF", "ECHILD",
	"EAGAIN", "ENOMEM", "EACCES", "EFAULT", "ENOTBLK", "EBUSY", "EEXIST", "EXDEV", "ENODEV", "ENOTDIR",
	"EISDIR", "EINVAL", "ENFILE", "EMFILE", "ENOTTY", "ETXTBSY", "EFBIG", "ENOSPC", "ESPIPE", "EROFS",
	"EMLINK", "EPIPE", "EDOM", "ERANGE", "EDEADLK", "ENAMETOOLONG", "ENOLCK", "ENOSYS", "ENOTEMPTY", "ELOOP",
	"", "ENOMSG", "EIDRM", "ECHRNG", "EL2NSYNC", "EL3HLT", "EL3RST", "ELNRNG", "EUNATCH", "ENOCSI",
	"EL2HLT", "EBADE", "EBADR", "EXFULL", "ENOANO", "EBADRQC", "EBADSLT", "", "EBFONT", "ENOSTR",
	"ENODATA", "ETIME", "ENOSR", "ENONET", "ENOPKG", "EREMOTE", "ENOLINK", "EADV", "ESRMNT", "ECOMM",
	"EPROTO", "EMULTIHOP", "EDOTDOT", "EBADMSG", "EOVERFLOW", "ENOTUNIQ", "EBADFD", "EREMCHG", "ELIBACC", "ELIBBAD",
	"ELIBSCN", "ELIBMAX", "ELIBEXEC", "EILSEQ", "ERESTART", "ESTRPIPE", "EUSERS", "ENOTSOCK", "EDESTADDRREQ", "EMSGSIZE",
	"EPROTOTYPE", "ENOPROTOOPT", "EPROTONOSUPPORT", "ESOCKTNOSUPPORT", "EOPNOTSUPP", "EPFNOSUPPORT", "EAFNOSUPPORT", "EADDRINUSE", "EADDRNOTAVAIL", "ENETDOWN",
	"ENETUNREACH", "ENETRESET", "ECONNABORTED", "ECONNRESET", "ENOBUFS", "EISCONN", "ENOTCONN", "ESHUTDOWN", "ETOOMANYREFS", "ETIMEDOUT",
	"ECONNREFUSED", "EHOSTDOWN", "EHOSTUNREACH", "EALREADY", "EINPROGRESS", "ESTALE", "EUCLEAN", "ENOTNAM", "ENAVAIL", "EISNAM",
	"EREMOTEIO", "EDQUOT", "ENOMEDIUM", "EMEDIUMTYPE", "ECANCELED", "ENOKEY", "EKEYEXPIRED", "EKEYREVOKED", "EKEYREJECTED", "EOWNERDEAD",
	"ENOTRECOVERABLE", "ERFKILL", "EHWPOISON",
}

// errnoAliases are other spellings accepted in expectations; results are
// always printed with the canonical name.
var errnoAliases = map[string]string{
	"EWOULDBLOCK": "EAGAIN",
	"ENOTSUP":     "EOPNOTSUPP",
	"EDEADLOCK":   "EDEADLK",
}

var errnoByName = func() map[string]int {
	m := map[string]int{}
	for i, n := range errnoNames {
		if n != "" {
			m[n] = i
		}
	}
	for a, c := range errnoAliases {
		m[a] = m[c]
	}
	return m
}()

// ErrnoName returns the Linux name of errno e, or "E" followed by the
// decimal number for numbers that have no name (such as kernel-internal
// codes a broken backend might leak).
func ErrnoName(e int) string {
	if e > 0 && e < len(errnoNames) && errnoNames[e] != "" {
		return errnoNames[e]
	}
	return "E" + strconv.Itoa(e)
}

// parseErrnoName parses a name printed by ErrnoName (or an alias).
func parseErrnoName(s string) (int, error) {
	if n, ok := errnoByName[s]; ok {
		return n, nil
	}
	if len(s) > 1 && s[0] == 'E' && s[1] >= '0' && s[1] <= '9' {
		if n, err := strconv.Atoi(s[1:]); err == nil && n > 0 && strconv.Itoa(n) == s[1:] {
			return n, nil
		}
	}
	return 0, fmt.Errorf("unknown errno name %q", s)
}
