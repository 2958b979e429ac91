package conformance

import (
	"encoding/binary"
	"fmt"
	"runtime/debug"
	"sort"
	"sync"
	"syscall"
	"time"
)

// Execute runs a parsed script on a machine and returns its trace. The
// executor owns every step semantic (argument building, guest structures,
// threads, joins, interrupts, timing, naming, cleanup); the machine only
// executes system calls and memory accesses. onStep, if not nil, is called
// with each outcome as soon as it is known (on the calling goroutine).
//
// Execute does not return before the run is cleaned up. It calls m.Close
// unless a thread could not be joined.
func Execute(m Machine, sc *Script, opts Options, onStep func(Outcome)) *Trace {
	start := time.Now()
	ex := &executor{
		m: m, sc: sc, opts: opts, onStep: onStep,
		tr:      &Trace{Path: sc.Path},
		threads: map[string]*worker{},
		fdn:     newFdNames(),
		owned:   map[int32]bool{},
		clocks:  map[int32]uint64{},
		nextID:  MainThread + 1,
	}
	if sc.AbortLine != 0 {
		ex.scriptError(sc.AbortLine, "the script has a '!!' line: it is a trace, not a script")
		m.Close()
		ex.tr.Duration = time.Since(start)
		return ex.tr
	}
	var err error
	if ex.main, err = ex.startWorker("main", MainThread); err != nil {
		ex.abort("runner error: starting the main thread: %v", err)
		m.Close()
		ex.tr.Duration = time.Since(start)
		return ex.tr
	}
	ex.run()
	ex.cleanup()
	ex.tr.Duration = time.Since(start)
	return ex.tr
}

type executor struct {
	m      Machine
	sc     *Script
	opts   Options
	onStep func(Outcome)
	tr     *Trace

	nextID  ThreadID
	main    *worker
	threads map[string]*worker // named threads with calls not yet joined
	workers []*worker          // every worker started

	fdn    *fdNames
	owned  map[int32]bool   // fd numbers created by the script and not closed
	clocks map[int32]uint64 // clock of each timerfd, by number

	lateFDs  []int32 // fds returned by calls whose results were not applied
	timedOut []*job  // calls whose join (or main step) timed out

	rlMu    sync.Mutex
	rlSaved bool
	rlOrig  [2]uint64 // RLIMIT_NOFILE soft, hard at the first setrlimit_nofile
}

func (ex *executor) abort(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if ex.tr.Abort == "" {
		ex.tr.Abort = msg
	} else {
		ex.tr.Abort += "; " + msg
	}
}

func (ex *executor) scriptError(line int, format string, args ...any) {
	ex.tr.ScriptError = true
	ex.abort("script error: %s:%d: %s", ex.sc.Path, line, fmt.Sprintf(format, args...))
}

func (ex *executor) record(o Outcome) {
	ex.tr.Steps = append(ex.tr.Steps, o)
	if ex.onStep != nil {
		ex.onStep(o)
	}
}

