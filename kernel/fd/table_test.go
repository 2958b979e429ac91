package fd_test

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

func TestLowestFreeAndClose(t *testing.T) {
	tb := fd.NewTable()
	var fds []int32
	for i := 0; i < 4; i++ {
		f, _ := kerneltest.NewFakeFile(0)
		n, err := tb.Install(f, 0, false)
		if err != nil || n != int32(i) {
			t.Fatalf("install %d: got %d, %v", i, n, err)
		}
		fds = append(fds, n)
	}
	if err := tb.Close(1); err != nil {
		t.Fatal(err)
	}
	if err := tb.Close(1); !errors.Is(err, unix.EBADF) {
		t.Fatalf("double close: %v", err)
	}
	f, _ := kerneltest.NewFakeFile(0)
	if n, _ := tb.Install(f, 0, false); n != 1 {
		t.Fatalf("lowest free not reused: %d", n)
	}
	if n, _ := tb.DupFrom(0, 10, true); n != 10 {
		t.Fatalf("F_DUPFD 10 gave %d", n)
	}
	if c, _ := tb.CloseOnExec(10); !c {
		t.Fatal("cloexec not set")
	}
	if n, _ := tb.Dup(0, false); n != 4 {
		t.Fatalf("dup gave %d", n)
	}
}

func TestLimitEMFILE(t *testing.T) {
	tb := fd.NewTable()
	if err := tb.SetLimit(2, 10); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		f, _ := kerneltest.NewFakeFile(0)
		if _, err := tb.Install(f, 0, false); err != nil {
			t.Fatal(err)
		}
	}
	f, ff := kerneltest.NewFakeFile(0)
	if _, err := tb.Install(f, 0, false); !errors.Is(err, unix.EMFILE) {
		t.Fatalf("got %v, want EMFILE", err)
	}
	if ff.Released() {
		t.Fatal("failed install consumed the caller's reference")
	}
	if _, err := tb.Reserve(); !errors.Is(err, unix.EMFILE) {
		t.Fatalf("reserve at the limit: got %v, want EMFILE", err)
	}
	if _, err := tb.Dup(0, false); !errors.Is(err, unix.EMFILE) {
		t.Fatalf("dup at the limit: got %v, want EMFILE", err)
	}
	if _, err := tb.DupFrom(0, 2, false); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("F_DUPFD at the limit: got %v, want EINVAL", err)
	}
	if _, err := tb.Dup2(0, 5, false, false); !errors.Is(err, unix.EBADF) {
		t.Fatalf("dup2 beyond limit: got %v, want EBADF", err)
	}
	if err := tb.SetLimit(3, 2); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("soft > hard: %v", err)
	}
	f.DecRef()
}

func TestDup2AndDup3Order(t *testing.T) {
	tb := fd.NewTable()
	f, _ := kerneltest.NewFakeFile(0)
	tb.Install(f, 0, false)
	for _, tc := range []struct {
		old, new int32
		dup3     bool
		want     error
	}{
		{0, 0, false, nil},
		{5, 5, false, unix.EBADF},
		{5, 5, true, unix.EINVAL}, // EINVAL even though 5 is closed
		{0, 0, true, unix.EINVAL},
		{5, -1, false, unix.EBADF},
		{5, 3, false, unix.EBADF},
		{0, 3, true, nil},
	} {
		_, err := tb.Dup2(tc.old, tc.new, false, tc.dup3)
		if !errors.Is(err, tc.want) && !(err == nil && tc.want == nil) {
			t.Errorf("dup(%d,%d,dup3=%v) = %v, want %v", tc.old, tc.new, tc.dup3, err, tc.want)
		}
	}
}

