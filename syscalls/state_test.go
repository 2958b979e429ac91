package syscalls

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
)

// TestTaskStateRoundTrip: a restored task has the saved mask, pending and
// delivered signals and rlimits, saves the same state, and delivers its
// pending signal once unblocked, as the original does.
func TestTaskStateRoundTrip(t *testing.T) {
	x := newTT(t, ARM64)
	x.t.SetSignalMask(1<<(unix.SIGUSR1-1) | 1<<(unix.SIGUSR2-1))
	x.t.Interrupt(int(unix.SIGUSR2))
	x.t.Interrupt(int(unix.SIGHUP))
	x.t.DeliverPendingSignals() // SIGHUP
	if e := x.t.setLimit(unix.RLIMIT_STACK, 1<<20, 1<<30); e != 0 {
		t.Fatal(e)
	}
	st := x.t.SaveState(2, 3)
	if st.Table != 2 || st.Memory != 3 || st.Arch != ARM64 {
		t.Fatalf("indices or arch: %+v", st)
	}
	table := fd.NewTable()
	defer table.CloseAll()
	r, err := RestoreTask(NewKernel(), &st, table, x.mem)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Exit()
	if diff := cmp.Diff(st, r.SaveState(2, 3)); diff != "" {
		t.Fatalf("restored task saves differently:\n%s", diff)
	}
	if soft, hard := r.getLimit(unix.RLIMIT_STACK); soft != 1<<20 || hard != 1<<30 {
		t.Errorf("RLIMIT_STACK %d/%d", soft, hard)
	}
	for _, task := range []*Task{x.t, r} {
		if !task.SignalPending() && task.PendingSignals() != 1<<(unix.SIGUSR2-1) {
			t.Fatalf("pending %#x", task.PendingSignals())
		}
		task.SetSignalMask(0)
		task.DeliverPendingSignals()
		if task.Delivered(int(unix.SIGUSR2)) != 1 || task.Delivered(int(unix.SIGHUP)) != 1 {
			t.Errorf("delivered SIGUSR2 %d SIGHUP %d", task.Delivered(int(unix.SIGUSR2)), task.Delivered(int(unix.SIGHUP)))
		}
	}
}

// TestTaskStateValidate: indices, arch, an unblockable mask and rlimits
// are checked, by Validate and by RestoreTask.
func TestTaskStateValidate(t *testing.T) {
	x := newTT(t, AMD64)
	base := x.t.SaveState(0, 0)
	for _, c := range []struct {
		mutate func(st *TaskState)
		want   string
	}{
		{func(st *TaskState) { st.Table = 1 }, "out of range"},
		{func(st *TaskState) { st.Memory = -1 }, "out of range"},
		{func(st *TaskState) { st.Arch = 2 }, "arch 2"},
		{func(st *TaskState) { st.Mask = 1 << (unix.SIGKILL - 1) }, "SIGKILL"},
		{func(st *TaskState) { st.Rlimits[3] = [2]uint64{2, 1} }, "soft 2 above hard 1"},
	} {
		st := base
		c.mutate(&st)
		if err := st.Validate(1, 1); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error mentioning %q", err, c.want)
		}
		if c.want != "out of range" {
			if _, err := RestoreTask(x.k, &st, x.t.fds, x.mem); err == nil {
				t.Errorf("%q: RestoreTask accepted it", c.want)
			}
		}
	}
}

// TestMemoryStateRoundTrip: the mappings and the pages holding anything
// but zeros are saved (in address order), and the restored memory reads
// the same everywhere, zeros in the pages not saved.
func TestMemoryStateRoundTrip(t *testing.T) {
	m := NewGuestMemory()
	for _, r := range [][2]uint64{{0x30000, 0x4000}, {0x10000, 0x3000}} {
		if err := m.Map(r[0], r[1]); err != nil {
			t.Fatal(err)
		}
	}
	mustCopy := func(addr uint64, b []byte) {
		t.Helper()
		if err := m.CopyOut(addr, b); err != nil {
			t.Fatal(err)
		}
	}
	mustCopy(0x32ffe, []byte("across pages"))
	mustCopy(0x10010, []byte("low"))
	mustCopy(0x11000, make([]byte, 100)) // a page of zeros: not saved
	st := m.SaveState()
	want := MemoryState{Maps: []MemoryRange{{0x10000, 0x13000}, {0x30000, 0x34000}}}
	if diff := cmp.Diff(want.Maps, st.Maps); diff != "" || len(st.Pages) != 3 {
		t.Fatalf("maps (-want +got):\n%s\n%d pages", diff, len(st.Pages))
	}
	for i, addr := range []uint64{0x10000, 0x32000, 0x33000} {
		if st.Pages[i].Addr != addr {
			t.Errorf("page %d at %#x, want %#x", i, st.Pages[i].Addr, addr)
		}
	}
	r, err := RestoreMemory(&st)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, r.SaveState()); diff != "" {
		t.Fatalf("restored memory saves differently:\n%s", diff)
	}
	for _, rng := range want.Maps {
		a, b := make([]byte, rng.End-rng.Start), make([]byte, rng.End-rng.Start)
		if err := m.CopyIn(rng.Start, a); err != nil {
			t.Fatal(err)
		}
		if err := r.CopyIn(rng.Start, b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("range %#x-%#x reads differently", rng.Start, rng.End)
		}
	}
	if err := r.CopyIn(0x13000, make([]byte, 1)); err != unix.EFAULT {
		t.Errorf("unmapped address after restore: %v", err)
	}
}

