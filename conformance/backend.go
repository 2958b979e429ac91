package conformance

import (
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"
)

// Backend runs scripts and produces traces.
type Backend interface {
	Name() string
	// Run executes a parsed script. It never panics: runner failures end
	// the trace with Abort set.
	Run(sc *Script, opts Options) *Trace
}

// BackendSpec describes a backend built on a Machine.
type BackendSpec struct {
	// Name is what -backends and reports call it ("linux", "model", ...).
	Name string
	// NewMachine makes a fresh machine for one script run.
	NewMachine func() (Machine, error)
	// Isolated runs every script in a fresh child process (a re-exec of
	// the current binary, which must call RunChildIfRequested first thing
	// in main and TestMain). NewMachine is then called in the child.
	Isolated bool
	// Doc is a one-line description.
	Doc string
	// Launch, for an isolated backend, says how to start the child
	// process when it is not the current executable run directly: the
	// program, its argv (argv[0] included) and variables added to the
	// child's environment. Whatever it starts must end up running exe,
	// which becomes the child (a supervisor that runs exe under it, for
	// the boxed backend).
	Launch func(exe string) (path string, argv []string, env []string)
	// StartBlocked, for an isolated backend, is a signal set blocked in
	// the child process from its start, so that the Go runtime's own
	// threads block those signals for good (the linux backend blocks
	// SIGUSR1 and SIGUSR2 there, so that a process-directed signal only
	// reaches the script's threads, which set their own masks).
	StartBlocked uint64
}

var registry struct {
	sync.Mutex
	specs map[string]BackendSpec
}

// Register adds a backend. It is meant to be called from init functions;
// it panics on an empty or duplicate name or a nil NewMachine, which are
// programming errors.
func Register(spec BackendSpec) {
	registry.Lock()
	defer registry.Unlock()
	if spec.Name == "" || spec.NewMachine == nil || strings.ContainsAny(spec.Name, ", \t") {
		panic(fmt.Sprintf("conformance: bad backend registration %q", spec.Name))
	}
	if registry.specs == nil {
		registry.specs = map[string]BackendSpec{}
	}
	if _, dup := registry.specs[spec.Name]; dup {
		panic(fmt.Sprintf("conformance: backend %q registered twice", spec.Name))
	}
	registry.specs[spec.Name] = spec
}

// RegisterBackend registers an in-process backend: each script run calls
// factory for a fresh Machine and runs the shared executor on it in the
// current process. This is how the model backend plugs in:
//
//	func init() {
//		conformance.RegisterBackend("model", func() (conformance.Machine, error) {
//			return newModelMachine() // Machine over the syscall layer
//		})
//	}
//
// and the package is then blank-imported by cmd/epollconf and by the
// conformance tests (see backends_test.go and cmd/epollconf/backends.go).
func RegisterBackend(name string, factory func() (Machine, error)) {
	Register(BackendSpec{Name: name, NewMachine: factory})
}

// Backends returns the registered backend names, "linux" first, the rest
// sorted.
func Backends() []string {
	registry.Lock()
	defer registry.Unlock()
	var names []string
	for n := range registry.specs {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == "linux") != (names[j] == "linux") {
			return names[i] == "linux"
		}
		return names[i] < names[j]
	})
	return names
}

func lookupSpec(name string) (BackendSpec, bool) {
	registry.Lock()
	defer registry.Unlock()
	s, ok := registry.specs[name]
	return s, ok
}

// LookupBackend returns the registered backend with that name.
func LookupBackend(name string) (Backend, error) {
	spec, ok := lookupSpec(name)
	if !ok {
		return nil, fmt.Errorf("unknown backend %q (registered: %s)", name, strings.Join(Backends(), ", "))
	}
	return &machineBackend{spec: spec}, nil
}

type machineBackend struct{ spec BackendSpec }

func (b *machineBackend) Name() string { return b.spec.Name }

func (b *machineBackend) Run(sc *Script, opts Options) *Trace {
	var tr *Trace
	if b.spec.Isolated {
		tr = runIsolated(b.spec.Name, sc, opts)
	} else {
		tr = runInProcess(b.spec, sc, opts, nil)
	}
	tr.Backend, tr.Path = b.spec.Name, sc.Path
	return tr
}

// runInProcess makes a machine and runs the executor on it here.
func runInProcess(spec BackendSpec, sc *Script, opts Options, onStep func(Outcome)) (tr *Trace) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			tr = &Trace{Path: sc.Path, Abort: fmt.Sprintf("runner error: panic: %v\n%s", p, debug.Stack())}
		}
		tr.Backend = spec.Name
		tr.Duration = time.Since(start)
	}()
	m, err := spec.NewMachine()
	if err != nil {
		return &Trace{Path: sc.Path, Abort: fmt.Sprintf("runner error: making the %s machine: %v", spec.Name, err)}
	}
	return Execute(m, sc, opts, onStep)
}

// scriptText returns the text to hand to a child process.
func scriptText(sc *Script) string {
	if sc.Lines != nil {
		return strings.Join(sc.Lines, "\n")
	}
	return FormatScript(sc)
}

// watchdog bounds how long a child process may run a script.
func watchdog(sc *Script, opts Options) time.Duration {
	d := 2*time.Minute + 2*opts.joinTimeout() + 2*opts.cleanupTimeout()
	for _, st := range sc.Steps {
		d += time.Duration(st.Sleep) * time.Millisecond
		if st.Within != nil {
			d += time.Duration(st.Within.Max) * time.Millisecond
		}
	}
	return d
}
