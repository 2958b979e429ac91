package fs

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// foreignImpl is a file type of another package: SaveFiles records only
// its flags.
type foreignImpl struct{}

func (foreignImpl) Read(f *File, dst []byte) (int, error)  { return 0, unix.EINVAL }
func (foreignImpl) Write(f *File, src []byte) (int, error) { return 0, unix.EINVAL }
func (foreignImpl) Release(f *File)                        {}

// stateFiles returns a file of every kind, each with state of its own:
// a pipe with merged data and its write end; an O_DIRECT pipe's read end
// alone (its writer closed) with two packets; a semaphore eventfd; a
// stream pair with a partly read skb and a shutdown; a datagram socket
// whose peer is released but still sends; an unconnected seqpacket; an
// armed periodic timerfd and an expired one; a regular file with a far
// page; a foreign file.
func stateFiles(t *testing.T, clock *FakeClock) []*File {
	t.Helper()
	r, w := NewPipe(unix.O_NONBLOCK)
	mustWrite := func(f *File, s string) {
		t.Helper()
		if _, err := f.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite(w, "hello, ")
	mustWrite(w, "pipe")
	pr, pw := NewPipe(unix.O_DIRECT)
	mustWrite(pw, "packet one")
	mustWrite(pw, "two")
	pw.DecRef()
	efd := NewEventfd(7, EFDSemaphore|unix.O_NONBLOCK)
	a, b, err := NewSocketPair(unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(a, "stream data")
	if _, err := b.Read(make([]byte, 3)); err != nil {
		t.Fatal(err)
	}
	if err := a.Impl().(Shutdowner).Shutdown(a, unix.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	c, d, err := NewSocketPair(unix.SOCK_DGRAM, unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(d, "from a dead peer")
	d.DecRef()
	s, err := NewSocket(unix.SOCK_SEQPACKET, 0)
	if err != nil {
		t.Fatal(err)
	}
	tf, err := NewTimerfd(clock, unix.CLOCK_MONOTONIC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tf.Impl().(TimerFile).SetTime(tf, 0, int64(time.Second), int64(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	tf2, err := NewTimerfd(clock, unix.CLOCK_REALTIME, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tf2.Impl().(TimerFile).SetTime(tf2, 0, int64(100*time.Millisecond), 0); err != nil {
		t.Fatal(err)
	}
	clock.Advance(150 * time.Millisecond)
	reg := NewRegular(unix.O_APPEND)
	if _, err := reg.Impl().(PositionalIO).WriteAt(reg, []byte("far away"), 10000); err != nil {
		t.Fatal(err)
	}
	fo := New(foreignImpl{}, unix.O_WRONLY)
	return []*File{r, w, pr, efd, a, b, c, s, tf, tf2, reg, fo}
}

func releaseFiles(files []*File) {
	for _, f := range files {
		if f != nil {
			f.DecRef()
		}
	}
}

// TestStateRoundTrip saves files of every kind, restores them on a clock
// at the same time, and saves the restored files: the two states are
// equal, every restored file keeps its invariants, and the restored files
// behave as the saved ones.
func TestStateRoundTrip(t *testing.T) {
	clock := NewFakeClock()
	files := stateFiles(t, clock)
	defer releaseFiles(files)
	st, err := SaveFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Validate(); err != nil {
		t.Fatal(err)
	}
	clock2 := NewFakeClock()
	clock2.Advance(150 * time.Millisecond)
	restored, start, err := RestoreFiles(&st, clock2)
	if err != nil {
		t.Fatal(err)
	}
	foreign := len(files) - 1
	if restored[foreign] != nil {
		t.Fatal("a foreign file was built")
	}
	restored[foreign] = New(foreignImpl{}, st.Files[foreign].Flags)
	defer releaseFiles(restored)
	start()
	checkInv(t, restored...)
	st2, err := SaveFiles(restored)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, st2); diff != "" {
		t.Fatalf("restored files save differently (-saved +restored):\n%s", diff)
	}
	if got, want := observeFiles(restored, clock2), observeFiles(files, clock); got != want {
		t.Errorf("restored files behave differently:\n--- saved\n%s--- restored\n%s", want, got)
	}
}

// observeFiles reads every readable file and advances the clock past the
// periodic timer's next expiry.
func observeFiles(files []*File, clock *FakeClock) string {
	var sb strings.Builder
	buf := make([]byte, 64)
	for i, f := range files {
		n, err := f.Read(buf)
		sb.WriteString(strings.Join([]string{string(rune('A' + i)), string(buf[:max(n, 0)]), errString(err)}, " "))
		sb.WriteString(" " + f.Readiness(waiter.EventIn|waiter.EventOut).String() + "\n")
	}
	clock.Advance(time.Second)
	n, err := files[8].Read(buf)
	sb.WriteString("timer after a second: " + string(rune('0'+n)) + " " + errString(err) + "\n")
	return sb.String()
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// TestStateValidateRejects mutates a valid state in every way Validate
// must catch, and checks RestoreFiles refuses it too.
func TestStateValidateRejects(t *testing.T) {
	clock := NewFakeClock()
	files := stateFiles(t, clock)
	defer releaseFiles(files)
	sockWith := func(st *FilesState, peer bool) *SocketState {
		for i := range st.Sockets {
			if (st.Sockets[i].Peer >= 0) == peer && !st.Sockets[i].Dead {
				return &st.Sockets[i]
			}
		}
		t.Fatal("no such socket")
		return nil
	}
	withSkb := func(st *FilesState) *SkbState {
		for i := range st.Sockets {
			if len(st.Sockets[i].Recv) > 0 {
				return &st.Sockets[i].Recv[0]
			}
		}
		t.Fatal("no skb")
		return nil
	}
	ofKind := func(st *FilesState, k FileKind) *FileState {
		for i := range st.Files {
			if st.Files[i].Kind == k {
				return &st.Files[i]
			}
		}
		t.Fatalf("no file of kind %d", k)
		return nil
	}
	cases := []struct {
		name   string
		mutate func(st *FilesState)
		want   string
	}{
		{"kind", func(st *FilesState) { st.Files[0].Kind = kindCount }, "unknown kind"},
		{"access mode", func(st *FilesState) { st.Files[0].Flags |= AccessModeMask }, "access mode"},
		{"pipe range", func(st *FilesState) { st.Files[0].Object = 9 }, "pipe 9 out of range"},
		{"pipe ends", func(st *FilesState) { st.Pipes[0].Writers = 0 }, "readers and"},
		{"pipe no ends", func(st *FilesState) { st.Files[2].Kind = KindForeign; st.Pipes[1].Readers = 0 }, "0 read and 0 write"},
		{"pipe slots", func(st *FilesState) {
			for len(st.Pipes[0].Slots) <= pipeSlots {
				st.Pipes[0].Slots = append(st.Pipes[0].Slots, st.Pipes[0].Slots[0])
			}
		}, "slots"},
		{"pipe slot", func(st *FilesState) { st.Pipes[0].Slots[0].Off = pipePageSize - 1 }, "offset"},
		{"empty slot", func(st *FilesState) { st.Pipes[0].Slots[0].Data = nil }, "offset"},
		{"socket range", func(st *FilesState) { ofKind(st, KindSocket).Object = 99 }, "socket 99 out of range"},
		{"socket type", func(st *FilesState) { st.Sockets[0].Type = 99 }, "type 99"},
		{"socket dead", func(st *FilesState) { sockWith(st, false).Dead = true }, "dead=true"},
		{"shutdown", func(st *FilesState) { st.Sockets[0].Shutdown = 4 }, "shutdown bits"},
		{"error", func(st *FilesState) { st.Sockets[0].Err = 5000 }, "error 5000"},
		{"sndbuf", func(st *FilesState) { st.Sockets[0].Sndbuf = 0 }, "sndbuf"},
		{"peer self", func(st *FilesState) { st.Sockets[0].Peer = 0 }, "peer 0"},
		{"not connected", func(st *FilesState) { sockWith(st, true).Connected = false }, "not connected"},
		{"peer type", func(st *FilesState) {
			s := sockWith(st, true)
			st.Sockets[s.Peer].Type = unix.SOCK_SEQPACKET
		}, "another type"},
		{"sender", func(st *FilesState) { withSkb(st).Sender = -1 }, "sender"},
		{"truesize", func(st *FilesState) { withSkb(st).Truesize = 0 }, "truesize"},
		{"consumed", func(st *FilesState) { b := withSkb(st); b.Consumed = int64(len(b.Data)) }, "consumed"},
		{"charge", func(st *FilesState) { sockWith(st, true).Wmem += 1 }, "wmem"},
		{"timer clock", func(st *FilesState) { ofKind(st, KindTimerfd).Timer.ClockID = 99 }, "clock 99"},
		{"timer armed", func(st *FilesState) { ofKind(st, KindTimerfd).Timer.HasExpiry = false }, "without an expiry"},
		{"regular pages", func(st *FilesState) {
			r := &ofKind(st, KindRegular).Regular
			r.Pages = append(r.Pages, r.Pages[0])
		}, "page index"},
		{"regular size", func(st *FilesState) { ofKind(st, KindRegular).Regular.Size = -1 }, "size -1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := SaveFiles(files)
			if err != nil {
				t.Fatal(err)
			}
			c.mutate(&st)
			if err := st.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate: got %v, want an error mentioning %q", err, c.want)
			}
			if _, _, err := RestoreFiles(&st, clock); err == nil {
				t.Fatal("RestoreFiles accepted it")
			}
		})
	}
}

// TestSaveFilesRefusesReleased: a released file cannot be saved.
func TestSaveFilesRefusesReleased(t *testing.T) {
	f := NewEventfd(0, 0)
	f.DecRef()
	if _, err := SaveFiles([]*File{f}); err == nil || !strings.Contains(err.Error(), "released") {
		t.Fatalf("got %v", err)
	}
}
