package conformance

import (
	"encoding/binary"
	"fmt"
)

// v3Args is what a version 3 step resolved at its step, on the
// executor's goroutine (operation.before), beyond its fd arguments.
type v3Args struct {
	proc        *process // fork, exit, waitpid, pidfd_open, kill (nil: SELF)
	childThread ThreadID // fork: the child's main thread
	forkPid     int32    // fork: the child's pid, set by the call
	thread      ThreadID // tkill: the target thread
	addr        []byte   // listen_socket, connect: the struct sockaddr_un
	fifoDir     string   // fifo_open: the run's FIFO directory
	fifo        string   // fifo_open: the FIFO's path
}

// Offsets of version 3's guest structures in a worker's scratch page.
const (
	offStatus   = 224 // int wstatus of wait4
	offSockaddr = 256 // struct sockaddr_un, up to 110 bytes
	offPath     = 384 // a NUL-terminated path, up to 512 bytes
)

// processOps are version 3's process operations.
var processOps = []*operation{
	{
		name: "fork", sigs: [][]param{{procp("P")}}, result: resultSpec{kind: KindNone},
		version: 3, needsProcesses: true,
		before: func(ex *executor, j *job) error {
			p := &process{id: ex.nextProc, name: j.call.Arg("P").Text}
			ex.nextProc++
			ex.procs[p.name] = p
			ex.procList = append(ex.procList, p)
			j.v3.proc, j.v3.childThread = p, ex.nextID
			ex.nextID++
			return nil
		},
		exec: func(x *execution) (Outcome, error) {
			pm := x.w.ex.m.(ProcessMachine)
			pid, err := pm.Fork(x.w.proc, x.w.id, x.j.v3.proc.id, x.j.v3.childThread)
			if err != nil {
				return x.o, fmt.Errorf("fork: %w", err)
			}
			x.j.v3.forkPid = pid
			x.o.Result = Result{Kind: KindNone}
			return x.o, nil
		},
		fuzz: fuzzing{opcode: 27, weight: 3, encode: encodeFork /* decode: decodeFork, set in fuzzops.go */},
	},
	{
		name: "exit", sigs: [][]param{{procp("P")}}, result: resultSpec{kind: KindNone},
		version: 3, needsProcesses: true,
		before: resolveProcess,
		exec: func(x *execution) (Outcome, error) {
			p := x.j.v3.proc
			stopProcessThread(p, x.w.ex.opts.cleanupTimeout())
			if err := x.w.ex.m.(ProcessMachine).Exit(p.id); err != nil {
				return x.o, fmt.Errorf("exit %s: %w", p.name, err)
			}
			x.o.Result = Result{Kind: KindNone}
			return x.o, nil
		},
		apply: func(ex *executor, c *Call, j *job) { j.v3.proc.state = procExited },
		fuzz:  fuzzing{opcode: 28, weight: 1, decode: decodeExit, encode: encodeExit},
	},
	{
		name: "waitpid", sigs: [][]param{{procp("P")}}, result: valueResult,
		version: 3, needsProcesses: true,
		before: resolveProcess,
		exec: func(x *execution) (Outcome, error) {
			st := x.w.scratch + offStatus
			if err := x.w.write(st, make([]byte, 4)); err != nil {
				return x.o, err
			}
			_, e := x.sys(sysWait4, sx(int64(x.j.v3.proc.pid)), uintptr(st), 0, 0)
			if e != 0 {
				return x.errno(e)
			}
			b, err := x.w.read(st, 4)
			if err != nil {
				return x.o, err
			}
			x.o.Result = Result{Kind: KindValue, Value: waitStatus(binary.LittleEndian.Uint32(b))}
			return x.o, nil
		},
		apply: func(ex *executor, c *Call, j *job) {
			if j.out.Result.Kind == KindValue {
				j.v3.proc.state = procReaped
			}
		},
		fuzz: fuzzing{opcode: 29, weight: 1, decode: decodeWaitpid, encode: encodeWaitpid},
	},
	{
		name: "pidfd_open", sigs: [][]param{{procp("P"), maskp("FLAGS", pidfdFlags, 32)}}, result: oneFD, binds: bindsNames,
		version: 3, needsProcesses: true,
		before: resolveProcess,
		exec: func(x *execution) (Outcome, error) {
			return x.newFD(x.sys(sysPidfdOpen, sx(int64(x.j.v3.proc.pid)), i32(x.arg("FLAGS"))))
		},
		fuzz: fuzzing{opcode: 30, weight: 1, decode: decodePidfdOpen, encode: encodePidfdOpen},
	},
	{
		name: "kill", sigs: [][]param{{procp("P"), maskp("SIGNAL", signalNames, 32)}}, result: valueResult,
		version: 3,
		before: func(ex *executor, j *job) error {
			if j.call.Arg("P").Text == "SELF" {
				return nil
			}
			return resolveProcess(ex, j)
		},
		exec: func(x *execution) (Outcome, error) {
			var pid uintptr
			if p := x.j.v3.proc; p != nil {
				pid = sx(int64(p.pid))
			} else {
				pid, _ = x.w.sys(sysGetpid)
			}
			return x.value(x.sys(sysKill, pid, i32(x.arg("SIGNAL"))))
		},
		fuzz: fuzzing{opcode: 31, weight: 1, decode: decodeKill, encode: encodeKill},
	},
	{
		name: "tkill", sigs: [][]param{{threadp("T"), maskp("SIGNAL", signalNames, 32)}}, result: valueResult,
		version: 3, needsProcesses: true,
		before: func(ex *executor, j *job) error {
			t := j.call.Arg("T").Text
			if t == "MAIN" {
				j.v3.thread = MainThread
				return nil
			}
			w := ex.workerFor(t)
			if w == nil || w.proc != MainProcess {
				return fmt.Errorf("tkill %s: %s is not a running thread of the script's process (start it with '%s & CALL' and do not join all its calls first)", t, t, t)
			}
			j.v3.thread = w.id
			return nil
		},
		exec: func(x *execution) (Outcome, error) {
			pm := x.w.ex.m.(ProcessMachine)
			tid, err := pm.Tid(x.j.v3.thread)
			if err != nil {
				return x.o, err
			}
			return x.value(x.sys(sysTgkill, sx(int64(pm.Pid(MainProcess))), sx(int64(tid)), i32(x.arg("SIGNAL"))))
		},
		fuzz: fuzzing{opcode: 32, weight: 1, decode: decodeTkill, encode: encodeTkill},
	},
}

// applyFork starts the thread of a forked process. It is set in init:
// starting a worker refers back to the operations table.
func applyFork(ex *executor, c *Call, j *job) {
	p := j.v3.proc
	p.pid = j.v3.forkPid
	w, err := ex.startWorkerIn(p.name, j.v3.childThread, p.id)
	if err != nil {
		ex.abort("runner error: starting the thread of process %s: %v", p.name, err)
		return
	}
	p.w = w
}

func init() { operationsByName["fork"].apply = applyFork }

// resolveProcess resolves the P argument of a step to its process.
func resolveProcess(ex *executor, j *job) error {
	name := j.call.Arg("P").Text
	p := ex.procs[name]
	if p == nil {
		return fmt.Errorf("%s: no process %s was forked", j.call.Op, name)
	}
	j.v3.proc = p
	return nil
}

// waitStatus is waitpid's result: the exit status of a process that
// exited, or minus the number of the signal that killed it.
func waitStatus(st uint32) int64 {
	if st&0x7f == 0 {
		return int64(st>>8) & 0xff
	}
	return -int64(st & 0x7f)
}

func procp(name string) param   { return param{name: name, kind: pProcess} }
func threadp(name string) param { return param{name: name, kind: pThread} }