// run executes the steps until the end or an abort.
func (ex *executor) run() {
	to := ex.opts.joinTimeout()
	cp, _ := ex.m.(Checkpointer)
	for i, st := range ex.sc.Steps {
		if cp != nil && i > 0 && ex.idle() {
			if err := cp.Checkpoint(); err != nil {
				ex.abort("runner error: checkpoint before line %d: %v", st.Line, err)
				return
			}
		}
		switch st.Kind {
		case StepCall:
			if n := ex.stillOpen(st.Call.Names); n != "" {
				ex.scriptError(st.Line, "name %q is still open: a binding needs a new or closed name", n)
				return
			}
			j, ok := ex.prepare(i, st)
			if !ok {
				return
			}
			ex.main.enqueue(j)
			if !j.wait(to) {
				ex.timedOut = append(ex.timedOut, j)
				ex.record(Outcome{Step: i, Result: Result{Kind: KindTimeout}, Elapsed: to})
				ex.abort("main thread: call at line %d (%s) still running after %v", st.Line, st.Call.Op, to)
				return
			}
			if !ex.finish(i, st, j) {
				return
			}
		case StepSpawn:
			w := ex.threads[st.Thread]
			if w == nil {
				var err error
				if w, err = ex.startWorker(st.Thread, ex.nextID); err != nil {
					ex.abort("runner error: starting thread %s: %v", st.Thread, err)
					return
				}
				ex.nextID++
				ex.threads[st.Thread] = w
			}
			j, ok := ex.prepare(i, st)
			if !ok {
				return
			}
			w.joins = append(w.joins, j)
			w.enqueue(j)
			ex.record(Outcome{Step: i, Result: Result{Kind: KindNone}})
		case StepJoin:
			w := ex.threads[st.Thread]
			if w == nil || len(w.joins) == 0 {
				// The parser resolves joins; this cannot happen for a parsed script.
				ex.scriptError(st.Line, "join %s: nothing to join", st.Thread)
				return
			}
			j := w.joins[0]
			w.joins = w.joins[1:]
			call := ex.sc.Steps[j.step]
			if !j.wait(to) {
				ex.timedOut = append(ex.timedOut, j)
				ex.record(Outcome{Step: i, Result: Result{Kind: KindTimeout}, Elapsed: to})
				ex.abort("thread %s: call at line %d (%s) still running %v after the join at line %d",
					st.Thread, call.Line, call.Call.Op, to, st.Line)
				return
			}
			if len(w.joins) == 0 {
				delete(ex.threads, st.Thread)
				w.stop()
			}
			if n := ex.stillOpen(call.Call.Names); n != "" {
				ex.scriptError(st.Line, "join %s binds name %q, which is still open", st.Thread, n)
				ex.closeLate(j)
				return
			}
			if !ex.finish(i, call, j) {
				return
			}
		case StepSleep:
			time.Sleep(time.Duration(st.Sleep) * time.Millisecond)
			ex.record(Outcome{Step: i, Result: Result{Kind: KindNone}})
		case StepInterrupt:
			if w := ex.threads[st.Thread]; w != nil {
				if err := w.interrupt(); err != nil {
					ex.abort("runner error: interrupt %s at line %d: %v", st.Thread, st.Line, err)
					return
				}
			}
			ex.record(Outcome{Step: i, Result: Result{Kind: KindNone}})
		}
	}
}

// idle reports whether no thread has a call running or queued.
func (ex *executor) idle() bool {
	for _, w := range ex.workers {
		w.mu.Lock()
		busy := w.running != nil || len(w.queue) > 0
		w.mu.Unlock()
		if busy {
			return false
		}
	}
	return true
}

// finish applies a completed call's effects and records its outcome at
// step i (the call's own step, or the join).
func (ex *executor) finish(i int, call *Step, j *job) bool {
	if j.err != nil {
		ex.abort("runner error at line %d (%s): %v", call.Line, call.Call.Op, j.err)
		ex.closeLate(j)
		return false
	}
	ex.apply(call.Call, j)
	o := j.out
	o.Step = i
	if w := call.Within; w != nil {
		o.WithinFailed = o.Elapsed < time.Duration(w.Min)*time.Millisecond ||
			o.Elapsed > time.Duration(w.Max)*time.Millisecond
	}
	ex.record(o)
	return true
}

func (ex *executor) stillOpen(names []string) string {
	for _, n := range names {
		if ns := ex.fdn.names[n]; ns != nil && ns.open {
			return n
		}
	}
	return ""
}

// apply updates names, owned fds and timer clocks after a call completed.
// It runs on the executor goroutine: for a thread's call, at its join.
func (ex *executor) apply(c *Call, j *job) {
	r := &j.out.Result
	switch c.Op {
	case "close":
		if r.Kind == KindErrno && r.Errno == "EBADF" || r.Kind == KindTimeout {
			return
		}
		fd := j.fd("FD")
		ex.fdn.handOut(fd)
		delete(ex.owned, fd)
		delete(ex.clocks, fd)
	case "fdinfo":
		if r.Kind == KindFdinfo {
			r.Entries = ex.fdn.nameEntries(j.rawFdinfo)
		}
	default:
		if r.Kind != KindFDs {
			return
		}
		if c.Op == "dup2" && j.fd("OLD") == j.out.FDs[0] {
			return // dup2 of a number onto itself changes nothing
		}
		var srcClock uint64
		var hasClock bool
		switch c.Op {
		case "timerfd_create":
			srcClock, hasClock = c.Arg("CLOCK").Val, true
		case "dup":
			srcClock, hasClock = ex.clocks[j.fd("FD")]
		case "dup2", "dup3":
			srcClock, hasClock = ex.clocks[j.fd("OLD")]
		}
		for k, fd := range j.out.FDs {
			ex.fdn.handOut(fd)
			ex.owned[fd] = true
			delete(ex.clocks, fd)
			if k < len(c.Names) {
				ex.fdn.bind(c.Names[k], fd)
			}
		}
		if a := c.Arg("NEW"); a != nil && a.Kind == ArgName {
			ex.fdn.bind(a.Text, j.out.FDs[0])
		}
		if hasClock {
			ex.clocks[j.out.FDs[0]] = srcClock
		}
	}
}

