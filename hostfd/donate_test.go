package hostfd

import (
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
)

func connPair(t *testing.T, typ int) (*Conn, *Conn) {
	t.Helper()
	a, b, err := SocketPair(typ)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// TestDonateSeveralFDsPerMessage sends imported files and raw fds, several
// per message, in several messages, and checks each arrives with its own
// message and works.
func TestDonateSeveralFDsPerMessage(t *testing.T) {
	for _, typ := range []int{unix.SOCK_SEQPACKET, unix.SOCK_STREAM} {
		before := countFDs(t)
		func() {
			br := newBridge(t, 1)
			a, b := connPair(t, typ)
			r, w, err := br.Pipe(unix.O_NONBLOCK)
			if err != nil {
				t.Fatal(err)
			}
			e, _ := br.Eventfd(0, unix.O_NONBLOCK)
			defer r.DecRef()
			defer w.DecRef()
			defer e.DecRef()
			if err := a.SendFiles([]byte("first"), []*fs.File{w, e}); err != nil {
				t.Fatal(err)
			}
			if err := a.Send([]byte("no fds"), nil); err != nil {
				t.Fatal(err)
			}
			p0, p1 := hostPipe(t)
			if err := a.Send([]byte("third"), []int{p0, p1, p1}); err != nil {
				t.Fatal(err)
			}
			unix.Close(p0)
			unix.Close(p1)

			buf := make([]byte, 64)
			n, files, err := b.RecvFiles(br, buf)
			if err != nil || string(buf[:n]) != "first" || len(files) != 2 {
				t.Fatalf("first message: %q, %d files, %v", buf[:n], len(files), err)
			}
			// The donated write end writes into our pipe.
			if n, err := files[0].Write([]byte("via donated fd")); n != 14 || err != nil {
				t.Fatal(n, err)
			}
			if n, _ := r.Read(buf); string(buf[:n]) != "via donated fd" {
				t.Fatalf("read %q", buf[:n])
			}
			if KindOf(files[1]) != KindEventfd {
				t.Fatal("donated eventfd imported as", KindOf(files[1]))
			}
			for _, f := range files {
				f.DecRef()
			}
			n, fds, err := b.Recv(buf)
			if err != nil || string(buf[:n]) != "no fds" || len(fds) != 0 {
				t.Fatalf("second message: %q, %v, %v", buf[:n], fds, err)
			}
			n, fds, err = b.Recv(buf)
			if err != nil || string(buf[:n]) != "third" || len(fds) != 3 {
				t.Fatalf("third message: %q, %v, %v", buf[:n], fds, err)
			}
			closeAll(fds, nil)
			a.Close()
			if _, _, err := b.Recv(buf); err != ErrPeerClosed || Classify(err) != ClassPeerClosed {
				t.Fatalf("recv after peer close: %v", err)
			}
			if err := b.Send([]byte("x"), nil); Classify(err) != ClassPeerClosed {
				t.Fatalf("send after peer close: %v (%v)", err, Classify(err))
			}
			b.Close()
			if err := b.Send(nil, nil); Classify(err) != ClassBroken {
				t.Fatalf("send on closed Conn: %v", err)
			}
			br.Close() // its eventfd; the files still close theirs
		}()
		if after := countFDs(t); after != before {
			t.Fatalf("type %d: %d fds open after the test, %d before", typ, after, before)
		}
	}
}

// TestDonateCtrunc: a message with more fds than the receiver accepts is
// an error, every fd that arrived is closed, and the next message is
// received normally.
func TestDonateCtrunc(t *testing.T) {
	for _, typ := range []int{unix.SOCK_SEQPACKET, unix.SOCK_STREAM} {
		a, b := connPair(t, typ)
		b.MaxFDs = 2
		p0, p1 := hostPipe(t)
		before := countFDs(t)
		if err := a.Send([]byte("too many"), []int{p0, p1, p0, p1, p0}); err != nil {
			t.Fatal(err)
		}
		if err := a.Send([]byte("next"), []int{p1}); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		if _, fds, err := b.Recv(buf); err != ErrCtrunc || fds != nil || Classify(err) != ClassOther {
			t.Fatalf("type %d: recv of 5 fds with room for 2: %v, %v", typ, fds, err)
		}
		if after := countFDs(t); after != before {
			t.Fatalf("type %d: %d fds after MSG_CTRUNC, %d before", typ, after, before)
		}
		n, fds, err := b.Recv(buf)
		if err != nil || string(buf[:n]) != "next" || len(fds) != 1 {
			t.Fatalf("type %d: message after MSG_CTRUNC: %q %v %v", typ, buf[:n], fds, err)
		}
		closeAll(fds, nil)
		// A payload larger than the buffer: lost, fds closed, in step.
		a.Send(make([]byte, 100), []int{p0})
		a.Send([]byte("ok"), nil)
		if _, _, err := b.Recv(buf); err != ErrTruncated {
			t.Fatalf("type %d: oversized payload: %v", typ, err)
		}
		if n, _, err := b.Recv(buf); err != nil || string(buf[:n]) != "ok" {
			t.Fatalf("type %d: after an oversized payload: %q %v", typ, buf[:n], err)
		}
		if after := countFDs(t); after != before {
			t.Fatalf("type %d: %d fds at the end, %d before", typ, after, before)
		}
		unix.Close(p0)
		unix.Close(p1)
	}
}

// TestDonateFraming: a peer that does not follow the framing is detected.
func TestDonateFraming(t *testing.T) {
	fds, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	defer unix.Close(fds[0])
	c, err := NewConn(fds[1])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A header announcing 2 fds with none attached.
	unix.Write(fds[0], []byte{1, 0, 0, 0, 2, 0, 0, 0, 'x'})
	if _, _, err := c.Recv(make([]byte, 8)); err != ErrFraming || Classify(err) != ClassBroken {
		t.Fatalf("bad header: %v", err)
	}
	for _, c := range []struct {
		err  error
		want ErrorClass
	}{{unix.EINTR, ClassRetry}, {unix.EAGAIN, ClassRetry}, {unix.ECONNRESET, ClassPeerClosed},
		{unix.EBADF, ClassBroken}, {unix.EMFILE, ClassOther}, {nil, ClassNone}} {
		if got := Classify(c.err); got != c.want {
			t.Errorf("Classify(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestListenAccept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan *Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Error(err)
		}
		done <- c
	}()
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := <-done
	if s == nil {
		t.FailNow()
	}
	defer s.Close()
	p0, p1 := hostPipe(t)
	defer unix.Close(p0)
	defer unix.Close(p1)
	if err := c.Send([]byte("hi"), []int{p1}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	n, fds, err := s.Recv(buf)
	if err != nil || n != 2 || len(fds) != 1 {
		t.Fatal(n, fds, err)
	}
	unix.Write(fds[0], []byte("z"))
	if n, _ := unix.Read(p0, buf); n != 1 || buf[0] != 'z' {
		t.Fatal("donated pipe end does not reach the pipe")
	}
	unix.Close(fds[0])
}

// TestRecvFilesImportFailureCloses: when importing a received message's
// fds fails, every fd of the message is closed (counted in /proc/self/fd).
func TestRecvFilesImportFailureCloses(t *testing.T) {
	br := newBridge(t, 1)
	a, b := connPair(t, unix.SOCK_SEQPACKET)
	p0, p1 := hostPipe(t)
	defer unix.Close(p0)
	defer unix.Close(p1)
	br.Close()
	before := countFDs(t)
	if err := a.Send([]byte("x"), []int{p0, p1, p0}); err != nil {
		t.Fatal(err)
	}
	if _, files, err := b.RecvFiles(br, make([]byte, 8)); err != ErrBridgeClosed || files != nil {
		t.Fatalf("RecvFiles on a closed bridge: %v, %v", files, err)
	}
	if after := countFDs(t); after != before {
		t.Fatalf("%d fds after a failed RecvFiles, %d before", after, before)
	}
}
