package fs

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// v3World makes files of every version-3 kind: a resized pipe, FIFO ends
// (one with f_pipe set) in a path namespace, a listener with an embryo
// holding data, a client, and a stream pair with an OOB byte pending.
func v3World(t *testing.T) ([]*File, Names) {
	t.Helper()
	names := Names{Unix: NewUnixNamespace(), Paths: NewPathNamespace()}
	var files []*File
	r, w := NewPipe(unix.O_NONBLOCK)
	if _, err := w.impl.(PipeSizer).SetPipeSize(8192); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("pipe"))
	files = append(files, r, w)
	if err := names.Paths.Mkdir("/tmp/d"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/tmp/d/f", "/tmp/g"} {
		if err := names.Paths.Mknod(p, unix.S_IFIFO); err != nil {
			t.Fatal(err)
		}
	}
	fr := openFIFO(t, names.Paths, "/tmp/d/f", unix.O_RDONLY|unix.O_NONBLOCK) // f_pipe 0 -> HUP later
	frw := openFIFO(t, names.Paths, "/tmp/d/f", unix.O_RDWR)
	frw.Write([]byte("fifo"))
	files = append(files, fr, frw)
	l, err := NewSocket(unix.SOCK_STREAM, unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	l.impl.(Listener).Bind(l, names, []byte("\x00ls"))
	l.impl.(Listener).Listen(l, 3)
	c, _ := NewSocket(unix.SOCK_STREAM, 0)
	if _, err := c.impl.(Listener).Connect(c, names, []byte("\x00ls")); err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("hello"))
	a, b, _ := NewSocketPair(unix.SOCK_STREAM, unix.O_NONBLOCK)
	a.impl.(MessageIO).SendSeq(a, NewByteSequence([]byte("xy")), unix.MSG_OOB, nil)
	files = append(files, l, c, a, b)
	return files, names
}

// observeV3 drives every file the same way and records what it sees.
func observeV3(t *testing.T, files []*File, names Names) string {
	var sb strings.Builder
	buf := make([]byte, 16)
	line := func(what string, n int, err error) {
		sb.WriteString(what + " " + string(buf[:max(n, 0)]) + " " + errString(err) + "\n")
	}
	for i, f := range files {
		sb.WriteString(string(rune('A'+i)) + " " + f.Readiness(full).String() + "\n")
	}
	sb.WriteString("pipe size " + string(rune('0'+files[1].impl.(PipeSizer).PipeSize()/4096)) + "\n")
	n, from, err := files[7].impl.(MessageIO).RecvSeq(files[7], NewByteSequence(buf), unix.MSG_OOB)
	line("oob "+string(from), n, err)
	n, err = files[7].Read(buf)
	line("inline", n, err)
	a, err := files[4].impl.(Listener).Accept(files[4], 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.DecRef()
	n, err = a.Read(buf)
	line("accepted", n, err)
	files[3].DecRef() // the FIFO's O_RDWR file: the reader now sees HUP
	files[3] = nil
	sb.WriteString("fifo reader " + files[2].Readiness(full).String() + "\n")
	n, err = files[2].Read(buf)
	line("fifo", n, err)
	if _, err := names.Paths.OpenFIFO("/tmp/g", unix.O_WRONLY|unix.O_NONBLOCK); err != nil {
		sb.WriteString("g " + err.Error() + "\n")
	}
	s, _ := NewSocket(unix.SOCK_STREAM, 0)
	defer s.DecRef()
	sb.WriteString("rebind " + errString(s.impl.(Listener).Bind(s, names, []byte("\x00ls"))) + "\n")
	return sb.String()
}

// TestNamesStateRoundTrip saves and restores the version-3 kinds and
// checks that the restored world saves the same and behaves the same.
func TestNamesStateRoundTrip(t *testing.T) {
	files, names := v3World(t)
	st, err := SaveFilesAndNames(files, names)
	if err != nil {
		t.Fatal(err)
	}
	restored, rnames, start, err := RestoreFilesAndNames(&st, nil)
	if err != nil {
		t.Fatal(err)
	}
	start()
	checkInv(t, restored...)
	st2, err := SaveFilesAndNames(restored, rnames)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, st2); diff != "" {
		t.Fatalf("restored files save differently (-saved +restored):\n%s", diff)
	}
	want, got := observeV3(t, files, names), observeV3(t, restored, rnames)
	if got != want {
		t.Errorf("restored files behave differently:\n--- saved\n%s--- restored\n%s", want, got)
	}
	if !strings.Contains(want, "oob  y ok") || !strings.Contains(want, "accepted hello ok") {
		t.Errorf("the world has no OOB byte:\n%s", want)
	}
	releaseFiles(files)
	releaseFiles(restored)
}