// closeLate closes fds returned by a call whose result will not be applied.
func (ex *executor) closeLate(j *job) {
	if j.err == nil && j.out.Result.Kind == KindFDs {
		for _, fd := range j.out.FDs {
			if !ex.owned[fd] {
				ex.lateFDs = append(ex.lateFDs, fd)
			}
		}
	}
}

// prepare resolves a call's arguments (names to numbers, at this step) and
// builds the job that runs it.
func (ex *executor) prepare(i int, st *Step) (*job, bool) {
	j := &job{step: i, call: st.Call, done: make(chan struct{}), fds: map[string]int32{}}
	for _, a := range st.Call.Args {
		switch a.Kind {
		case ArgName:
			ns := ex.fdn.names[a.Text]
			if ns == nil {
				ex.scriptError(st.Line, "name %q is not bound (the call that should have bound it failed or was not joined)", a.Text)
				return nil, false
			}
			j.fds[a.Param] = ns.num
		case ArgNumber:
			j.fds[a.Param] = int32(uint32(a.Val))
		}
	}
	if st.Call.Op == "timerfd_settime" {
		j.clock = 1 // CLOCK_MONOTONIC for fds not created as timers by the script
		if c, ok := ex.clocks[j.fd("FD")]; ok {
			j.clock = c
		}
	}
	return j, true
}

// cleanup ends a run: queued calls are dropped, fds closed, running threads
// interrupted and joined, RLIMIT_NOFILE restored.
func (ex *executor) cleanup() {
	for _, w := range ex.workers {
		w.dropQueued()
	}
	// A helper thread does the closing when the main thread is stuck.
	cw := ex.main
	if cw.busy() {
		var err error
		if cw, err = ex.startWorker("cleanup", ex.nextID); err != nil {
			ex.abort("runner error: starting the cleanup thread: %v", err)
			cw = nil
		}
		ex.nextID++
	}
	var fds []int32
	for fd := range ex.owned {
		fds = append(fds, fd)
	}
	sort.Slice(fds, func(a, b int) bool { return fds[a] < fds[b] })
	ex.closeAll(cw, fds)

	// Interrupt and join every thread with a call still running.
	deadline := time.Now().Add(ex.opts.cleanupTimeout())
	var stuck []string
	for _, w := range ex.workers {
		j := w.current()
		if j == nil {
			continue
		}
		for !j.wait(0) && time.Now().Before(deadline) {
			if err := w.interrupt(); err != nil {
				break
			}
			j.wait(100 * time.Millisecond)
		}
		if !j.wait(0) {
			w.stuck = true
			stuck = append(stuck, fmt.Sprintf("thread %s (call at line %d, %s)", w.name, ex.sc.Steps[j.step].Line, j.call.Op))
		}
	}
	// Calls that finished but were never joined, or whose join or main
	// step timed out, may have created fds: close those too.
	unapplied := ex.timedOut
	for _, w := range ex.workers {
		unapplied = append(unapplied, w.joins...)
	}
	for _, j := range unapplied {
		if j.wait(0) {
			ex.closeLate(j)
		}
	}
	ex.closeAll(cw, dedupe(ex.lateFDs))

	ex.rlMu.Lock()
	saved, orig := ex.rlSaved, ex.rlOrig
	ex.rlMu.Unlock()
	if saved && cw != nil {
		j := &job{step: -1, done: make(chan struct{}), run: func(w *worker) (Outcome, error) {
			w.putRlimit(orig[0], orig[1])
			if _, e := w.sys(sysSetrlimit, rlimitNofile, uintptr(w.scratch+offRlimit)); e != 0 {
				return Outcome{}, fmt.Errorf("restoring RLIMIT_NOFILE: %v", e)
			}
			return Outcome{}, nil
		}}
		cw.enqueue(j)
		if !j.wait(ex.opts.cleanupTimeout()) {
			ex.abort("runner error: restoring RLIMIT_NOFILE timed out")
		} else if j.err != nil {
			ex.abort("runner error: %v", j.err)
		}
	}
	for _, w := range ex.workers {
		if !w.stuck && !w.busy() {
			w.stop()
		} else if !w.stuck {
			w.stuck = true
			stuck = append(stuck, fmt.Sprintf("thread %s (cleanup)", w.name))
		}
	}
	for _, w := range ex.workers {
		if !w.stuck {
			w.waitExit(ex.opts.cleanupTimeout())
		}
	}
	if len(stuck) > 0 {
		for _, s := range stuck {
			ex.abort("%s could not be joined at the end of the script", s)
		}
		return
	}
	if err := ex.m.Close(); err != nil {
		ex.abort("runner error: closing the machine: %v", err)
	}
}

