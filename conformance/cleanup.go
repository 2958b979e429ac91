package conformance

import (
	"fmt"
	"sort"
	"time"
)

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

	stuck := ex.joinRunning()
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
	ex.killChildren(cw)
	ex.removeFifos(cw)
	ex.restoreRlimit(cw)
	stuck = append(stuck, ex.stopWorkers()...)
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

// joinRunning interrupts and joins every thread with a call still
// running; it marks and describes those that would not end.
func (ex *executor) joinRunning() (stuck []string) {
	deadline := time.Now().Add(ex.opts.cleanupTimeout())
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
	return stuck
}

// restoreRlimit restores RLIMIT_NOFILE, on cw, if a setrlimit_nofile
// step changed it.
func (ex *executor) restoreRlimit(cw *worker) {
	ex.rlMu.Lock()
	saved, orig := ex.rlSaved, ex.rlOrig
	ex.rlMu.Unlock()
	if !saved || cw == nil {
		return
	}
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

// stopWorkers stops every worker that is not stuck and waits for it to
// exit; a worker still busy is marked stuck and described.
func (ex *executor) stopWorkers() (stuck []string) {
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
	return stuck
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
