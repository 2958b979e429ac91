package syscalls

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func (x *tt) path(p string) uintptr {
	x.put(pathAt, append([]byte(p), 0))
	return pathAt
}

func (x *tt) openFIFO(p string, flags uintptr) (uintptr, unix.Errno) {
	return x.call(sysOpenat, neg(unix.AT_FDCWD), x.path(p), flags, 0)
}

// TestFIFOOpenRules replays a C program's run on Linux 6.18: mknodat and
// openat errors, ENXIO, and when a FIFO's read end reports HUP.
func TestFIFOOpenRules(t *testing.T) {
	x := newTT(t, AMD64)
	cwd := neg(unix.AT_FDCWD)
	x.must(sysMkdirat, cwd, x.path("/tmp/d"), 0o700)
	x.expectErr("mkdir twice", unix.EEXIST, sysMkdirat, cwd, x.path("/tmp/d"), 0o700)
	x.must(sysMknodat, cwd, x.path("/tmp/d/f"), unix.S_IFIFO|0o600, 0)
	x.expectErr("mknod twice", unix.EEXIST, sysMknodat, cwd, x.path("/tmp/d/f"), unix.S_IFIFO|0o600, 0)
	x.expectErr("mknod no dir", unix.ENOENT, sysMknodat, cwd, x.path("/tmp/nod/f"), unix.S_IFIFO|0o600, 0)
	x.expectErr("mknod two types", unix.EINVAL, sysMknodat, cwd, x.path("/tmp/d/g"), unix.S_IFIFO|unix.S_IFREG|0o600, 0)
	x.expectErr("mknod bad type", unix.EINVAL, sysMknodat, cwd, x.path("/tmp/d/h"), 0o170000|0o600, 0)
	x.expectErr("mknod empty", unix.ENOENT, sysMknodat, cwd, x.path(""), unix.S_IFIFO, 0)
	x.expectErr("mknod fault", unix.EFAULT, sysMknodat, cwd, hole, unix.S_IFIFO, 0)

	f := "/tmp/d/f"
	x.expectErr("writer without reader", unix.ENXIO, sysOpenat, cwd, x.path(f), unix.O_WRONLY|unix.O_NONBLOCK, 0)
	r, e := x.openFIFO(f, unix.O_RDONLY|unix.O_NONBLOCK)
	if e != 0 {
		t.Fatal(e)
	}
	x.expectPoll("reader that never had a writer", r, 0)
	if n := x.must(sysRead, r, bufAt, 1); n != 0 {
		t.Errorf("read %d", n)
	}
	w, _ := x.openFIFO(f, unix.O_WRONLY|unix.O_NONBLOCK)
	x.expectPoll("writer", w, 0x104)
	x.expectPoll("reader with a writer", r, 0)
	x.must(sysClose, w)
	x.expectPoll("reader after the writer left", r, 0x10)
	r2, _ := x.openFIFO(f, unix.O_RDONLY|unix.O_NONBLOCK)
	x.expectPoll("second reader, opened without writers", r2, 0)
	if n := x.must(sysFcntl, r, unix.F_GETPIPE_SZ); n != 65536 {
		t.Errorf("F_GETPIPE_SZ %d", n)
	}
	rw, _ := x.openFIFO(f, unix.O_RDWR|unix.O_NONBLOCK)
	x.expectPoll("rdwr", rw, 0x104)
	x.expectPoll("r with rdwr", r, 0)
	x.must(sysClose, rw)
	x.expectPoll("r after rdwr", r, 0x10)
	x.expectPoll("r2 after rdwr", r2, 0x10)
	x.expectErr("O_CREAT|O_EXCL", unix.EEXIST, sysOpenat, cwd, x.path(f), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CREAT|unix.O_EXCL, 0o600)
	x.expectErr("O_DIRECTORY", unix.ENOTDIR, sysOpenat, cwd, x.path(f), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_DIRECTORY, 0)
	x.expectErr("through a FIFO", unix.ENOTDIR, sysOpenat, cwd, x.path(f+"/x"), unix.O_RDONLY, 0)
	x.expectErr("relative to a FIFO fd", unix.ENOTDIR, sysOpenat, r, x.path("x"), unix.O_RDONLY, 0)
	x.must(sysClose, r)
	x.must(sysClose, r2)
	x.expectErr("rmdir non-empty", unix.ENOTEMPTY, sysUnlinkat, cwd, x.path("/tmp/d"), atRemovedir)
	x.must(sysUnlinkat, cwd, x.path(f), 0)
	x.must(sysUnlinkat, cwd, x.path("/tmp/d"), atRemovedir)
	x.expectErr("gone", unix.ENOENT, sysOpenat, cwd, x.path(f), unix.O_RDONLY|unix.O_NONBLOCK, 0)
}

// TestFIFOBlockingOpen: a blocking read open waits for a writer; a
// signal ends the wait (ERESTARTSYS: restarted under SA_RESTART) and
// uncounts the reader.
func TestFIFOBlockingOpen(t *testing.T) {
	x := newTT(t, AMD64)
	x.must(sysMknodat, neg(unix.AT_FDCWD), x.path("/tmp/f"), unix.S_IFIFO|0o600, 0)
	// The main goroutine's calls read the path here, the blocked task's at
	// pathAt (guest memory is not written while another task reads it).
	const mainPath = pathAt + 0x100
	x.put(mainPath, []byte("/tmp/f\x00"))
	tk := x.sibling()
	defer tk.Exit()
	tk.SetRestartSignals(1 << (unix.SIGUSR1 - 1)) // ERESTARTSYS shows as a restart
	done := make(chan unix.Errno, 1)
	go func() {
		_, e := tk.Syscall(nrOf(t, AMD64, sysOpenat), [6]uintptr{neg(unix.AT_FDCWD), pathAt, unix.O_RDONLY})
		done <- e
	}()
	select {
	case e := <-done:
		t.Fatalf("blocking open without a writer returned %s", sx(e))
	case <-time.After(20 * time.Millisecond):
	}
	tk.Interrupt(int(unix.SIGUSR1))
	if e := <-done; e != ErrRestart {
		t.Fatalf("interrupted open: %s, want ERESTARTSYS", sx(e))
	}
	x.expectErr("the interrupted reader is gone", unix.ENXIO, sysOpenat, neg(unix.AT_FDCWD), mainPath, unix.O_WRONLY|unix.O_NONBLOCK, 0)
	go func() {
		_, e := tk.Syscall(nrOf(t, AMD64, sysOpenat), [6]uintptr{neg(unix.AT_FDCWD), pathAt, unix.O_RDONLY})
		done <- e
	}()
	time.Sleep(10 * time.Millisecond)
	w, e := x.call(sysOpenat, neg(unix.AT_FDCWD), mainPath, unix.O_WRONLY, 0)
	if e != 0 {
		t.Fatalf("blocking writer with a waiting reader: %s", sx(e))
	}
	if e := <-done; e != 0 {
		t.Fatalf("reader: %s", sx(e))
	}
	x.must(sysClose, w)
}