func dedupe(fds []int32) []int32 {
	seen := map[int32]bool{}
	var out []int32
	for _, fd := range fds {
		if !seen[fd] {
			seen[fd] = true
			out = append(out, fd)
		}
	}
	return out
}

func (ex *executor) closeAll(cw *worker, fds []int32) {
	if cw == nil || len(fds) == 0 {
		return
	}
	fds = append([]int32(nil), fds...)
	j := &job{step: -1, done: make(chan struct{}), run: func(w *worker) (Outcome, error) {
		for _, fd := range fds {
			w.sys(sysClose, sx(int64(fd)))
		}
		return Outcome{}, nil
	}}
	cw.enqueue(j)
	if !j.wait(ex.opts.cleanupTimeout()) {
		ex.abort("runner error: closing the script's fds at the end timed out")
	}
}

// job is one call run on one worker.
type job struct {
	step int
	call *Call
	fds  map[string]int32 // resolved fd-or-number arguments, by parameter
	// clock is the timer's clock for timerfd_settime +MS.
	clock uint64
	// run overrides the call (cleanup jobs).
	run func(w *worker) (Outcome, error)

	done      chan struct{}
	out       Outcome
	err       error // runner error (not an errno)
	rawFdinfo []RawFdinfoEntry
}

func (j *job) fd(param string) int32 { return j.fds[param] }

// wait waits up to d for the job to finish.
func (j *job) wait(d time.Duration) bool {
	select {
	case <-j.done:
		return true
	default:
	}
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-j.done:
		return true
	case <-t.C:
		return false
	}
}

// worker is one script thread: a goroutine that runs its calls in order.
type worker struct {
	ex   *executor
	id   ThreadID
	name string

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*job
	running *job
	stopped bool

	joins  []*job // calls not yet joined (named threads)
	stuck  bool
	exited chan struct{}

	// Guest memory of this thread.
	scratch uint64
	events  uint64
	io      uint64
	ioSize  uint64
}

// Offsets of the guest structures in a worker's scratch page.
const (
	scratchSize  = 4096
	offEvent     = 0   // struct epoll_event, 12 bytes
	offSigset    = 16  // 8-byte sigset
	offTimespec  = 32  // struct timespec, 16 bytes
	offItimer    = 64  // struct itimerspec, 32 bytes
	offPollfd    = 96  // struct pollfd, 8 bytes
	offFdPair    = 112 // int[2]
	offRlimit    = 128 // struct rlimit, 16 bytes
	offMemfdName = 160 // "conf\0"
	offEventfd   = 192 // 8-byte eventfd value
)

func (ex *executor) startWorker(name string, id ThreadID) (*worker, error) {
	w := &worker{ex: ex, id: id, name: name, exited: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	started := make(chan error, 1)
	go w.loop(started)
	if err := <-started; err != nil {
		return nil, err
	}
	ex.workers = append(ex.workers, w)
	return w, nil
}

func (w *worker) loop(started chan<- error) {
	defer close(w.exited)
	m := w.ex.m
	if err := m.StartThread(w.id); err != nil {
		started <- err
		return
	}
	var err error
	if w.scratch, err = m.Alloc(scratchSize); err != nil {
		m.StopThread(w.id)
		started <- err
		return
	}
	started <- nil
	for {
		w.mu.Lock()
		for len(w.queue) == 0 && !w.stopped {
			w.cond.Wait()
		}
		if len(w.queue) == 0 {
			w.mu.Unlock()
			break
		}
		j := w.queue[0]
		w.queue = w.queue[1:]
		w.running = j
		w.mu.Unlock()

		j.out, j.err = w.safeRun(j)

		w.mu.Lock()
		w.running = nil
		close(j.done)
		w.mu.Unlock()
	}
	m.StopThread(w.id)
}

func (w *worker) safeRun(j *job) (o Outcome, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	if j.run != nil {
		return j.run(w)
	}
	return w.exec(j)
}

func (w *worker) enqueue(j *job) {
	w.mu.Lock()
	w.queue = append(w.queue, j)
	w.cond.Signal()
	w.mu.Unlock()
}

func (w *worker) dropQueued() {
	w.mu.Lock()
	w.queue = nil
	w.mu.Unlock()
}

func (w *worker) current() *job {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.running
}

func (w *worker) busy() bool { return w.current() != nil }

// interrupt sends SIGUSR1 to the call running now, if any. Holding mu
// keeps the worker from starting its next call meanwhile.
func (w *worker) interrupt() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running == nil {
		return nil
	}
	return w.ex.m.Interrupt(w.id)
}

