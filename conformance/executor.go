package conformance

import (
	"fmt"
	"sync"
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

		nextProc:    MainProcess + 1,
		procs:       map[string]*process{},
		listenAddrs: map[string][]byte{},
		fifos:       map[string]bool{},
		nonce:       runNonce(),
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

	// Version 3: forked processes (by name, and in fork order), the
	// listeners' addresses by name, the run's FIFO paths, and the nonce
	// that makes addresses and paths private to the run.
	nextProc    ProcessID
	procs       map[string]*process
	procList    []*process
	listenAddrs map[string][]byte
	nListeners  int
	fifos       map[string]bool
	nonce       string

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
	cp, _ := ex.m.(Checkpointer)
	for i, st := range ex.sc.Steps {
		if cp != nil && i > 0 && ex.idle() {
			if err := cp.Checkpoint(); err != nil {
				ex.abort("runner error: checkpoint before line %d: %v", st.Line, err)
				return
			}
		}
		if st.Call != nil && !ex.serves(st.Call.spec()) {
			ex.unsupported(st)
			return
		}
		var ok bool
		switch st.Kind {
		case StepCall:
			ok = ex.call(i, st)
		case StepSpawn:
			ok = ex.spawn(i, st)
		case StepJoin:
			ok = ex.join(i, st)
		case StepSleep:
			time.Sleep(time.Duration(st.Sleep) * time.Millisecond)
			ex.record(Outcome{Step: i, Result: Result{Kind: KindNone}})
			ok = true
		case StepInterrupt:
			ok = ex.interrupt(i, st)
		}
		if !ok {
			return
		}
	}
}

// call runs step i, a call on the main thread; false aborts the run.
func (ex *executor) call(i int, st *Step) bool {
	if n := ex.stillOpen(st.Call.Names); n != "" {
		ex.scriptError(st.Line, "name %q is still open: a binding needs a new or closed name", n)
		return false
	}
	j, ok := ex.prepare(i, st)
	if !ok {
		return false
	}
	ex.main.enqueue(j)
	to := ex.opts.joinTimeout()
	if !j.wait(to) {
		ex.timedOut = append(ex.timedOut, j)
		ex.record(Outcome{Step: i, Result: Result{Kind: KindTimeout}, Elapsed: to})
		ex.abort("main thread: call at line %d (%s) still running after %v", st.Line, st.Call.Op, to)
		return false
	}
	return ex.finish(i, st, j) && ex.tr.Abort == ""
}

// spawn queues step i's call on its thread, starting the thread if it
// has no call left to join.
func (ex *executor) spawn(i int, st *Step) bool {
	w := ex.workerFor(st.Thread)
	if w == nil {
		var err error
		if w, err = ex.startWorker(st.Thread, ex.nextID); err != nil {
			ex.abort("runner error: starting thread %s: %v", st.Thread, err)
			return false
		}
		ex.nextID++
		ex.threads[st.Thread] = w
	}
	j, ok := ex.prepare(i, st)
	if !ok {
		return false
	}
	w.joins = append(w.joins, j)
	w.enqueue(j)
	ex.record(Outcome{Step: i, Result: Result{Kind: KindNone}})
	return true
}

// join waits for the oldest unjoined call of step i's thread and applies
// it; the thread stops when it has nothing left to join.
func (ex *executor) join(i int, st *Step) bool {
	w := ex.workerFor(st.Thread)
	if w == nil || len(w.joins) == 0 {
		// The parser resolves joins; this cannot happen for a parsed script.
		ex.scriptError(st.Line, "join %s: nothing to join", st.Thread)
		return false
	}
	j := w.joins[0]
	w.joins = w.joins[1:]
	call := ex.sc.Steps[j.step]
	to := ex.opts.joinTimeout()
	if !j.wait(to) {
		ex.timedOut = append(ex.timedOut, j)
		ex.record(Outcome{Step: i, Result: Result{Kind: KindTimeout}, Elapsed: to})
		ex.abort("thread %s: call at line %d (%s) still running %v after the join at line %d",
			st.Thread, call.Line, call.Call.Op, to, st.Line)
		return false
	}
	if len(w.joins) == 0 && w.proc == MainProcess {
		delete(ex.threads, st.Thread)
		w.stop()
	}
	if n := ex.stillOpen(call.Call.Names); n != "" {
		ex.scriptError(st.Line, "join %s binds name %q, which is still open", st.Thread, n)
		ex.closeLate(j)
		return false
	}
	return ex.finish(i, call, j)
}

// interrupt interrupts the call step i's thread is running, if any.
func (ex *executor) interrupt(i int, st *Step) bool {
	if w := ex.workerFor(st.Thread); w != nil {
		if err := w.interrupt(); err != nil {
			ex.abort("runner error: interrupt %s at line %d: %v", st.Thread, st.Line, err)
			return false
		}
	}
	ex.record(Outcome{Step: i, Result: Result{Kind: KindNone}})
	return true
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

// apply updates names, owned fds and timer clocks after a call completed:
// the operation's own apply, by default bindFDs. It runs on the executor
// goroutine: for a thread's call, at its join.
func (ex *executor) apply(c *Call, j *job) {
	if o := c.spec(); o.apply != nil {
		o.apply(ex, c, j)
		return
	}
	ex.bindFDs(c, j, timerClock{})
}

// timerClock is the clock of a timerfd the script created, if known.
type timerClock struct {
	clock uint64
	known bool
}

func (ex *executor) clockOf(fd int32) timerClock {
	c, ok := ex.clocks[fd]
	return timerClock{c, ok}
}

// bindFDs applies a call that returned fds: it owns them, binds its NAMES
// (or the name in NEW) to them, and records the first one's timer clock.
func (ex *executor) bindFDs(c *Call, j *job, clock timerClock) {
	if j.out.Result.Kind != KindFDs {
		return
	}
	for k, fd := range j.out.FDs {
		ex.fdn.handOut(fd)
		if j.proc == MainProcess {
			ex.owned[fd] = true
			delete(ex.clocks, fd)
		}
		if k < len(c.Names) {
			ex.fdn.bind(c.Names[k], fd)
		}
	}
	if a := c.Arg("NEW"); a != nil && a.Kind == ArgName {
		ex.fdn.bind(a.Text, j.out.FDs[0])
	}
	if clock.known {
		ex.clocks[j.out.FDs[0]] = clock.clock
	}
}

// closeLate closes fds returned by a call whose result will not be applied.
func (ex *executor) closeLate(j *job) {
	if j.err == nil && j.out.Result.Kind == KindFDs && j.proc == MainProcess {
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
	if o := st.Call.spec(); o != nil && o.before != nil {
		if err := o.before(ex, j); err != nil {
			ex.scriptError(st.Line, "%v", err)
			return nil, false
		}
	}
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
	if _, ok := j.fds["FD"]; ok {
		j.clock = 1 // CLOCK_MONOTONIC for fds not created as timers by the script
		if c, ok := ex.clocks[j.fd("FD")]; ok {
			j.clock = c
		}
	}
	return j, true
}
