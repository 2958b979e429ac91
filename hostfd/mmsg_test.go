package hostfd

import (
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestMmsg(t *testing.T) {
	br := newBridge(t, 1)
	// One end made here, the other a raw host socket: the batch calls see
	// host traffic through the poller.
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	f, err := br.Import(fds[0], ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.DecRef()
	var b Batch
	out := [][]byte{[]byte("one"), []byte("two"), []byte("three")}
	if n, err := b.SendMmsg(f, out, nil); n != 3 || err != nil {
		t.Fatalf("sendmmsg: %d, %v", n, err)
	}
	buf := make([]byte, 16)
	for _, want := range []string{"one", "two", "three"} {
		n, _ := unix.Read(fds[1], buf)
		if string(buf[:n]) != want {
			t.Fatalf("host read %q, want %q", buf[:n], want)
		}
	}
	bufs := [][]byte{make([]byte, 8), make([]byte, 8), make([]byte, 8), make([]byte, 8)}
	sizes := make([]int, 4)
	// Blocks until the host sends, then takes what is queued.
	go func() {
		time.Sleep(20 * time.Millisecond)
		for i := 0; i < 3; i++ {
			unix.Write(fds[1], []byte(fmt.Sprint("d", i)))
		}
	}()
	got := 0
	for got < 3 {
		n, err := b.RecvMmsg(f, bufs, sizes, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			if s := string(bufs[i][:sizes[i]]); s != fmt.Sprint("d", got+i) {
				t.Fatalf("datagram %d is %q", got+i, s)
			}
		}
		got += n
	}
	// A stop signal ends a blocked call.
	stop := make(chan struct{})
	go func() { time.Sleep(20 * time.Millisecond); close(stop) }()
	if _, err := b.RecvMmsg(f, bufs, sizes, stop); err != ErrStopped {
		t.Fatalf("recvmmsg with stop: %v", err)
	}
	x := []byte("x")
	if n := testing.AllocsPerRun(50, func() {
		unix.Write(fds[1], x)
		b.RecvMmsg(f, bufs, sizes, nil)
	}); n != 0 {
		t.Errorf("RecvMmsg allocates %v per call", n)
	}
}