func TestCloseOfLastFdRemovesEpollRegistrationButDupKeepsIt(t *testing.T) {
	tb := fd.NewTable()
	d := epoll.NewDomain()
	epf := epoll.NewFile(d)
	ep, _ := epoll.FromFile(epf)
	tb.Install(epf, 0, false)
	f, ff := kerneltest.NewFakeFile(waiter.EventIn)
	n, _ := tb.Install(f, 0, false)
	dupn, _ := tb.Dup(n, false)
	if err := ep.Add(epoll.FileIdentifier{File: f, Fd: n}, waiter.EventIn, 1); err != nil {
		t.Fatal(err)
	}
	tb.Close(n)
	if ep.Len() != 1 || ff.Released() {
		t.Fatal("closing one of two fds removed the registration")
	}
	tb.Close(dupn)
	if ep.Len() != 0 || !ff.Released() {
		t.Fatal("final close did not remove the registration")
	}
	tb.CloseAll()
	if d.Watches() != 0 || tb.Len() != 0 {
		t.Fatal("leak after CloseAll")
	}
}

func TestForkSharesFiles(t *testing.T) {
	tb := fd.NewTable()
	f, ff := kerneltest.NewFakeFile(0)
	tb.Install(f, 0, true)
	child := tb.Fork()
	tb.CloseAll()
	if ff.Released() {
		t.Fatal("fork copy holds no reference")
	}
	if c, err := child.CloseOnExec(0); err != nil || !c {
		t.Fatal("cloexec not copied")
	}
	child.CloseAll()
	if !ff.Released() {
		t.Fatal("file leaked")
	}
}

func TestCloseRange(t *testing.T) {
	tb := fd.NewTable()
	for i := 0; i < 6; i++ {
		f, _ := kerneltest.NewFakeFile(0)
		tb.Install(f, 0, false)
	}
	tb.CloseRange(4, ^uint32(0), true)
	if c, _ := tb.CloseOnExec(5); !c {
		t.Fatal("CLOSE_RANGE_CLOEXEC not applied")
	}
	tb.CloseRange(1, 3, false)
	if tb.Len() != 3 {
		t.Fatalf("%d open", tb.Len())
	}
}

func TestReserve(t *testing.T) {
	tb := fd.NewTable()
	defer tb.CloseAll()
	a, err := tb.Reserve()
	if err != nil || a != 0 {
		t.Fatalf("Reserve = %d, %v; want 0", a, err)
	}
	// A reserved number is taken but not open.
	f, ff := kerneltest.NewFakeFile(0)
	if n, err := tb.Install(f, 0, false); err != nil || n != 1 {
		t.Fatalf("Install next to a reservation = %d, %v; want 1", n, err)
	}
	if _, _, err := tb.Get(a); !errors.Is(err, unix.EBADF) {
		t.Fatalf("Get(reserved) = %v, want EBADF", err)
	}
	if err := tb.Close(a); !errors.Is(err, unix.EBADF) {
		t.Fatalf("Close(reserved) = %v, want EBADF", err)
	}
	if _, err := tb.Dup2(1, a, false, false); !errors.Is(err, unix.EBUSY) {
		t.Fatalf("dup2 onto a reserved number = %v, want EBUSY", err)
	}
	if _, err := tb.Dup2(a, a, false, false); !errors.Is(err, unix.EBADF) {
		t.Fatalf("dup2(reserved, reserved) = %v, want EBADF", err)
	}
	if n := tb.Len(); n != 1 {
		t.Fatalf("Len = %d, want 1 (reservations are not open fds)", n)
	}
	child := tb.Fork()
	if n, err := child.Dup(1, false); err != nil || n != a {
		t.Fatalf("fork frees reservations: Dup in child = %d, %v; want %d", n, err, a)
	}
	child.CloseAll()
	// Unreserve frees the number; InstallReserved fills it.
	tb.Unreserve(a)
	b, err := tb.Reserve()
	if err != nil || b != a {
		t.Fatalf("Reserve after Unreserve = %d, %v; want %d", b, err, a)
	}
	g, gf := kerneltest.NewFakeFile(0)
	tb.InstallReserved(b, g, true)
	if got, cloexec, err := tb.Get(b); err != nil || got != g || !cloexec {
		t.Fatalf("Get(installed) = %v, %v, %v", got, cloexec, err)
	} else {
		got.DecRef()
	}
	tb.CloseAll()
	if !ff.Released() || !gf.Released() {
		t.Fatal("CloseAll left a file open")
	}
}
