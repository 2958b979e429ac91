package checkpoint

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/hostfd"
	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
	"github.com/guestpoll/guestpoll/syscalls"
)

// world is a kernel with one process (table, memory) and two tasks.
type world struct {
	k     *syscalls.Kernel
	clock *fs.FakeClock
	tab   *fd.Table
	mem   *syscalls.GuestMemory
	tasks []*syscalls.Task
}

func (w *world) close() {
	for _, t := range w.tasks {
		t.Exit()
	}
	w.tab.CloseAll()
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func install(t testing.TB, tab *fd.Table, f *fs.File, cloexec bool) int32 {
	t.Helper()
	n, err := tab.Install(f, 0, cloexec)
	must(t, err)
	return n
}

func get(t testing.TB, w *world, n int32) *fs.File {
	t.Helper()
	f, _, err := w.tab.Get(n)
	must(t, err)
	f.DecRef()
	return f
}

func ep(t testing.TB, w *world, n int32) *epoll.EventPoll {
	t.Helper()
	e, ok := epoll.FromFile(get(t, w, n))
	if !ok {
		t.Fatalf("fd %d is not an epoll", n)
	}
	return e
}

// rich builds a kernel with a bit of every kind of state. The fd numbers
// are fixed (see the comments) so tests can name them.
func rich(t testing.TB) *world {
	clock := fs.NewFakeClock()
	k := syscalls.NewKernelClock(clock)
	w := &world{k: k, clock: clock, tab: fd.NewTable(), mem: syscalls.NewGuestMemory()}
	must(t, w.mem.Map(0x10000, 3*syscalls.PageSize))
	must(t, w.mem.CopyOut(0x10ffe, []byte("guest memory")))
	must(t, w.tab.SetLimit(512, 4096))

	r, wr := fs.NewPipe(unix.O_NONBLOCK)
	install(t, w.tab, r, false) // 0
	install(t, w.tab, wr, true) // 1
	_, err := wr.Write([]byte("hello, "))
	must(t, err)
	_, err = wr.Write([]byte("pipe"))
	must(t, err)
	pr, pw := fs.NewPipe(unix.O_DIRECT)
	install(t, w.tab, pr, false) // 2
	install(t, w.tab, pw, false) // 3
	_, err = pw.Write([]byte("packet one"))
	must(t, err)
	_, err = pw.Write([]byte("two"))
	must(t, err)
	efd := fs.NewEventfd(5, fs.EFDSemaphore)
	install(t, w.tab, efd, false) // 4
	a, b, err := fs.NewSocketPair(unix.SOCK_STREAM, 0)
	must(t, err)
	install(t, w.tab, a, false) // 5
	install(t, w.tab, b, false) // 6
	_, err = a.Write([]byte("stream data"))
	must(t, err)
	buf := make([]byte, 3)
	_, err = b.Read(buf)
	must(t, err)
	must(t, a.Impl().(fs.Shutdowner).Shutdown(a, unix.SHUT_WR))
	c, d, err := fs.NewSocketPair(unix.SOCK_DGRAM, unix.O_NONBLOCK)
	must(t, err)
	install(t, w.tab, c, false) // 7
	_, err = d.Write([]byte("from a dead peer"))
	must(t, err)
	d.DecRef() // released: c keeps its datagram and a dead peer
	s, err := fs.NewSocket(unix.SOCK_SEQPACKET, 0)
	must(t, err)
	install(t, w.tab, s, false) // 8
	tf, err := fs.NewTimerfd(clock, unix.CLOCK_MONOTONIC, 0)
	must(t, err)
	install(t, w.tab, tf, false) // 9
	_, _, err = tf.Impl().(fs.TimerFile).SetTime(tf, 0, int64(time.Second), int64(300*time.Millisecond))
	must(t, err)
	tf2, err := fs.NewTimerfd(clock, unix.CLOCK_REALTIME, 0)
	must(t, err)
	install(t, w.tab, tf2, false) // 10
	_, _, err = tf2.Impl().(fs.TimerFile).SetTime(tf2, 0, int64(100*time.Millisecond), int64(200*time.Millisecond))
	must(t, err)
	reg := fs.NewRegular(unix.O_APPEND)
	install(t, w.tab, reg, false) // 11
	_, err = reg.Impl().(fs.PositionalIO).WriteAt(reg, []byte("far away"), 10000)
	must(t, err)
	_, err = reg.Impl().(fs.Seeker).Seek(reg, 17, unix.SEEK_SET)
	must(t, err)

	e1 := epoll.NewFile(k.EpollDomain())
	install(t, w.tab, e1, true) // 12
	e2 := epoll.NewFile(k.EpollDomain())
	install(t, w.tab, e2, false) // 13
	e3 := epoll.NewFile(k.EpollDomain())
	install(t, w.tab, e3, false) // 14
	dupR, err := w.tab.Dup(0, false)
	must(t, err) // 15
	if dupR != 15 {
		t.Fatalf("dup gave %d", dupR)
	}
	x1, _ := epoll.FromFile(e1)
	x2, _ := epoll.FromFile(e2)
	x3, _ := epoll.FromFile(e3)
	add := func(x *epoll.EventPoll, f *fs.File, n int32, ev waiter.EventMask, data uint64) {
		t.Helper()
		must(t, x.Add(epoll.FileIdentifier{File: f, Fd: n}, ev, data))
	}
	add(x1, r, 0, waiter.EventIn|waiter.EventET, 100)
	add(x1, wr, 1, waiter.EventOut, 101)
	add(x1, efd, 4, waiter.EventIn|waiter.EventOneshot, 104)
	add(x1, b, 6, waiter.EventIn|waiter.EventExclusive, 106)
	add(x1, tf, 9, waiter.EventIn, 109)
	add(x1, tf2, 10, waiter.EventIn|waiter.EventET, 110)
	add(x2, r, 15, waiter.EventIn|waiter.EventExclusive, 215)
	add(x2, e1, 12, waiter.EventIn, 212)
	add(x3, e1, 12, waiter.EventIn|waiter.EventET, 312)
	add(x2, c, 7, waiter.EventIn|waiter.EventOut, 207)
	add(x3, r, 0, waiter.EventIn, 300)
	add(x3, pr, 2, waiter.EventIn, 302)
	// Fire the ONESHOT, and leave a ready list in a non-trivial order.
	evs := make([]epoll.Event, 2)
	_, err = x1.ReadEvents(evs, 2, nil)
	must(t, err)
	clock.Advance(150 * time.Millisecond) // tf2 expires
	k.EpollDomain().SetMaxUserWatches(1000)

	for i := 0; i < 2; i++ {
		task := syscalls.NewTask(k, w.tab, w.mem, syscalls.Arch(i))
		task.SetSignalMask(1 << (unix.SIGUSR2 - 1))
		task.Interrupt(int(unix.SIGUSR2))
		w.tasks = append(w.tasks, task)
	}
	// fdinfo numbers some inodes.
	for _, n := range []int32{0, 5, 11, 12} {
		_, e := syscalls.FDInfo(w.tasks[0], n)
		if e != 0 {
			t.Fatal(e)
		}
	}
	return w
}

func saveWorld(t testing.TB, w *world) []byte {
	t.Helper()
	b, err := Save(w.k, w.tasks, SaveOptions{})
	must(t, err)
	return b
}

func restoreWorld(t testing.TB, b []byte, clock *fs.FakeClock) *world {
	t.Helper()
	r, err := Restore(b, RestoreOptions{Clock: clock})
	must(t, err)
	return &world{k: r.Kernel, clock: clock, tab: r.Tables[0], mem: r.Memories[0].(*syscalls.GuestMemory), tasks: r.Tasks}
}

// TestRoundTrip saves a rich kernel, restores it, and saves the restored
// one: the two checkpoints are identical byte for byte (the format is
// deterministic, and every field came back).
func TestRoundTrip(t *testing.T) {
	w := rich(t)
	defer w.close()
	b1 := saveWorld(t, w)
	w2 := restoreWorld(t, b1, w.clock)
	defer w2.close()
	b2 := saveWorld(t, w2)
	if !bytes.Equal(b1, b2) {
		im1, _ := Decode(b1)
		im2, _ := Decode(b2)
		t.Fatalf("checkpoints differ:\n%+v\n%+v", im1, im2)
	}
	if got, want := w2.k.EpollDomain().Watches(), w.k.EpollDomain().Watches(); got != want {
		t.Errorf("watches %d, want %d", got, want)
	}
}

// TestRestoreKeepsNoInputBytes overwrites a checkpoint's bytes after
// Restore (which decodes without copying) and after Decode (which copies):
// neither the restored kernel nor the decoded image may change.
func TestRestoreKeepsNoInputBytes(t *testing.T) {
	w := rich(t)
	defer w.close()
	b := saveWorld(t, w)
	want := bytes.Clone(b)
	w2 := restoreWorld(t, b, w.clock)
	defer w2.close()
	im, err := Decode(b)
	must(t, err)
	for i := range b {
		b[i] = 0xa5
	}
	if got := saveWorld(t, w2); !bytes.Equal(got, want) {
		t.Error("the restored kernel changed with the checkpoint's bytes")
	}
	if got := im.Encode(); !bytes.Equal(got, want) {
		t.Error("the decoded image changed with the checkpoint's bytes")
	}
}

// TestAppendSave checks that AppendSave appends exactly Save's bytes,
// keeps what dst held, and reuses dst's storage when it has room.
func TestAppendSave(t *testing.T) {
	w := rich(t)
	defer w.close()
	want := saveWorld(t, w)
	got, err := AppendSave([]byte("xyz"), w.k, w.tasks, SaveOptions{})
	must(t, err)
	if string(got[:3]) != "xyz" || !bytes.Equal(got[3:], want) {
		t.Fatal("AppendSave after a prefix differs from Save")
	}
	again, err := AppendSave(got[:0], w.k, w.tasks, SaveOptions{})
	must(t, err)
	if !bytes.Equal(again, want) || &again[0] != &got[0] {
		t.Error("AppendSave into a large enough buffer differs or did not reuse it")
	}
}

// observe runs the same operations on a world and returns what they saw.
func observe(t *testing.T, w *world) string {
	var sb strings.Builder
	evs := make([]epoll.Event, 16)
	harvest := func(n int32) {
		k, err := ep(t, w, n).ReadEvents(evs, len(evs), nil)
		fmt.Fprintf(&sb, "epoll %d: %v", n, err)
		for _, e := range evs[:k] {
			fmt.Fprintf(&sb, " %v/%d", e.Events, e.Data)
		}
		sb.WriteString("\n")
	}
	read := func(n int32, size int) {
		buf := make([]byte, size)
		k, err := get(t, w, n).Read(buf)
		fmt.Fprintf(&sb, "read %d: %q %v\n", n, buf[:max(k, 0)], err)
	}
	for _, task := range w.tasks {
		fmt.Fprintf(&sb, "task mask %#x pending %#x\n", task.SignalMask(), task.PendingSignals())
		task.DeliverPendingSignals()
		task.SetSignalMask(0)
		task.DeliverPendingSignals()
		fmt.Fprintf(&sb, "delivered %d\n", task.Delivered(int(unix.SIGUSR2)))
	}
	harvest(13)
	harvest(14)
	harvest(12)
	harvest(12)
	read(0, 5)
	read(2, 100)
	read(2, 100)
	read(4, 8)
	read(6, 100)
	read(6, 100)
	read(7, 100)
	read(10, 8)
	_, err := get(t, w, 1).Write([]byte("more"))
	fmt.Fprintf(&sb, "write: %v\n", err)
	harvest(13)
	harvest(14)
	w.clock.Advance(time.Second)
	harvest(12)
	read(9, 8)
	v, iv := get(t, w, 10).Impl().(fs.TimerFile).GetTime(get(t, w, 10))
	fmt.Fprintf(&sb, "gettime %d %d\n", v, iv)
	buf := make([]byte, 12)
	must(t, w.mem.CopyIn(0x10ffe, buf))
	fmt.Fprintf(&sb, "mem %q\n", buf)
	for _, n := range []int32{0, 1, 5, 11, 12, 13, 15} {
		s, e := syscalls.FDInfo(w.tasks[0], n)
		fmt.Fprintf(&sb, "fdinfo %d %v:\n%s", n, e, s)
	}
	soft, hard := w.tab.Limit()
	fmt.Fprintf(&sb, "limit %d %d watches %d/%d\n", soft, hard, w.k.EpollDomain().Watches(), w.k.EpollDomain().MaxUserWatches())
	pos, err := get(t, w, 11).Impl().(fs.Seeker).Seek(get(t, w, 11), 0, unix.SEEK_CUR)
	fmt.Fprintf(&sb, "pos %d %v\n", pos, err)
	return sb.String()
}

// TestRestoredBehavesTheSame runs the same operations on a kernel and on
// its restored copy (each on its own clock at the same time).
func TestRestoredBehavesTheSame(t *testing.T) {
	w := rich(t)
	defer w.close()
	b := saveWorld(t, w)
	c2 := fs.NewFakeClock()
	c2.Advance(150 * time.Millisecond) // the same time as w.clock
	w2 := restoreWorld(t, b, c2)
	defer w2.close()
	want := observe(t, w)
	got := observe(t, w2)
	if got != want {
		t.Errorf("restored kernel differs:\n--- original\n%s\n--- restored\n%s", want, got)
	}
}

// TestCloseAfterRestore checks that a restored kernel releases everything.
func TestCloseAfterRestore(t *testing.T) {
	w := rich(t)
	b := saveWorld(t, w)
	w.close()
	if n := w.k.EpollDomain().Watches(); n != 0 {
		t.Fatalf("original: %d watches left", n)
	}
	w2 := restoreWorld(t, b, w.clock)
	w2.close()
	if n := w2.k.EpollDomain().Watches(); n != 0 {
		t.Fatalf("restored: %d watches left", n)
	}
	if n := w.clock.Pending(); n != 0 {
		t.Fatalf("%d timers left armed", n)
	}
}

func TestRejectsTruncatedAndCorrupt(t *testing.T) {
	w := rich(t)
	defer w.close()
	b := saveWorld(t, w)
	for n := 0; n < len(b); n++ {
		if _, err := Decode(b[:n]); !errors.Is(err, ErrFormat) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	for i := 0; i < len(b); i += 7 {
		c := bytes.Clone(b)
		c[i] ^= 0x40
		if _, err := Decode(c); !errors.Is(err, ErrFormat) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
}

// TestRejectsInconsistent mutates a valid image in ways that only
// validation can catch (the checksum is recomputed by Encode).
func TestRejectsInconsistent(t *testing.T) {
	w := rich(t)
	defer w.close()
	saved, err := SaveImage(w.k, w.tasks, SaveOptions{})
	must(t, err)
	var im *Image // the image being mutated
	fileOf := func(n int32) int32 {
		for _, s := range im.Tables[0].Slots {
			if s.Fd == n {
				return s.File
			}
		}
		t.Fatalf("fd %d not saved", n)
		return -1
	}
	epollOf := func(n int32) *epoll.InstanceState {
		for i := range im.Epolls {
			if im.Epolls[i].File == fileOf(n) {
				return &im.Epolls[i].State
			}
		}
		t.Fatalf("fd %d is not an epoll", n)
		return nil
	}
	cases := []struct {
		name   string
		mutate func(im *Image)
		want   string
	}{
		{"ready twice", func(im *Image) {
			s := epollOf(12)
			s.Ready = append(s.Ready, s.Ready[0])
		}, "ready entry"},
		{"cycle", func(im *Image) {
			s := epollOf(12)
			s.Items = append(s.Items, epoll.ItemState{Target: fileOf(13), Fd: 13, Events: 0x19, WatchRank: 0})
			// e2 had no watcher: rank 0 is free.
		}, "cycle"},
		{"self watch", func(im *Image) {
			s := epollOf(13)
			s.Items[0].Target = fileOf(13)
		}, "itself"},
		{"rank repeated", func(im *Image) {
			s := epollOf(14)
			for i := range s.Items {
				s.Items[i].WatchRank = 0
			}
		}, "watch rank"},
		{"regular watched", func(im *Image) {
			s := epollOf(14)
			s.Items[0].Target = fileOf(11)
		}, "not pollable"},
		{"pipe ends", func(im *Image) { im.Files.Pipes[0].Writers = 0 }, "pipe 0"},
		{"pipe slot", func(im *Image) { im.Files.Pipes[0].Slots[0].Off = 4090 }, "slot"},
		{"socket charge", func(im *Image) {
			for i := range im.Files.Sockets {
				if im.Files.Sockets[i].Peer >= 0 {
					im.Files.Sockets[i].Wmem++
					return
				}
			}
		}, "wmem"},
		{"unheld file", func(im *Image) {
			sl := im.Tables[0].Slots
			for i := range sl {
				if sl[i].Fd == 11 {
					im.Tables[0].Slots = append(sl[:i], sl[i+1:]...)
					return
				}
			}
		}, "held by no fd table"},
		{"fd order", func(im *Image) { im.Tables[0].Slots[1].Fd = 0 }, "out of order"},
		{"timer", func(im *Image) {
			for i := range im.Files.Files {
				if im.Files.Files[i].Kind == fs.KindTimerfd {
					im.Files.Files[i].Timer.Interval = -1
				}
			}
		}, "interval"},
		{"task table", func(im *Image) { im.Tasks[0].Table = 3 }, "out of range"},
		{"mask", func(im *Image) { im.Tasks[0].Mask = ^uint64(0) }, "SIGKILL"},
		{"memory page", func(im *Image) { im.Memories[0].Guest.Pages[0].Addr = 0x900000 }, "not mapped"},
		{"foreign", func(im *Image) { im.Epolls = im.Epolls[1:] }, "foreign"},
		{"inode", func(im *Image) { im.Kernel.Inos[0].Ino = im.Kernel.NextIno + 1 }, "inode"},
		{"exclusive epoll", func(im *Image) {
			s := epollOf(13)
			for i := range s.Items {
				if s.Items[i].Target == fileOf(12) {
					s.Items[i].Events |= uint32(waiter.EventExclusive)
				}
			}
		}, "EXCLUSIVE"},
	}
	base := saved.Encode()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			im, err = Decode(base)
			must(t, err)
			c.mutate(im)
			_, err = Decode(im.Encode())
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an ErrFormat mentioning %q", err, c.want)
			}
			if _, err := RestoreImage(im, RestoreOptions{Clock: w.clock}); !errors.Is(err, ErrFormat) {
				t.Fatalf("RestoreImage: %v", err)
			}
		})
	}
}

