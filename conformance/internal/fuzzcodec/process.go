package fuzzcodec

import "fmt"

// ProcState is the life of a forked process, as the generator sees it.
type ProcState int

// The states of a forked process.
const (
	ProcRunning ProcState = iota // forked, runs calls
	ProcExited                   // 'exit P' done, a zombie
	ProcReaped                   // a waitpid reaped it
)

// Signal bits of a simulated mask (bit n-1 for signal n).
const (
	SigUSR1 uint64 = 1 << (10 - 1)
	SigUSR2 uint64 = 1 << (12 - 1)
	SigCHLD uint64 = 1 << (17 - 1)
)

// MaxForks bounds the forks of one generated script (each is a new
// process on the host, which costs milliseconds).
const MaxForks = 3

// Proc is the script's process or one of its forks, as the simulation
// tracks it: its fd table, its one script thread's signal mask, and
// whether SIGUSR2 was ever sent to it (SIGUSR2 keeps its default action,
// which kills: once sent, the generator never unblocks it there).
type Proc struct {
	Name  string // "" for the script's own process
	State ProcState
	fds   map[int32]*file
	// owner, in a fork, is the name that put the file at a number (by a
	// creation or a dup onto it); numbers without one hold what the fork
	// copied (see Decoder.usable).
	owner      map[int32]*name
	forkSerial int // the last name serial bound before the fork
	Mask       uint64
	USR2Sent   bool
}

// own records that n put the file at num of p's table (nil: it is gone).
// The script's own process needs no record: every name it bound stays
// usable there.
func (p *Proc) own(num int32, n *name) {
	if p.Name == "" {
		return
	}
	if n == nil {
		delete(p.owner, num)
		return
	}
	p.owner[num] = n
}

// usable returns the indexes in d.names of the names a step of the
// process decoding may use. In the script's process, every name it bound
// (names bound in forks are numbers of their tables). In a fork, only
// the names whose number is certain to hold the same file on every
// backend: a name the fork bound, while its number still holds that
// file, and a name of the parent bound before the fork, while the fork
// has not reused its number. Lowest-free allocation in a fork is not
// comparable across backends (a host fork has holes where its runner's
// fds were), so a number the fork freed and filled again is not named
// by anything but the name that filled it.
func (d *Decoder) usable() []int {
	if len(d.procs) == 0 && len(d.allNames) == len(d.names) {
		return d.allNames
	}
	if len(d.procs) == 0 {
		for i := len(d.allNames); i < len(d.names); i++ {
			d.allNames = append(d.allNames, i)
		}
		return d.allNames
	}
	var out []int
	for i, n := range d.names {
		if d.usableName(n) {
			out = append(out, i)
		}
	}
	return out
}

func (d *Decoder) usableName(n *name) bool {
	p := d.cur
	if p == d.main {
		return n.proc == d.main
	}
	if p.fds[n.num] == nil {
		return false
	}
	if o := p.owner[n.num]; o != nil {
		return o == n
	}
	return n.proc == d.main && n.serial <= p.forkSerial
}

// usableEpolls returns the indexes in d.names of the usable epoll names.
func (d *Decoder) usableEpolls() []int {
	if len(d.procs) == 0 {
		return d.epolls
	}
	var out []int
	for _, i := range d.epolls {
		if d.usableName(d.names[i]) {
			out = append(out, i)
		}
	}
	return out
}

// byText returns the name with that text, nil if none.
func (d *Decoder) byText(text string) *name {
	for i := len(d.names) - 1; i >= 0; i-- {
		if d.names[i].text == text {
			return d.names[i]
		}
	}
	return nil
}

// SetServes sets which version 3 operations the generator makes (nil:
// none). It must be set before the first operation is decoded, and the
// same on the encoder's side (Encoder.SetServes).
func (d *Decoder) SetServes(serves func(op string) bool) { d.serves = serves }

// Serves reports whether the generator makes version 3 operation op.
func (d *Decoder) Serves(op string) bool { return d.serves != nil && d.serves(op) }

// Cur returns the process whose step is being decoded.
func (d *Decoder) Cur() *Proc { return d.cur }

// Main returns the script's own process.
func (d *Decoder) Main() *Proc { return d.main }

// InFork reports whether the step being decoded runs in a fork.
func (d *Decoder) InFork() bool { return d.cur != d.main }

// Procs returns the forked processes, in fork order.
func (d *Decoder) Procs() []*Proc { return d.procs }

// ProcsIn returns the forks in one of the states.
func (d *Decoder) ProcsIn(states ...ProcState) []*Proc {
	var out []*Proc
	for _, p := range d.procs {
		for _, s := range states {
			if p.State == s {
				out = append(out, p)
			}
		}
	}
	return out
}

// Fork simulates 'fork P' from the script's process and returns P's
// name, or "" when the script has forked MaxForks times.
func (d *Decoder) Fork() string {
	if len(d.procs) >= MaxForks || d.InFork() {
		return ""
	}
	p := &Proc{Name: fmt.Sprintf("P%d", len(d.procs)+1), fds: map[int32]*file{}, owner: map[int32]*name{},
		forkSerial: d.serial, Mask: d.main.Mask}
	for num, f := range d.main.fds {
		p.fds[num] = f
	}
	d.procs = append(d.procs, p)
	return p.Name
}

// Exit simulates 'exit P': its table is closed.
func (d *Decoder) Exit(p *Proc) {
	p.State = ProcExited
	p.fds = map[int32]*file{}
	p.owner = map[int32]*name{}
}

// OnProc decodes one operation (decode) as a step of fork p: every call
// it emits becomes 'P & CALL' followed by 'join P', so that each runs to
// completion before the next step.
func (d *Decoder) OnProc(p *Proc, decode func()) {
	start := len(d.calls)
	d.cur, d.fds = p, p.fds
	decode()
	d.cur, d.fds = d.main, d.main.fds
	calls := append([]string(nil), d.calls[start:]...)
	d.calls = d.calls[:start]
	for _, c := range calls {
		d.calls = append(d.calls, p.Name+" & "+c, "join "+p.Name)
	}
}

// holders calls fn for every file some live process's table holds.
func (d *Decoder) holders(fn func(f *file)) {
	for _, p := range append([]*Proc{d.main}, d.procs...) {
		for _, f := range p.fds {
			fn(f)
		}
	}
}

// open reports whether some process still holds f.
func (d *Decoder) open(f *file) bool {
	found := false
	d.holders(func(g *file) { found = found || g == f })
	return found
}

// InProc runs encode with the encoder's decoder in fork p's context, as
// Decoder.OnProc decodes the step, so that fd references are encoded as
// the fork's step decodes them.
func (e *Encoder) InProc(p *Proc, encode func()) {
	d := e.d
	d.cur, d.fds = p, p.fds
	defer func() { d.cur, d.fds = d.main, d.main.fds }()
	encode()
}

// ForkBound reports whether a fork's step has bound a name: its number
// is the fork's lowest free one, which differs between backends.
func (d *Decoder) ForkBound() bool {
	for _, n := range d.names {
		if n.proc != d.main {
			return true
		}
	}
	return false
}