func (w *worker) stop() {
	w.mu.Lock()
	w.stopped = true
	w.cond.Signal()
	w.mu.Unlock()
}

func (w *worker) waitExit(d time.Duration) {
	select {
	case <-w.exited:
	case <-time.After(d):
	}
}

func (w *worker) sys(nr uintptr, args ...uintptr) (uintptr, syscall.Errno) {
	var a [6]uintptr
	copy(a[:], args)
	return w.ex.m.Syscall(w.id, nr, a)
}

// timed runs one system call and measures it.
func (w *worker) timed(o *Outcome, nr uintptr, args ...uintptr) (uintptr, syscall.Errno) {
	t0 := time.Now()
	r, e := w.sys(nr, args...)
	o.Elapsed = time.Since(t0)
	return r, e
}

func (w *worker) write(addr uint64, b []byte) error { return w.ex.m.WriteMem(addr, b) }

func (w *worker) read(addr uint64, n int) ([]byte, error) {
	b := make([]byte, n)
	return b, w.ex.m.ReadMem(addr, b)
}

func (w *worker) putRlimit(cur, max uint64) error {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b, cur)
	binary.LittleEndian.PutUint64(b[8:], max)
	return w.write(w.scratch+offRlimit, b)
}

func (w *worker) eventsBuffer() (uint64, error) {
	if w.events == 0 {
		a, err := w.ex.m.Alloc(EventsBufferSize)
		if err != nil {
			return 0, fmt.Errorf("allocating the events buffer: %w", err)
		}
		w.events = a
	}
	return w.events, nil
}

func (w *worker) ioBuffer(n uint64) (uint64, error) {
	if n == 0 {
		n = 1
	}
	if w.ioSize < n {
		size := max(n, 1<<16)
		a, err := w.ex.m.Alloc(size)
		if err != nil {
			return 0, fmt.Errorf("allocating a %d-byte buffer: %w", size, err)
		}
		w.io, w.ioSize = a, size
	}
	return w.io, nil
}

// sx sign-extends a 32-bit (or wider) integer argument to a register, the
// way a C caller passes an int.
func sx(v int64) uintptr { return uintptr(v) }

// i32 takes a parsed 32-bit argument (possibly written as 0xffffffff) as a
// sign-extended register value.
func i32(v uint64) uintptr { return uintptr(int64(int32(uint32(v)))) }

func errnoResult(e syscall.Errno) Result {
	return Result{Kind: KindErrno, Errno: ErrnoName(int(e))}
}

// ptrArg returns the guest pointer for a NULL/BADPTR argument.
func (w *worker) ptrArg(a *Arg) uint64 {
	if a.Kind == ArgBadPtr {
		return w.ex.m.BadPtr()
	}
	return 0
}