func TestDeepNestingRejected(t *testing.T) {
	clock := fs.NewFakeClock()
	k := syscalls.NewKernelClock(clock)
	tab := fd.NewTable()
	mem := syscalls.NewGuestMemory()
	task := syscalls.NewTask(k, tab, mem, syscalls.AMD64)
	defer func() { task.Exit(); tab.CloseAll() }()
	var fds []int32
	for i := 0; i < 5; i++ {
		fds = append(fds, install(t, tab, epoll.NewFile(k.EpollDomain()), false))
	}
	w := &world{k: k, tab: tab}
	for i := 0; i+1 < len(fds); i++ {
		must(t, ep(t, w, fds[i]).Add(epoll.FileIdentifier{File: get(t, w, fds[i+1]), Fd: fds[i+1]}, waiter.EventIn, 0))
	}
	im, err := SaveImage(k, []*syscalls.Task{task}, SaveOptions{})
	must(t, err)
	_, err = Decode(im.Encode())
	must(t, err) // 5 instances in a chain: Linux's maximum
	// A sixth instance watching the top makes the chain too deep.
	im.Files.Files = append(im.Files.Files, fs.FileState{Kind: fs.KindForeign, Flags: unix.O_RDWR})
	six := int32(len(im.Files.Files) - 1)
	im.Tables[0].Slots = append(im.Tables[0].Slots, fd.SlotState{Fd: 100, File: six})
	top := im.Tables[0].Slots[0].File
	im.Epolls = append(im.Epolls, EpollImage{File: six, State: epoll.InstanceState{
		Items: []epoll.ItemState{{Target: top, Fd: 0, Events: 0x19}},
	}})
	if _, err := Decode(im.Encode()); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "nested") {
		t.Fatalf("got %v", err)
	}
}

