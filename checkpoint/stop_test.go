package checkpoint

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
	"github.com/guestpoll/guestpoll/syscalls"
)

type result struct {
	n uintptr
	e unix.Errno
}

// TestSaveStoppedBlockedCalls checkpoints a kernel whose two tasks are
// blocked, one in epoll_wait and one in read on a pipe, and restores it.
// As on Linux after SIGSTOP and SIGCONT, the guest sees epoll_wait return
// EINTR and the read go on: the embedder issues it again, on the restored
// task, where it returns what a restored writer writes. The original
// kernel goes on too.
func TestSaveStoppedBlockedCalls(t *testing.T) {
	const mem = 0x10000
	k := syscalls.NewKernel()
	tab := fd.NewTable()
	defer tab.CloseAll()
	gm := syscalls.NewGuestMemory()
	must(t, gm.Map(mem, 4*syscalls.PageSize))
	r, w := fs.NewPipe(0) // blocking
	rfd := install(t, tab, r, false)
	wfd := install(t, tab, w, false)
	epf := epoll.NewFile(k.EpollDomain())
	epfd := install(t, tab, epf, false)
	e, _ := epoll.FromFile(epf)
	must(t, e.Add(epoll.FileIdentifier{File: r, Fd: rfd}, waiter.EventIn, 77))
	tasks := []*syscalls.Task{
		syscalls.NewTask(k, tab, gm, syscalls.AMD64),
		syscalls.NewTask(k, tab, gm, syscalls.AMD64),
		syscalls.NewTask(k, tab, gm, syscalls.AMD64),
	}
	defer func() {
		for _, tk := range tasks {
			tk.Exit()
		}
	}()
	wait := [6]uintptr{uintptr(epfd), mem, 1, ^uintptr(0)}
	read := [6]uintptr{uintptr(rfd), mem + 0x100, 8}
	write := [6]uintptr{uintptr(wfd), mem + 0x200, 5}
	must(t, gm.CopyOut(mem+0x200, []byte("hello")))
	calls := [][6]uintptr{wait, read}
	nrs := []uintptr{syscalls.AMD64EpollWait, syscalls.AMD64Read}
	done := make([]chan result, 2)
	for i := range done {
		done[i] = make(chan result, 1)
		go func() {
			n, e := tasks[i].Syscall(nrs[i], calls[i])
			done[i] <- result{uintptr(n), e}
		}()
	}
	var got [2]result
	b, err := SaveStopped(k, tasks, SaveOptions{}, func() {
		for i := range done {
			got[i] = <-done[i]
		}
	})
	must(t, err)
	if got[0] != (result{0, unix.EINTR}) {
		t.Errorf("epoll_wait = %v, want EINTR", got[0])
	}
	if got[1] != (result{0, syscalls.ErrRestart}) {
		t.Errorf("read = %v, want ErrRestart", got[1])
	}
	for _, tk := range tasks {
		if tk.Stopped() {
			t.Error("a task is still stopped after SaveStopped")
		}
	}

	rs, err := Restore(b, RestoreOptions{})
	must(t, err)
	defer func() {
		for _, tk := range rs.Tasks {
			tk.Exit()
		}
		rs.Tables[0].CloseAll()
	}()
	// The guest re-enters epoll_wait (its EINTR seen) on its restored
	// task, where a restored writer wakes it; then the embedder re-issues
	// the read, which finds the bytes.
	go func() {
		n, e := rs.Tasks[0].Syscall(nrs[0], calls[0])
		done[0] <- result{uintptr(n), e}
	}()
	if n, e := rs.Tasks[2].Syscall(syscalls.AMD64Write, write); n != 5 || e != 0 {
		t.Fatalf("write = %d %v", n, e)
	}
	if r := <-done[0]; r != (result{1, 0}) {
		t.Errorf("restored epoll_wait = %v", r)
	}
	if n, e := rs.Tasks[1].Syscall(nrs[1], calls[1]); n != 5 || e != 0 {
		t.Errorf("restored read = %d %v", n, e)
	}
	buf := make([]byte, 12)
	must(t, rs.Memories[0].CopyIn(mem, buf))
	if ev, data := binary.LittleEndian.Uint32(buf), binary.LittleEndian.Uint64(buf[4:]); ev != unix.EPOLLIN || data != 77 {
		t.Errorf("event %#x %d", ev, data)
	}
	got5 := make([]byte, 5)
	must(t, rs.Memories[0].CopyIn(mem+0x100, got5))
	if string(got5) != "hello" {
		t.Errorf("read %q", got5)
	}

	// The original kernel was continued: its tasks block and wake again.
	go func() {
		n, e := tasks[1].Syscall(syscalls.AMD64Read, read)
		done[1] <- result{uintptr(n), e}
	}()
	if n, e := tasks[2].Syscall(syscalls.AMD64Write, write); n != 5 || e != 0 {
		t.Fatalf("original write = %d %v", n, e)
	}
	if r := <-done[1]; r != (result{5, 0}) {
		t.Errorf("original read = %v", r)
	}
}