// exec runs one call on the worker's thread.
func (w *worker) exec(j *job) (Outcome, error) {
	c := j.call
	var o Outcome
	val := func(r uintptr, e syscall.Errno) (Outcome, error) {
		if e != 0 {
			o.Result = errnoResult(e)
		} else {
			o.Result = Result{Kind: KindValue, Value: int64(r)}
		}
		return o, nil
	}
	fd1 := func(r uintptr, e syscall.Errno) (Outcome, error) {
		if e != 0 {
			o.Result = errnoResult(e)
			return o, nil
		}
		o.Result = Result{Kind: KindFDs, Value: 1}
		o.FDs = []int32{int32(r)}
		return o, nil
	}
	fd2 := func(e syscall.Errno) (Outcome, error) {
		if e != 0 {
			o.Result = errnoResult(e)
			return o, nil
		}
		b, err := w.read(w.scratch+offFdPair, 8)
		if err != nil {
			return o, err
		}
		o.Result = Result{Kind: KindFDs, Value: 2}
		o.FDs = []int32{int32(binary.LittleEndian.Uint32(b)), int32(binary.LittleEndian.Uint32(b[4:]))}
		return o, nil
	}
	arg := func(p string) uint64 { return c.Arg(p).Val }
	fd := func(p string) uintptr { return sx(int64(j.fd(p))) }

	switch c.Op {
	case "epoll_create":
		return fd1(w.timed(&o, sysEpollCreate, i32(arg("SIZE"))))
	case "epoll_create1":
		return fd1(w.timed(&o, sysEpollCreate1, i32(arg("FLAGS"))))
	case "pipe2":
		if err := w.write(w.scratch+offFdPair, make([]byte, 8)); err != nil {
			return o, err
		}
		_, e := w.timed(&o, sysPipe2, uintptr(w.scratch+offFdPair), i32(arg("FLAGS")))
		return fd2(e)
	case "eventfd2":
		return fd1(w.timed(&o, sysEventfd2, i32(arg("INIT")), i32(arg("FLAGS"))))
	case "socketpair":
		if err := w.write(w.scratch+offFdPair, make([]byte, 8)); err != nil {
			return o, err
		}
		_, e := w.timed(&o, sysSocketpair, afUnix, i32(arg("TYPE")|arg("FLAGS")), 0, uintptr(w.scratch+offFdPair))
		return fd2(e)
	case "socket":
		return fd1(w.timed(&o, sysSocket, afUnix, i32(arg("TYPE")|arg("FLAGS")), 0))
	case "timerfd_create":
		return fd1(w.timed(&o, sysTimerfdCreate, i32(arg("CLOCK")), i32(arg("FLAGS"))))
	case "open_regular":
		if err := w.write(w.scratch+offMemfdName, []byte("conf\x00")); err != nil {
			return o, err
		}
		return fd1(w.timed(&o, sysMemfdCreate, uintptr(w.scratch+offMemfdName), 0))
	case "dup":
		return fd1(w.timed(&o, sysDup, fd("FD")))
	case "dup2":
		return fd1(w.timed(&o, sysDup2, fd("OLD"), fd("NEW")))
	case "dup3":
		return fd1(w.timed(&o, sysDup3, fd("OLD"), fd("NEW"), i32(arg("FLAGS"))))
	case "close":
		return val(w.timed(&o, sysClose, fd("FD")))
	case "write", "read":
		n := arg("N")
		buf, err := w.ioBuffer(n)
		if err != nil {
			return o, err
		}
		nr := uintptr(sysWrite)
		if c.Op == "read" {
			nr = sysRead
		}
		return val(w.timed(&o, nr, fd("FD"), uintptr(buf), uintptr(n)))
	case "eventfd_write":
		b := make([]byte, 8)
		binary.LittleEndian.PutUint64(b, arg("VALUE"))
		if err := w.write(w.scratch+offEventfd, b); err != nil {
			return o, err
		}
		return val(w.timed(&o, sysWrite, fd("FD"), uintptr(w.scratch+offEventfd), 8))
	case "eventfd_read":
		if err := w.write(w.scratch+offEventfd, make([]byte, 8)); err != nil {
			return o, err
		}
		r, e := w.timed(&o, sysRead, fd("FD"), uintptr(w.scratch+offEventfd), 8)
		if e != 0 {
			o.Result = errnoResult(e)
			return o, nil
		}
		if r > 8 {
			return o, fmt.Errorf("read of 8 bytes returned %d", r)
		}
		b, err := w.read(w.scratch+offEventfd, 8)
		if err != nil {
			return o, err
		}
		var v uint64
		for k := int(r) - 1; k >= 0; k-- {
			v = v<<8 | uint64(b[k])
		}
		o.Result = Result{Kind: KindEventfdRead, Value: int64(r), U64: v}
		return o, nil
	case "timerfd_settime":
		return w.settime(j, &o)
	case "shutdown":
		return val(w.timed(&o, sysShutdown, fd("FD"), i32(arg("HOW"))))
	case "fcntl_setfl":
		return val(w.timed(&o, sysFcntl, fd("FD"), fSetfl, i32(arg("FLAGS"))))
	case "fcntl_getfl", "fcntl_getfd":
		cmd, kind := uintptr(fGetfl), KindGetfl
		if c.Op == "fcntl_getfd" {
			cmd, kind = fGetfd, KindGetfd
		}
		r, e := w.timed(&o, sysFcntl, fd("FD"), cmd)
		if e != 0 {
			o.Result = errnoResult(e)
			return o, nil
		}
		m := uint64(uint32(r))
		if kind == KindGetfl {
			m &= getflShown
		}
		o.Result = Result{Kind: kind, Mask: m}
		return o, nil
	case "setrlimit_nofile":
		return w.setrlimit(arg("N"), &o)
	case "poll":
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(j.fd("FD")))
		binary.LittleEndian.PutUint16(b[4:], uint16(arg("EVENTS")))
		if err := w.write(w.scratch+offPollfd, b); err != nil {
			return o, err
		}
		r, e := w.timed(&o, sysPoll, uintptr(w.scratch+offPollfd), 1, i32(arg("TIMEOUT_MS")))
		if e != 0 {
			o.Result = errnoResult(e)
			return o, nil
		}
		rb, err := w.read(w.scratch+offPollfd, 8)
		if err != nil {
			return o, err
		}
		o.Result = Result{Kind: KindPoll, Value: int64(r), Mask: uint64(binary.LittleEndian.Uint16(rb[6:]))}
		return o, nil
	case "epoll_ctl":
		var ptr uint64
		if ev := c.Arg("EVENTS"); ev != nil {
			b := make([]byte, EventSize)
			binary.LittleEndian.PutUint32(b, uint32(ev.Val))
			binary.LittleEndian.PutUint64(b[4:], arg("DATA"))
			if err := w.write(w.scratch+offEvent, b); err != nil {
				return o, err
			}
			ptr = w.scratch + offEvent
		} else if p := c.Arg("EVENT"); p != nil {
			ptr = w.ptrArg(p)
		}
		return val(w.timed(&o, sysEpollCtl, fd("EPFD"), i32(arg("OP")), fd("FD"), uintptr(ptr)))
	case "epoll_wait", "epoll_pwait", "epoll_pwait2":
		return w.wait(j, &o)
	case "fdinfo":
		t0 := time.Now()
		text, e := w.ex.m.Fdinfo(w.id, j.fd("EPFD"))
		o.Elapsed = time.Since(t0)
		if e != 0 {
			o.Result = errnoResult(e)
			return o, nil
		}
		raw, err := ParseFdinfo(text)
		if err != nil {
			return o, err
		}
		j.rawFdinfo = raw
		o.Result = Result{Kind: KindFdinfo} // named at apply time
		return o, nil
	}
	return o, fmt.Errorf("internal: no executor for %q", c.Op)
}

