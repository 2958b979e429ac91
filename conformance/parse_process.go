package conformance

import "fmt"

// procPhase is what the parser knows of a process name.
type procPhase int

const (
	procForked     procPhase = iota + 1 // 'fork P' seen, no 'exit P' yet
	procExitedName                      // 'exit P' seen
)

// taskArg parses a process (P, or SELF where allowed) or thread (T, or
// MAIN) argument.
func (p *parser) taskArg(a Arg, pm param, tok string) (Arg, error) {
	a.Kind = ArgWord
	if pm.kind == pThread {
		if tok == "MAIN" || isThreadName(tok) && !keywords[tok] {
			return a, nil
		}
		return a, fmt.Errorf("%s: expected a thread name or MAIN, found %q", pm.name, tok)
	}
	if tok == "SELF" {
		return a, nil
	}
	if !isThreadName(tok) || keywords[tok] {
		return a, fmt.Errorf("%s: expected a process name ([A-Z][A-Z0-9_]*, not a keyword), found %q", pm.name, tok)
	}
	return a, nil
}

// checkProcess performs the static checks of version 3's process rules
// on a checked step; it changes no state.
func (p *parser) checkProcess(st *Step) bool {
	if st.Kind == StepSpawn && p.procs[st.Thread] == procExitedName {
		p.errorf("%s & %s: process %s has exited", st.Thread, st.Call.Op, st.Thread)
		return false
	}
	if st.Call == nil {
		return true
	}
	op := st.Call.Op
	if (op == "fork" || op == "exit") && st.Kind != StepCall {
		p.errorf("%s runs only on the main script, not as '%s & %s'", op, st.Thread, op)
		return false
	}
	a := st.Call.Arg("P")
	if a == nil {
		return true
	}
	name := a.Text
	switch {
	case op == "fork":
		if p.procs[name] != 0 {
			p.errorf("fork %s: %s was forked before (a process name is used once)", name, name)
			return false
		}
		if t := p.threads[name]; t != nil && len(t.pending) > 0 {
			p.errorf("fork %s: %s names a thread with calls not joined", name, name)
			return false
		}
	case name == "SELF" && op != "kill":
		p.errorf("%s: SELF is only for kill", op)
		return false
	case name == "SELF":
	case p.procs[name] == 0:
		p.errorf("%s %s: no 'fork %s' before this step", op, name, name)
		return false
	case op == "exit" && p.procs[name] != procForked:
		p.errorf("exit %s: %s has already exited", name, name)
		return false
	case op == "exit" && p.threads[name] != nil && len(p.threads[name].pending) > 0:
		p.errorf("exit %s: every call queued on %s must be joined first", name, name)
		return false
	}
	return true
}

// commitProcess records a checked step's effect on process names.
func (p *parser) commitProcess(st *Step) {
	if st.Kind != StepCall {
		return
	}
	switch st.Call.Op {
	case "fork":
		p.procs[st.Call.Arg("P").Text] = procForked
	case "exit":
		p.procs[st.Call.Arg("P").Text] = procExitedName
	}
}
