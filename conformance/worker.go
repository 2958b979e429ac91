package conformance

import (
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// job is one call run on one worker.
type job struct {
	step int
	call *Call
	proc ProcessID        // the process that runs the call
	fds  map[string]int32 // resolved fd-or-number arguments, by parameter
	// v3 is what a version 3 step resolved at its step (operation.before).
	v3 v3Args
	// clock is the clock of the timerfd the FD argument holds
	// (CLOCK_MONOTONIC when the script did not create it as a timer), to
	// which timerfd_settime's +MS is relative.
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
	proc ProcessID // the process the thread belongs to
	mem  Memory    // that process's guest memory

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

func (ex *executor) startWorker(name string, id ThreadID) (*worker, error) {
	return ex.startWorkerIn(name, id, MainProcess)
}

// startWorkerIn starts thread id of process p.
func (ex *executor) startWorkerIn(name string, id ThreadID, p ProcessID) (*worker, error) {
	w := &worker{ex: ex, id: id, name: name, proc: p, mem: ex.memory(p), exited: make(chan struct{})}
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
	if w.scratch, err = w.mem.Alloc(scratchSize); err != nil {
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
	j.proc = w.proc
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
