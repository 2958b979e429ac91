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

func TestGetFileSeesWhatGetSees(t *testing.T) {
	tb := fd.NewTable()
	defer tb.CloseAll()
	a, _ := kerneltest.NewFakeFile(0)
	b, _ := kerneltest.NewFakeFile(0)
	tb.Install(a, 0, false)  // 0
	tb.Install(b, 0, false)  // 1
	tb.DupFrom(0, 700, true) // 700: grows the table
	forked := tb.Fork()
	defer forked.CloseAll()
	for _, c := range []struct {
		tb   *fd.Table
		fd   int32
		want any // *fs.File or nil for EBADF
	}{
		{tb, 0, a}, {tb, 1, b}, {tb, 700, a}, {tb, 2, nil}, {tb, -1, nil}, {tb, 1 << 20, nil},
		{forked, 700, a}, {forked, 1, b},
	} {
		f, err := c.tb.GetFile(c.fd)
		if c.want == nil {
			if !errors.Is(err, unix.EBADF) {
				t.Errorf("fd %d: got %v, %v; want EBADF", c.fd, f, err)
			}
			continue
		}
		if err != nil || any(f) != c.want {
			t.Errorf("fd %d: got %p, %v; want %p", c.fd, f, err, c.want)
			continue
		}
		f.DecRef()
	}
	tb.Dup2(1, 0, false, false) // 0 now holds b
	tb.Close(1)
	if f, err := tb.GetFile(0); err != nil || f != b {
		t.Errorf("after dup2: got %p, %v; want %p", f, err, b)
	} else {
		f.DecRef()
	}
	if _, err := tb.GetFile(1); !errors.Is(err, unix.EBADF) {
		t.Errorf("closed fd: %v, want EBADF", err)
	}
	if err := tb.CheckInvariants(); err != nil {
		t.Error(err)
	}
}

// TestGetFileRacesCloseAndDup2: lookups racing closes, dup2 replacements
// and table growth never return a released file, and never find fd 0
// closed while dup2 only ever replaces it.
func TestGetFileRacesCloseAndDup2(t *testing.T) {
	tb := fd.NewTable()
	defer tb.CloseAll()
	tb.SetLimit(4096, 4096)
	first, _ := kerneltest.NewFakeFile(0)
	tb.Install(first, 0, false) // 0: always open
	done := make(chan struct{})
	errs := make(chan error, 2)
	for r := 0; r < 2; r++ {
		go func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				f, err := tb.GetFile(0)
				if err != nil {
					errs <- errors.New("fd 0, only ever replaced, looked closed")
					return
				}
				if f.Released() {
					errs <- errors.New("a released file was returned")
					return
				}
				f.DecRef()
				if f, err := tb.GetFile(int32(1 + i%64)); err == nil {
					if f.Released() {
						errs <- errors.New("a released file was returned")
						return
					}
					f.DecRef()
				}
			}
		}()
	}
	for i := 0; i < 20000; i++ {
		f, _ := kerneltest.NewFakeFile(0)
		n, err := tb.Install(f, int32(1+i%64), false)
		if err != nil {
			t.Fatal(err)
		}
		tb.Dup2(n, 0, false, false)
		tb.Close(n)
		if i%1000 == 999 {
			// Grow the table: the lookup array is replaced.
			g, _ := kerneltest.NewFakeFile(0)
			m, _ := tb.Install(g, int32(64+i/1000*100), false)
			tb.Close(m)
		}
	}
	close(done)
	for r := 0; r < 2; r++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := tb.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}
