package hostfd

import (
	"bytes"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/syscalls"
)

// guest is a syscall-layer task whose memory is mapped up to memEnd, with
// nothing mapped after it: a buffer at memEnd-k has k accessible bytes.
type guest struct {
	t     *testing.T
	task  *syscalls.Task
	table *fd.Table
	mem   *syscalls.GuestMemory
}

const (
	memBase = 0x100000
	memEnd  = memBase + 64*4096
	sysRd   = 0 // amd64 read
	sysWr   = 1 // amd64 write
)

func newGuest(t *testing.T) *guest {
	g := &guest{t: t, table: fd.NewTable(), mem: syscalls.NewGuestMemory()}
	if err := g.mem.Map(memBase, memEnd-memBase); err != nil {
		t.Fatal(err)
	}
	g.task = syscalls.NewTask(syscalls.NewKernel(), g.table, g.mem, syscalls.AMD64)
	t.Cleanup(g.table.CloseAll)
	return g
}

// install gives the guest a reference to f (taking the caller's).
func (g *guest) install(f *fs.File) uintptr {
	n, err := g.table.Install(f, 0, false)
	if err != nil {
		g.t.Fatal(err)
	}
	return uintptr(n)
}

// call returns the byte count, or -1 for EFAULT, -2 for EAGAIN.
func (g *guest) call(nr, fd uintptr, addr uint64, n int) int {
	r, e := g.task.Syscall(nr, [6]uintptr{fd, uintptr(addr), uintptr(n)})
	switch e {
	case 0:
		return int(r)
	case unix.EFAULT:
		return -1
	case unix.EAGAIN:
		return -2
	}
	g.t.Fatalf("syscall %d: %v", nr, e)
	return 0
}

func pattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + seed)
	}
	return b
}

// drainHost reads everything readable from a non-blocking imported file.
func drainHost(f *fs.File) []byte {
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := f.Read(buf)
		if err != nil || n == 0 {
			return out
		}
		out = append(out, buf[:n]...)
	}
}

