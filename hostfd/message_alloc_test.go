//go:build !race

// Allocation counts need a build without the race detector, whose
// sync.Pool drops items at random.

package hostfd

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
)

// TestMessageIONoAllocations: sendto and recvfrom with flags (a socket
// pair's, no address) allocate nothing, an EAGAIN included.
func TestMessageIONoAllocations(t *testing.T) {
	b := newBridge(t, 1)
	x, y, err := b.SocketPair(unix.SOCK_STREAM, unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer x.DecRef()
	defer y.DecRef()
	xm, ym := x.Impl().(fs.MessageIO), y.Impl().(fs.MessageIO)
	buf := make([]byte, 8)
	seq := fs.NewByteSequence(buf)
	if n := testing.AllocsPerRun(100, func() {
		seq.Reset(buf)
		xm.SendSeq(x, seq, unix.MSG_NOSIGNAL, nil)
		seq.Reset(buf)
		ym.RecvSeq(y, seq, unix.MSG_PEEK)
		seq.Reset(buf)
		ym.RecvSeq(y, seq, unix.MSG_DONTWAIT)
		seq.Reset(buf)
		ym.RecvSeq(y, seq, 0) // EAGAIN
	}); n != 0 {
		t.Fatalf("%v allocations per send and receives", n)
	}
}
