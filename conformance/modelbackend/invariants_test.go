package modelbackend

import (
	"strings"
	"testing"

	"github.com/guestpoll/guestpoll/conformance"
	"github.com/guestpoll/guestpoll/kernel/fs"
)

// TestCheckInvariants runs a script that leaves registrations, a dup and a
// nested epoll in place and checks the machine after every step; after the
// last one it takes an extra reference on a file, as a leak would, and
// checks that it is reported.
func TestCheckInvariants(t *testing.T) {
	sc, err := conformance.Parse("inv.script", `
r, w = pipe2 NONBLOCK
ep = epoll_create1 0
outer = epoll_create1 0
d = dup r
epoll_ctl ep ADD r IN 0x1
epoll_ctl ep ADD d IN|ET 0x2
epoll_ctl outer ADD ep IN 0x3
write w 1
close r
`)
	if err != nil {
		t.Fatal(err)
	}
	m := New()
	tr := conformance.Execute(m, sc, conformance.Options{}, func(o conformance.Outcome) {
		if err := m.CheckInvariants(); err != nil {
			t.Errorf("after step %d: %v", o.Step, err)
		}
		if o.Step != len(sc.Steps)-1 {
			return
		}
		var leaked int32 = -1
		m.fds.ForEach(func(fd int32, _ *fs.File, _ bool) {
			if leaked < 0 {
				leaked = fd
			}
		})
		f, _, err := m.fds.Get(leaked)
		if err != nil {
			t.Fatal(err)
		}
		err = m.CheckInvariants()
		f.DecRef()
		if err == nil || !strings.Contains(err.Error(), "references") {
			t.Errorf("an extra reference was not reported: %v", err)
		}
	})
	if tr.Failed() {
		t.Fatal(tr.Abort)
	}
	if n := m.OpenFDs(); n != 0 {
		t.Errorf("%d fds open after the run", n)
	}
}
