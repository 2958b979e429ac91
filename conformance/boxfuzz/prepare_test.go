package boxfuzz

import (
	"strings"
	"testing"

	"github.com/guestpoll/guestpoll/conformance"
)

func mustParse(t *testing.T, text string) *conformance.Script {
	t.Helper()
	sc, err := conformance.Parse("t.script", text)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

const prepareInput = `ep = epoll_create1 0
r, w = pipe2 NONBLOCK
epoll_ctl ep ADD r IN|ET 0x1
fdinfo ep
epoll_wait ep 8 0
write w 1
epoll_wait ep 8 0
epoll_pwait ep 8 0 USR1
write w 1
epoll_pwait ep 8 0 0
write w 1
epoll_pwait2 ep 8 0 0 NULL
`

// TestPrepare checks each rewrite: fdinfo dropped; a wait that finds
// events gets a 3 s timeout unless it has a signal mask (an empty mask is
// none); a wait that finds none keeps its zero timeout.
func TestPrepare(t *testing.T) {
	got, err := Prepare(Config{Blocking: true, Handoff: -1}, mustParse(t, prepareInput))
	if err != nil {
		t.Fatal(err)
	}
	want := `ep = epoll_create1 0
r, w = pipe2 NONBLOCK
epoll_ctl ep ADD r IN|ET 0x1
epoll_wait ep 8 0
write w 1
epoll_wait ep 8 3000
epoll_pwait ep 8 0 USR1
write w 1
epoll_pwait ep 8 3000 0
write w 1
epoll_pwait2 ep 8 3 0 NULL
`
	if s := conformance.FormatScript(got); s != want {
		t.Errorf("got\n%s\nwant\n%s", s, want)
	}
	plain, err := Prepare(Config{Handoff: -1}, mustParse(t, prepareInput))
	if err != nil {
		t.Fatal(err)
	}
	if s := conformance.FormatScript(plain); strings.Contains(s, "fdinfo") || strings.Contains(s, "3000") {
		t.Errorf("without Blocking, only fdinfo goes:\n%s", s)
	}
}

// TestPrepareNanosecondPwait2: an epoll_pwait2 with a timeout of 1 ns may
// sleep on Linux (so a storm may interrupt it, and stormMachine retries
// that): one that finds events gets the 3 s timeout, which Linux never
// interrupts, so that the box's answer to it under a storm is checked; one
// that finds none keeps its timeout, and an invalid one is left alone.
func TestPrepareNanosecondPwait2(t *testing.T) {
	in := `ep = epoll_create1 0
r, w = pipe2 NONBLOCK
epoll_ctl ep ADD r IN 0x1
epoll_pwait2 ep 8 0 1 NULL
write w 1
epoll_pwait2 ep 8 0 1 NULL
epoll_pwait2 ep 8 0 1000000000 NULL
`
	got, err := Prepare(Config{Blocking: true, Handoff: -1}, mustParse(t, in))
	if err != nil {
		t.Fatal(err)
	}
	want := `ep = epoll_create1 0
r, w = pipe2 NONBLOCK
epoll_ctl ep ADD r IN 0x1
epoll_pwait2 ep 8 0 1 NULL
write w 1
epoll_pwait2 ep 8 3 0 NULL
epoll_pwait2 ep 8 0 1000000000 NULL
`
	if s := conformance.FormatScript(got); s != want {
		t.Errorf("got\n%s\nwant\n%s", s, want)
	}
}

// TestPrepareHandoff moves the wait after a write to a helper thread
// blocked before the write, and keeps no handoff the model's results
// reject.
func TestPrepareHandoff(t *testing.T) {
	got, err := Prepare(Config{Blocking: true, Handoff: 0}, mustParse(t, prepareInput))
	if err != nil {
		t.Fatal(err)
	}
	want := `ep = epoll_create1 0
r, w = pipe2 NONBLOCK
epoll_ctl ep ADD r IN|ET 0x1
epoll_wait ep 8 0
STORM_WAITER & epoll_wait ep 8 3000
sleep 20
write w 1
join STORM_WAITER
epoll_pwait ep 8 0 USR1
write w 1
epoll_pwait ep 8 3000 0
write w 1
epoll_pwait2 ep 8 3 0 NULL
`
	if s := conformance.FormatScript(got); s != want {
		t.Errorf("got\n%s\nwant\n%s", s, want)
	}
	// One pipe already ready before the write to the other: the helper
	// would return before the write with one event instead of two, so the
	// model's results differ and no handoff is made.
	lt := mustParse(t, `ep = epoll_create1 0
r, w = pipe2 NONBLOCK
r2, w2 = pipe2 NONBLOCK
epoll_ctl ep ADD r IN 0x1
epoll_ctl ep ADD r2 IN 0x2
write w 1
write w2 1
epoll_wait ep 8 0
`)
	got, err = Prepare(Config{Blocking: true, Handoff: 0}, lt)
	if err != nil {
		t.Fatal(err)
	}
	if s := conformance.FormatScript(got); strings.Contains(s, waiterThread) || !strings.Contains(s, "epoll_wait ep 8 3000") {
		t.Errorf("got\n%s", s)
	}
}

// TestPrepareHandoffAll hands off every candidate wait at once, and falls
// back to the selected one when the model's results reject all of them.
func TestPrepareHandoffAll(t *testing.T) {
	two := `ep = epoll_create1 0
r, w = pipe2 NONBLOCK
epoll_ctl ep ADD r IN|ET 0x1
write w 1
epoll_wait ep 8 0
write w 1
epoll_wait ep 8 0
`
	got, err := Prepare(Config{Blocking: true, Handoff: -1, HandoffAll: true}, mustParse(t, two))
	if err != nil {
		t.Fatal(err)
	}
	want := `ep = epoll_create1 0
r, w = pipe2 NONBLOCK
epoll_ctl ep ADD r IN|ET 0x1
STORM_WAITER & epoll_wait ep 8 3000
sleep 20
write w 1
join STORM_WAITER
STORM_WAITER & epoll_wait ep 8 3000
sleep 20
write w 1
join STORM_WAITER
`
	if s := conformance.FormatScript(got); s != want {
		t.Errorf("got\n%s\nwant\n%s", s, want)
	}
	// The second write also readies r2, already ready before it: a helper
	// blocked before that write returns at once with r2 alone, so only
	// the first handoff (selected by Handoff 0) is kept.
	mixed := `ep = epoll_create1 0
r, w = pipe2 NONBLOCK
r2, w2 = pipe2 NONBLOCK
epoll_ctl ep ADD r IN|ET 0x1
epoll_ctl ep ADD r2 IN 0x2
write w 1
epoll_wait ep 8 0
write w2 1
write w 1
epoll_wait ep 8 0
`
	got, err = Prepare(Config{Blocking: true, Handoff: 0, HandoffAll: true}, mustParse(t, mixed))
	if err != nil {
		t.Fatal(err)
	}
	if s := conformance.FormatScript(got); strings.Count(s, "join "+waiterThread) != 1 || !strings.Contains(s, "join STORM_WAITER\nwrite w2 1") {
		t.Errorf("want only the first wait handed off, got\n%s", s)
	}
}
