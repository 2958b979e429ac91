package boxfuzz

import (
	"fmt"
	"strings"

	"github.com/guestpoll/guestpoll/conformance"
	"github.com/guestpoll/guestpoll/conformance/fuzzgen"
)

// blockingTimeoutMS is the timeout Prepare gives a wait that finds events
// queued: Linux harvests before it sleeps, so the wait returns at once
// natively; under the box a lost event shows as a 3 s wait that returns 0.
const blockingTimeoutMS = 3000

// waiterThread names the helper thread of a handoff.
const waiterThread = "STORM_WAITER"

// Prepare turns a generated script into the one both sides run:
//
//   - every fdinfo step is dropped (fdinfo of an epoll fd shows the box's
//     placeholder, a divergence by construction; fdinfo only reads, so
//     dropping it changes no other step);
//   - with c.Blocking, every main-thread epoll_wait, epoll_pwait or
//     epoll_pwait2 with a zero timeout (or, for epoll_pwait2, one of under
//     a second: the generator's 1 ns) and no signal mask (an empty mask
//     is none) that returns events on the model gets a 3 s timeout. Linux
//     (ep_poll) harvests before it sleeps, so natively the result is the
//     same; under the box the call takes the blocking path. A wait with a
//     signal mask is never made blocking: the box cannot install the mask
//     (docs/epollbox.md), a divergence by construction;
//   - with a handoff, one such epoll_wait whose previous step is a
//     main-thread call other than a wait or poll (or with HandoffAll every
//     one) moves to a helper thread started just before that step, with a
//     20 ms sleep between (as the corpus's thread scripts do, so that it
//     is blocked even on a loaded machine), and is joined where it was: the helper is
//     blocked in the wait when the step makes the events. A handoff is
//     kept only if the new script parses (the wait may name what that
//     step binds) and the model gives every step of it the result it gave
//     the old one.
//
// The model's results decide the rewrites; where the model is wrong about
// Linux, the native run (which the boxed one is compared with) still says
// what is right, only slower.
func Prepare(c Config, sc *conformance.Script) (*conformance.Script, error) {
	var steps []*conformance.Step
	for _, st := range sc.Steps {
		if st.Call == nil || st.Call.Op != "fdinfo" {
			steps = append(steps, st)
		}
	}
	lines := make([]string, len(steps))
	for i, st := range steps {
		lines[i] = st.Text()
	}
	if !c.Blocking {
		return parseLines(lines)
	}
	base, err := parseLines(lines)
	if err != nil {
		return nil, err
	}
	model := modelResults(base)
	var candidates []int
	for i, st := range steps {
		if st.Kind != conformance.StepCall || !returnsEvents(model[i]) {
			continue
		}
		if text, ok := blockingCall(st.Call); ok {
			lines[i] = text
			if st.Call.Op == "epoll_wait" && i > 0 && handoffBefore(steps[i-1]) {
				candidates = append(candidates, i)
			}
		}
	}
	blocking, err := parseLines(lines)
	if err != nil || len(candidates) == 0 {
		return blocking, err
	}
	var tries [][]int
	if c.HandoffAll {
		tries = append(tries, candidates)
	}
	if c.Handoff >= 0 {
		tries = append(tries, []int{candidates[c.Handoff%len(candidates)]})
	}
	for _, chosen := range tries {
		text, orig := handoffLines(lines, chosen)
		hs, err := parseLines(text)
		if err != nil {
			// The wait names what the step before it binds (its
			// epoll fd, a dup made just then): it cannot be started
			// before that step.
			continue
		}
		if sameResults(model, modelResults(hs), orig) {
			return hs, nil
		}
	}
	return blocking, nil
}

// handoffLines makes the handoff of each wait in chosen (ascending step
// indexes, none the step before another): the wait runs on the helper
// thread, started with a 20 ms sleep before the step that precedes it, and
// is joined after that step. orig maps each new line to the original step
// whose result it must give (the join: the wait's), or -1.
func handoffLines(lines []string, chosen []int) (out []string, orig []int) {
	next := 0
	for i := 0; i < len(lines); i++ {
		if next < len(chosen) && i == chosen[next]-1 {
			j := chosen[next]
			out = append(out, waiterThread+" & "+lines[j], "sleep 20", lines[j-1], "join "+waiterThread)
			orig = append(orig, -1, -1, j-1, j)
			i, next = j, next+1
			continue
		}
		out = append(out, lines[i])
		orig = append(orig, i)
	}
	return out, orig
}

func parseLines(lines []string) (*conformance.Script, error) {
	sc, err := conformance.Parse("generated.script", strings.Join(lines, "\n")+"\n")
	if err != nil {
		return nil, fmt.Errorf("boxfuzz: a prepared script does not parse: %w", err)
	}
	return sc, nil
}

// modelResults runs sc on the model and returns each step's result as
// text ("" for a step the run did not reach).
func modelResults(sc *conformance.Script) []string {
	tr, _ := fuzzgen.RunModel(sc, nil)
	out := make([]string, len(sc.Steps))
	for _, o := range tr.Steps {
		if o.Step >= 0 && o.Step < len(out) {
			out[o.Step] = o.Result.String()
		}
	}
	return out
}

// returnsEvents reports whether a wait's result text has a count above 0.
func returnsEvents(result string) bool {
	n, _, _ := strings.Cut(result, " ")
	return n != "" && n[0] >= '1' && n[0] <= '9'
}

// blockingCall returns the call's text with a 3 s timeout instead of a
// zero one, if it is a wait without a signal mask.
func blockingCall(c *conformance.Call) (string, bool) {
	if sig := c.Arg("SIGNALS"); sig != nil && !(sig.Kind == conformance.ArgNull || (sig.Kind == conformance.ArgMask || sig.Kind == conformance.ArgNumber) && sig.Val == 0) {
		return "", false
	}
	var param, text string
	switch c.Op {
	case "epoll_wait", "epoll_pwait":
		param, text = "TIMEOUT_MS", fmt.Sprint(blockingTimeoutMS)
	case "epoll_pwait2":
		// A zero timeout, or one of a few nanoseconds (which Linux
		// treats as one that may sleep: stormMachine.mayRetry), made 3 s.
		nsec := c.Arg("NSEC")
		if nsec == nil || nsec.Kind != conformance.ArgNumber || nsec.Val >= 1e9 {
			return "", false
		}
		param, text = "SEC", fmt.Sprint(blockingTimeoutMS/1000)
	default:
		return "", false
	}
	a := c.Arg(param)
	if a == nil || a.Kind != conformance.ArgNumber || a.Val != 0 {
		return "", false
	}
	nc := *c
	nc.Args = append([]conformance.Arg{}, c.Args...)
	nc.Arg(param).Text = text
	if n := nc.Arg("NSEC"); n != nil {
		n.Text = "0"
	}
	return nc.String(), true
}

// handoffBefore reports whether a handoff may put a blocked helper in
// front of step st: a main-thread call that is not itself a wait or poll
// (which would race the helper for the same events).
func handoffBefore(st *conformance.Step) bool {
	if st.Kind != conformance.StepCall {
		return false
	}
	switch st.Call.Op {
	case "epoll_wait", "epoll_pwait", "epoll_pwait2", "poll":
		return false
	}
	return true
}

// sameResults compares the model's results of a script (want, by step)
// with those of its handoff (got, by new step; orig maps a new step to
// the original one it stands for, see handoffLines).
func sameResults(want, got []string, orig []int) bool {
	if len(got) != len(orig) {
		return false
	}
	for k, o := range orig {
		if o >= 0 && (want[o] == "" || got[k] != want[o]) {
			return false
		}
	}
	return true
}