func (w *worker) settime(j *job, o *Outcome) (Outcome, error) {
	c := j.call
	v := c.Arg("VALUE_MS")
	var sec, nsec int64
	if v.Kind == ArgRelative {
		if _, e := w.sys(sysClockGettime, uintptr(j.clock), uintptr(w.scratch+offTimespec)); e != 0 {
			o.Result = errnoResult(e)
			return *o, nil
		}
		b, err := w.read(w.scratch+offTimespec, 16)
		if err != nil {
			return *o, err
		}
		now := int64(binary.LittleEndian.Uint64(b))*1e9 + int64(binary.LittleEndian.Uint64(b[8:]))
		abs := now + int64(v.Val)*1e6
		sec, nsec = abs/1e9, abs%1e9
	} else {
		sec, nsec = msToTimespec(int64(v.Val))
	}
	isec, insec := msToTimespec(int64(c.Arg("INTERVAL_MS").Val))
	b := make([]byte, 32)
	binary.LittleEndian.PutUint64(b, uint64(isec))
	binary.LittleEndian.PutUint64(b[8:], uint64(insec))
	binary.LittleEndian.PutUint64(b[16:], uint64(sec))
	binary.LittleEndian.PutUint64(b[24:], uint64(nsec))
	if err := w.write(w.scratch+offItimer, b); err != nil {
		return *o, err
	}
	r, e := w.timed(o, sysTimerfdSettm, sx(int64(j.fd("FD"))), i32(c.Arg("FLAGS").Val), uintptr(w.scratch+offItimer), 0)
	if e != 0 {
		o.Result = errnoResult(e)
	} else {
		o.Result = Result{Kind: KindValue, Value: int64(r)}
	}
	return *o, nil
}

