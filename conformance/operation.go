package conformance

import (
	"strings"

	"github.com/guestpoll/guestpoll/conformance/internal/fuzzcodec"
)

// operation is one script operation: everything the parser, the printer,
// the executor, the fuzz generator and its encoder know about it. Each
// entry lives in the ops_*.go file of its family, beside the functions it
// names; the operations table gathers the families. Adding an operation
// is adding one entry (TestOperationsComplete checks it has every part).
type operation struct {
	// Syntax: parsing and printing.
	name   string
	sigs   [][]param // alternative argument lists
	result resultSpec
	binds  binding
	// check, if not nil, checks what involves several arguments.
	check func(args []Arg) error
	// version is the format version that added the operation (0 for the
	// first ones); a version 3 operation runs only on a Machine that
	// serves it (OperationServer), and needsProcesses ones only on a
	// ProcessMachine.
	version        int
	needsProcesses bool

	// Execution on a Machine.
	exec func(x *execution) (Outcome, error)
	// before, if not nil, runs on the executor's goroutine when the step
	// is reached, before the call is queued: it resolves what is not an
	// fd (a process, a thread, a listener's address) into the job. An
	// error is a script error at that step.
	before func(ex *executor, j *job) error
	// apply, if not nil, applies a completed call's effects on the
	// executor's names, owned fds and timer clocks; the default binds the
	// fds a call returned (executor.bindFDs).
	apply func(ex *executor, c *Call, j *job)

	fuzz fuzzing
}

// binding says what a call's 'NAMES =' binds.
type binding int

const (
	bindsNothing binding = iota // the call returns no fd: no binding allowed
	bindsNames                  // NAMES = binds the fds the call returns
	bindsNew                    // the fd goes to NEW (dup2, dup3): a name there is bound again, no NAMES =
)

// fuzzing is what the differential fuzzer (package fuzzgen) needs of an
// operation: either an opcode with its decoder and encoder, or the reason
// the generator does not make it.
type fuzzing struct {
	// opcode identifies the operation in generator input. Opcodes are
	// dense from 0 and never renumbered, so that stored fuzz inputs keep
	// their meaning; a new operation takes the next one.
	opcode int
	// weight is how many entries the opcode has in the generator's opcode
	// table (how often a random byte picks it).
	weight int
	// decode reads the operation's argument bytes (the opcode byte is
	// read) and emits its steps, shaped so that they never block and
	// bind names only when they cannot fail (see package fuzzgen).
	decode func(d *fuzzcodec.Decoder)
	// encode writes the argument bytes of the closest call decode can
	// make (the opcode byte is written); false drops the call.
	encode func(e *fuzzcodec.Encoder, c *Call) bool
	// notGenerated, when set, says why the generator has no such
	// operation; the other fields are then unset.
	notGenerated string
}

// operations is the table of script operations, family by family.
var operations = concat(createOps, fdOps, epollOps, ioOps, processOps, signalOps, v3FileOps)

func concat(families ...[]*operation) []*operation {
	var all []*operation
	for _, f := range families {
		all = append(all, f...)
	}
	return all
}

// operationsByName indexes operations.
var operationsByName = func() map[string]*operation {
	m := map[string]*operation{}
	for _, o := range operations {
		m[o.name] = o
	}
	return m
}()

func (c *Call) spec() *operation { return operationsByName[c.Op] }

// paramKind is the syntax of one parameter.
type paramKind int

const (
	pFD       paramKind = iota // an fd: bound name or number
	pNewFD                     // dup2/dup3 NEW: bound name (rebound) or number
	pInt                       // 32-bit integer
	pI64                       // 64-bit integer
	pCount                     // byte count 0..MaxIO
	pMask                      // mask of the param's table, or a number
	pTime                      // milliseconds, or +MS
	pSignals                   // SIGNALS mask, number, NULL or BADPTR
	pPtr                       // NULL or BADPTR
	pProcess                   // a process name (SELF where allowed)
	pThread                    // a thread name, or MAIN
	pWord                      // a lower-case word that is not an fd (a FIFO's name)
	pListener                  // the name a listen_socket step bound
)

type param struct {
	name  string
	kind  paramKind
	table *nameTable // pMask
	bits  int        // pMask, pInt: width of the value
}

func fdp(name string) param { return param{name: name, kind: pFD} }
func intp(name string) param {
	return param{name: name, kind: pInt, bits: 32}
}
func i64p(name string) param { return param{name: name, kind: pI64, bits: 64} }
func maskp(name string, t *nameTable, bits int) param {
	return param{name: name, kind: pMask, table: t, bits: bits}
}
func ptrp(name string) param { return param{name: name, kind: pPtr} }
func sigp() param            { return param{name: "SIGNALS", kind: pSignals, bits: 64} }
func newfdp() param          { return param{name: "NEW", kind: pNewFD} }
func countp(name string) param {
	return param{name: name, kind: pCount}
}

// Result specs of the operations.
var (
	valueResult = resultSpec{kind: KindValue}
	oneFD       = resultSpec{kind: KindFDs, nfds: 1}
	twoFDs      = resultSpec{kind: KindFDs, nfds: 2}
)

func (o *operation) usage() string {
	var alts []string
	for _, sig := range o.sigs {
		s := o.name
		for _, p := range sig {
			s += " " + p.name
		}
		alts = append(alts, "'"+s+"'")
	}
	return strings.Join(alts, " or ")
}