// TestReadFaultKeepsBytes: a read of an imported host pipe or stream
// socket into a buffer that faults part-way never loses a byte: what is
// returned and what is left add up to what was written, in order; nothing
// is consumed when not one byte fits (EFAULT). A datagram is consumed and
// lost with EFAULT, as Linux does.
func TestReadFaultKeepsBytes(t *testing.T) {
	type rc struct {
		writes    []int
		n, mapped int
		want      int // -1: EFAULT
	}
	stream := []rc{
		{[]int{100}, 100, 0, -1},
		{[]int{100}, 100, 50, 50},
		{[]int{3000, 3000, 3000}, 9000, 5000, 5000},
		{[]int{8192}, 8192, 6000, 6000},
		{[]int{100}, 200, 150, 100},  // all of it fits: no fault at all
		{[]int{70000}, 70000, 0, -1}, // more than one staging buffer
		{[]int{60000}, 70000, 69000, 60000},
	}
	for _, c := range []struct {
		name  string
		make  func(b *Bridge) (r, w *fs.File)
		cases []rc
	}{
		{"pipe", func(b *Bridge) (*fs.File, *fs.File) {
			r, w, err := b.Pipe(unix.O_NONBLOCK)
			if err != nil {
				t.Fatal(err)
			}
			return r, w
		}, stream},
		{"stream", func(b *Bridge) (*fs.File, *fs.File) {
			x, y, err := b.SocketPair(unix.SOCK_STREAM, unix.O_NONBLOCK)
			if err != nil {
				t.Fatal(err)
			}
			return x, y
		}, stream},
		{"seqpacket", func(b *Bridge) (*fs.File, *fs.File) {
			x, y, err := b.SocketPair(unix.SOCK_SEQPACKET, unix.O_NONBLOCK)
			if err != nil {
				t.Fatal(err)
			}
			return x, y
		}, []rc{
			{[]int{100}, 100, 0, -1},
			{[]int{100}, 100, 50, -1},
			{[]int{3000, 3000, 3000}, 9000, 5000, 3000},
			{[]int{70000}, 70000, 69000, -1},
			{[]int{70000}, 80000, 80000, 70000}, // bigger than the staging buffer
		}},
	} {
		for _, r := range c.cases {
			t.Run(fmt.Sprintf("%s/%v/%d/%d", c.name, r.writes, r.n, r.mapped), func(t *testing.T) {
				b := newBridge(t, 1)
				g := newGuest(t)
				rd, wr := c.make(b)
				defer wr.DecRef()
				if c.name != "pipe" {
					// The socket's send buffer must hold the writes.
					_, h := hostOf(rd)
					unix.SetsockoptInt(int(h.fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
					_, h = hostOf(wr)
					unix.SetsockoptInt(int(h.fd), unix.SOL_SOCKET, unix.SO_SNDBUF, 1<<20)
				}
				if c.name == "pipe" {
					_, h := hostOf(wr)
					unix.FcntlInt(uintptr(h.fd), unix.F_SETPIPE_SZ, 1<<20)
				}
				var sent []byte
				for i, n := range r.writes {
					p := pattern(n, i)
					if w, err := wr.Write(p); w != n || err != nil {
						t.Fatalf("write %d: %d, %v", n, w, err)
					}
					sent = append(sent, p...)
				}
				rfd := g.install(rd)
				addr := uint64(memEnd - r.mapped)
				got := g.call(sysRd, rfd, addr, r.n)
				if got != r.want {
					t.Errorf("read %d with %d mapped: %d, want %d", r.n, r.mapped, got, r.want)
				}
				f, _, _ := g.table.Get(int32(rfd))
				left := drainHost(f)
				f.DecRef()
				var read []byte
				if got > 0 {
					read = make([]byte, got)
					g.mem.CopyIn(addr, read)
				}
				all := append(read, left...)
				if c.name == "seqpacket" && got == -1 {
					// The faulting message is gone, as in Linux.
					sent = sent[r.writes[0]:]
				}
				if !bytes.Equal(all, sent) {
					t.Errorf("read %d (%d bytes) and %d left: not the %d bytes written", got, len(read), len(left), len(sent))
				}
			})
		}
	}
}

// TestWriteFaultWritesPrefix: a write from a buffer that faults part-way
// writes the accessible whole pages to a pipe, the accessible prefix to a
// stream socket (EFAULT when none), and nothing of a message.
func TestWriteFaultWritesPrefix(t *testing.T) {
	for _, c := range []struct {
		typ       int // 0: pipe
		n, mapped int
		want      int
	}{
		{0, 100, 0, -1},
		{0, 100, 50, -1}, // the page that faults is dropped, as in Linux
		{0, 8192, 4096, 4096},
		{0, 12288, 8292, 8192},
		{unix.SOCK_STREAM, 8192, 6000, 6000},
		{unix.SOCK_SEQPACKET, 100, 50, -1},
		{unix.SOCK_SEQPACKET, 100, 100, 100},
	} {
		b := newBridge(t, 1)
		g := newGuest(t)
		var rd, wr *fs.File
		var err error
		if c.typ == 0 {
			rd, wr, err = b.Pipe(unix.O_NONBLOCK)
		} else {
			rd, wr, err = b.SocketPair(c.typ, unix.O_NONBLOCK)
		}
		if err != nil {
			t.Fatal(err)
		}
		src := pattern(c.n, 3)
		addr := uint64(memEnd - c.mapped)
		g.mem.CopyOut(addr, src[:c.mapped])
		wfd := g.install(wr)
		if got := g.call(sysWr, wfd, addr, c.n); got != c.want {
			t.Errorf("type %d: write %d with %d mapped: %d, want %d", c.typ, c.n, c.mapped, got, c.want)
		}
		want := src[:max(c.want, 0)]
		if got := drainHost(rd); !bytes.Equal(got, want) {
			t.Errorf("type %d: write %d with %d mapped: %d bytes arrived, want %d", c.typ, c.n, c.mapped, len(got), len(want))
		}
		// The errors that come before the copy still come first: a full
		// pipe or socket is EAGAIN, a closed reader EPIPE.
		for {
			if n, err := wr.Write(make([]byte, 4096)); n == 0 || err != nil {
				break
			}
		}
		if c.typ != unix.SOCK_SEQPACKET {
			if got := g.call(sysWr, wfd, uint64(memEnd), c.n); got != -2 {
				t.Errorf("type %d: faulting write into a full file: %d, want EAGAIN", c.typ, got)
			}
			rd.DecRef()
			if _, e := g.task.Syscall(sysWr, [6]uintptr{wfd, memEnd, uintptr(c.n)}); e != unix.EPIPE {
				t.Errorf("type %d: faulting write with the reader closed: %v, want EPIPE", c.typ, e)
			}
		} else {
			rd.DecRef()
		}
	}
}