// TestHostPlaceholders saves a host fd by name and restores it from a
// fresh host fd; a missing name is ErrMissingHost.
func TestHostPlaceholders(t *testing.T) {
	br, err := hostfd.NewBridge(hostfd.Options{})
	must(t, err)
	defer br.Close()
	clock := fs.NewFakeClock()
	k := syscalls.NewKernelClock(clock)
	tab := fd.NewTable()
	task := syscalls.NewTask(k, tab, syscalls.NewGuestMemory(), syscalls.AMD64)
	hf, err := br.Eventfd(1, 0)
	must(t, err)
	install(t, tab, hf, false) // 0
	e := epoll.NewFile(k.EpollDomain())
	install(t, tab, e, false) // 1
	x, _ := epoll.FromFile(e)
	must(t, x.Add(epoll.FileIdentifier{File: hf, Fd: 0}, waiter.EventIn|waiter.EventET, 7))
	evs := make([]epoll.Event, 4)
	n, err := x.ReadEvents(evs, 4, nil)
	must(t, err)
	if n != 1 {
		t.Fatalf("harvest before save: %d events", n)
	}
	names := map[*fs.File]string{hf: "the-eventfd"}
	b, err := Save(k, []*syscalls.Task{task}, SaveOptions{HostName: func(f *fs.File) (string, error) {
		return names[f], nil
	}})
	must(t, err)
	task.Exit()
	tab.CloseAll()

	if _, err := Restore(b, RestoreOptions{Clock: clock}); !errors.Is(err, ErrMissingHost) {
		t.Fatalf("restore without hosts: %v", err)
	}
	_, err = Restore(b, RestoreOptions{Clock: clock, Host: func(name string, flags uint32) (*fs.File, error) {
		return nil, fmt.Errorf("no such fd %q", name)
	}})
	if !errors.Is(err, ErrMissingHost) || !strings.Contains(err.Error(), "the-eventfd") {
		t.Fatalf("restore with a missing name: %v", err)
	}
	r, err := Restore(b, RestoreOptions{Clock: clock, Host: func(name string, flags uint32) (*fs.File, error) {
		if name != "the-eventfd" {
			return nil, fmt.Errorf("no such fd %q", name)
		}
		return br.Eventfd(3, 0)
	}})
	must(t, err)
	defer func() {
		r.Tasks[0].Exit()
		r.Tables[0].CloseAll()
	}()
	f, _, err := r.Tables[0].Get(1)
	must(t, err)
	defer f.DecRef()
	x2, _ := epoll.FromFile(f)
	// The fresh fd is readable: the registration was re-polled.
	n, err = x2.ReadEvents(evs, 4, nil)
	must(t, err)
	if n != 1 || evs[0].Data != 7 {
		t.Fatalf("after restore: %d events %v", n, evs[:n])
	}
}

func TestSaveRefusesBusyTable(t *testing.T) {
	w := rich(t)
	defer w.close()
	n, err := w.tab.Reserve()
	must(t, err)
	defer w.tab.Unreserve(n)
	if _, err := Save(w.k, w.tasks, SaveOptions{}); !errors.Is(err, fd.ErrReserved) {
		t.Fatalf("got %v", err)
	}
}