// msToTimespec splits milliseconds with Go's truncating division, so a
// negative value gives a negative tv_nsec (EINVAL), as in C.
func msToTimespec(ms int64) (sec, nsec int64) { return ms / 1000, (ms % 1000) * 1e6 }

func (w *worker) setrlimit(n uint64, o *Outcome) (Outcome, error) {
	ex := w.ex
	ex.rlMu.Lock()
	defer ex.rlMu.Unlock()
	if _, e := w.sys(sysGetrlimit, rlimitNofile, uintptr(w.scratch+offRlimit)); e != 0 {
		return *o, fmt.Errorf("getrlimit(RLIMIT_NOFILE): %v", e)
	}
	b, err := w.read(w.scratch+offRlimit, 16)
	if err != nil {
		return *o, err
	}
	cur, hard := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
	if !ex.rlSaved {
		ex.rlSaved, ex.rlOrig = true, [2]uint64{cur, hard}
	}
	if err := w.putRlimit(n, hard); err != nil {
		return *o, err
	}
	r, e := w.timed(o, sysSetrlimit, rlimitNofile, uintptr(w.scratch+offRlimit))
	if e != 0 {
		o.Result = errnoResult(e)
	} else {
		o.Result = Result{Kind: KindValue, Value: int64(r)}
	}
	return *o, nil
}

func (w *worker) wait(j *job, o *Outcome) (Outcome, error) {
	c := j.call
	maxev := int32(uint32(c.Arg("MAXEVENTS").Val))
	var buf uint64
	override := c.Arg("BUFFER")
	if override != nil {
		buf = w.ptrArg(override)
	} else {
		var err error
		if buf, err = w.eventsBuffer(); err != nil {
			return *o, err
		}
	}
	var sigmask uint64
	if s := c.Arg("SIGNALS"); s != nil {
		switch s.Kind {
		case ArgNull:
		case ArgBadPtr:
			sigmask = w.ex.m.BadPtr()
		default:
			b := make([]byte, 8)
			binary.LittleEndian.PutUint64(b, s.Val)
			if err := w.write(w.scratch+offSigset, b); err != nil {
				return *o, err
			}
			sigmask = w.scratch + offSigset
		}
	}
	var r uintptr
	var e syscall.Errno
	epfd := sx(int64(j.fd("EPFD")))
	switch c.Op {
	case "epoll_wait":
		r, e = w.timed(o, sysEpollWait, epfd, uintptr(buf), sx(int64(maxev)), i32(c.Arg("TIMEOUT_MS").Val))
	case "epoll_pwait":
		r, e = w.timed(o, sysEpollPwait, epfd, uintptr(buf), sx(int64(maxev)), i32(c.Arg("TIMEOUT_MS").Val), uintptr(sigmask), sigsetSize)
	case "epoll_pwait2":
		var ts uint64
		if t := c.Arg("TIMEOUT"); t != nil {
			ts = w.ptrArg(t)
		} else {
			b := make([]byte, 16)
			binary.LittleEndian.PutUint64(b, c.Arg("SEC").Val)
			binary.LittleEndian.PutUint64(b[8:], c.Arg("NSEC").Val)
			if err := w.write(w.scratch+offTimespec, b); err != nil {
				return *o, err
			}
			ts = w.scratch + offTimespec
		}
		r, e = w.timed(o, sysEpollPwait2, epfd, uintptr(buf), sx(int64(maxev)), uintptr(ts), uintptr(sigmask), sigsetSize)
	}
	if e != 0 {
		o.Result = errnoResult(e)
		return *o, nil
	}
	n := int64(r)
	if n < 0 || n > 0 && n > int64(maxev) {
		return *o, fmt.Errorf("%s returned %d events for maxevents %d", c.Op, n, maxev)
	}
	o.Result = Result{Kind: KindWait, Value: n}
	if n == 0 {
		return *o, nil
	}
	if override != nil {
		return *o, fmt.Errorf("%s returned %d events into a %s buffer", c.Op, n, override.Text)
	}
	b, err := w.read(buf, int(n)*EventSize)
	if err != nil {
		return *o, err
	}
	for k := 0; k < int(n); k++ {
		ev := b[k*EventSize:]
		o.Result.Events = append(o.Result.Events, Event{
			Mask: binary.LittleEndian.Uint32(ev),
			Data: binary.LittleEndian.Uint64(ev[4:]),
		})
	}
	return *o, nil
}