// TestMemoryStateValidate: ranges must be page aligned, ascending and
// apart; pages aligned, whole, ascending and mapped.
func TestMemoryStateValidate(t *testing.T) {
	page := func(addr uint64) MemoryPage { return MemoryPage{Addr: addr, Data: make([]byte, PageSize)} }
	maps := []MemoryRange{{0x1000, 0x3000}, {0x5000, 0x6000}}
	for _, c := range []struct {
		st   MemoryState
		want string
	}{
		{MemoryState{Maps: []MemoryRange{{0x1001, 0x2000}}}, "memory range"},
		{MemoryState{Maps: []MemoryRange{{0x2000, 0x2000}}}, "memory range"},
		{MemoryState{Maps: []MemoryRange{{0x1000, 0x3000}, {0x3000, 0x4000}}}, "memory range"},
		{MemoryState{Maps: maps, Pages: []MemoryPage{page(0x1800)}}, "memory page"},
		{MemoryState{Maps: maps, Pages: []MemoryPage{{Addr: 0x1000, Data: []byte{1}}}}, "memory page"},
		{MemoryState{Maps: maps, Pages: []MemoryPage{page(0x2000), page(0x1000)}}, "memory page"},
		{MemoryState{Maps: maps, Pages: []MemoryPage{page(0x3000)}}, "not mapped"},
	} {
		if err := c.st.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want an error mentioning %q", c.st.Maps, err, c.want)
		}
		if _, err := RestoreMemory(&c.st); err == nil {
			t.Errorf("%+v: RestoreMemory accepted it", c.st.Maps)
		}
	}
}

// TestKernelStateRoundTrip: the epoll settings and the inode numbers
// fdinfo showed come back, a pipe's under its shared inode (both ends
// show it), and a number of a file not saved is dropped.
func TestKernelStateRoundTrip(t *testing.T) {
	x := newTT(t, AMD64)
	x.k.EpollDomain().SetMaxUserWatches(77)
	r, w := fs.NewPipe(0)
	memfd := fs.NewRegular(unix.O_RDWR) // eventfds share the anon inode; a memfd has its own
	unsaved := fs.NewRegular(unix.O_RDWR)
	var fds []int32
	for _, f := range []*fs.File{r, w, memfd, unsaved} {
		n, err := x.t.fds.Install(f, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, n)
	}
	inoOf := func(task *Task, n int32) string {
		t.Helper()
		s, e := FDInfo(task, n)
		if e != 0 {
			t.Fatal(e)
		}
		return s
	}
	before := []string{inoOf(x.t, fds[0]), inoOf(x.t, fds[2]), inoOf(x.t, fds[3])}
	saved := []*fs.File{memfd, r} // w shares r's inode; unsaved is not saved
	index := func(f *fs.File) (int32, bool) {
		for i, s := range saved {
			if s == f {
				return int32(i), true
			}
		}
		return 0, false
	}
	st := x.k.Save(saved, index)
	if len(st.Inos) != 2 || st.Epoll.MaxUserWatches != 77 {
		t.Fatalf("saved %+v", st)
	}
	k2 := RestoreKernel(&st, fs.NewFakeClock())
	r2, w2 := fs.NewPipe(0)
	memfd2 := fs.NewRegular(unix.O_RDWR)
	if err := k2.RestoreInos(&st, []*fs.File{memfd2, r2}); err != nil {
		t.Fatal(err)
	}
	table := fd.NewTable()
	defer table.CloseAll()
	task := NewTask(k2, table, NewGuestMemory(), AMD64)
	defer task.Exit()
	for _, f := range []*fs.File{r2, w2, memfd2} {
		if _, err := table.Install(f, 0, false); err != nil {
			t.Fatal(err)
		}
	}
	if got := inoOf(task, 0); got != before[0] {
		t.Errorf("pipe read end: %q, want %q", got, before[0])
	}
	if got := inoOf(task, 1); !strings.Contains(got, inoLine(before[0])) {
		t.Errorf("pipe write end: %q does not share %q", got, inoLine(before[0]))
	}
	if got := inoOf(task, 2); got != before[1] {
		t.Errorf("regular file: %q, want %q", got, before[1])
	}
	if k2.EpollDomain().MaxUserWatches() != 77 {
		t.Errorf("max_user_watches %d", k2.EpollDomain().MaxUserWatches())
	}
}

// inoLine is fdinfo's ino line.
func inoLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "ino:") {
			return l
		}
	}
	return "no ino line in " + s
}

// TestKernelStateValidate: inode entries name saved files once, with
// numbers already given out, and max_user_watches is not negative.
func TestKernelStateValidate(t *testing.T) {
	for _, c := range []struct {
		st   KernelState
		want string
	}{
		{KernelState{NextIno: 9, Inos: []InoState{{File: 2, Ino: 1}}}, "out of range"},
		{KernelState{NextIno: 9, Inos: []InoState{{File: 0, Ino: 1}, {File: 0, Ino: 2}}}, "repeated"},
		{KernelState{NextIno: 9, Inos: []InoState{{File: 0, Ino: 10}}}, "beyond"},
		{KernelState{NextIno: 9, Inos: []InoState{{File: 1, Ino: 9}}}, ""},
	} {
		err := c.st.Validate(2)
		if c.want == "" {
			if err != nil {
				t.Errorf("valid state refused: %v", err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error mentioning %q", err, c.want)
		}
	}
	st := KernelState{NextIno: 3}
	st.Epoll.MaxUserWatches = -1
	if err := st.Validate(0); err == nil || !strings.Contains(err.Error(), "max_user_watches") {
		t.Errorf("negative max_user_watches: %v", err)
	}
	missing := KernelState{NextIno: 3, Inos: []InoState{{File: 0, Ino: 2}}}
	if err := NewKernel().RestoreInos(&missing, []*fs.File{nil}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("inode of a missing file: %v", err)
	}
}
