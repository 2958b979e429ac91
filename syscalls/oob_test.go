package syscalls

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSendRecvOOB replays a C program's run on Linux 6.18: MSG_OOB on a
// stream socketpair (the mark, PRI, the byte left behind), MSG_PEEK, and
// the flags' errors on the other types.
func TestSendRecvOOB(t *testing.T) {
	x := newTT(t, AMD64)
	sv := uint64(memBase + 0x800)
	x.must(sysSocketpair, unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0, uintptr(sv))
	a, b := uintptr(0), uintptr(1)
	send := func(fd uintptr, s string, flags uintptr) {
		t.Helper()
		x.put(bufAt, []byte(s))
		if n := x.must(sysSendto, fd, bufAt, uintptr(len(s)), flags, 0, 0); n != uintptr(len(s)) {
			t.Fatalf("send %q: %d", s, n)
		}
	}
	recv := func(flags uintptr, want string, wantErr unix.Errno) {
		t.Helper()
		x.put(bufAt+0x100, make([]byte, 10))
		n, e := x.call(sysRecvfrom, b, bufAt+0x100, 10, flags, 0, 0)
		if e != wantErr || e == 0 && !bytes.Equal(x.get(bufAt+0x100, int(n)), []byte(want)) {
			t.Errorf("recv flags %#x: %q %s, want %q %s", flags, x.get(bufAt+0x100, int(n)), sx(e), want, sx(wantErr))
		}
	}
	x.expectErr("empty OOB send", unix.EOPNOTSUPP, sysSendto, a, bufAt, 0, unix.MSG_OOB, 0, 0)
	recv(unix.MSG_OOB, "", unix.EINVAL)
	send(a, "abc", unix.MSG_OOB)
	x.expectPoll("OOB pending", b, 0x347)
	recv(unix.MSG_PEEK, "ab", 0)
	recv(unix.MSG_OOB|unix.MSG_PEEK, "c", 0)
	x.expectPoll("after peeks", b, 0x347)
	recv(0, "ab", 0)
	x.expectPoll("at the mark", b, 0x347)
	recv(unix.MSG_OOB, "c", 0)
	x.expectPoll("OOB read", b, 0x345)
	recv(unix.MSG_OOB, "", unix.EINVAL)
	recv(0, "", unix.EAGAIN)
	x.expectPoll("drained", b, 0x304)

	send(a, "ab", unix.MSG_OOB)
	send(a, "cd", 0)
	recv(unix.MSG_PEEK, "a", 0)
	recv(0, "a", 0)
	x.expectPoll("mark before b", b, 0x347)
	recv(unix.MSG_PEEK, "cd", 0)
	recv(0, "cd", 0)
	x.expectPoll("b dropped", b, 0x304)

	send(a, "x", unix.MSG_OOB)
	send(a, "y", unix.MSG_OOB)
	recv(0, "x", 0)
	x.expectPoll("y pending", b, 0x347)
	recv(unix.MSG_OOB, "y", 0)
	recv(0, "", unix.EAGAIN)

	send(a, "z", unix.MSG_OOB)
	recv(unix.MSG_PEEK, "", unix.EAGAIN)
	recv(0, "", unix.EAGAIN)
	x.expectPoll("z dropped by the read", b, 0x304)

	send(a, "12", 0)
	send(a, "3", unix.MSG_OOB)
	send(a, "45", 0)
	recv(0, "12", 0)
	recv(0, "45", 0)

	x.expectErr("sendto with an address", unix.EISCONN, sysSendto, a, bufAt, 1, 0, addrAt, 2)
	x.expectErr("sendto address fault", unix.EFAULT, sysSendto, a, bufAt, 1, 0, hole, 2)
	if n := x.must(sysSendto, a, bufAt, 1, 0, addrAt, 0); n != 1 {
		t.Errorf("sendto with addrlen 0: %d", n)
	}
	x.expectErr("recvfrom addrlen fault", unix.EFAULT, sysRecvfrom, b, bufAt, 1, 0, addrAt, hole)

	for _, typ := range []uintptr{unix.SOCK_DGRAM, unix.SOCK_SEQPACKET} {
		x.must(sysSocketpair, unix.AF_UNIX, typ, 0, uintptr(sv))
		d0, d1 := uintptr(x.get(sv, 1)[0]), uintptr(x.get(sv+4, 1)[0])
		x.expectErr("OOB send", unix.EOPNOTSUPP, sysSendto, d0, bufAt, 1, unix.MSG_OOB, 0, 0)
		x.expectErr("OOB recv", unix.EOPNOTSUPP, sysRecvfrom, d1, bufAt, 1, unix.MSG_OOB, 0, 0)
		x.expectErr("DONTWAIT", unix.EAGAIN, sysRecvfrom, d1, bufAt, 1, unix.MSG_DONTWAIT, 0, 0)
		x.put(bufAt, []byte("abc"))
		x.must(sysSendto, d0, bufAt, 3, 0, 0, 0)
		if n := x.must(sysRecvfrom, d1, bufAt+0x100, 1, unix.MSG_PEEK, 0, 0); n != 1 {
			t.Errorf("short peek %d", n)
		}
		if n := x.must(sysRecvfrom, d1, bufAt+0x100, 10, unix.MSG_PEEK, 0, 0); n != 3 {
			t.Errorf("peek %d", n)
		}
		if n := x.must(sysRecvfrom, d1, bufAt+0x100, 10, 0, 0, 0); n != 3 {
			t.Errorf("recv %d", n)
		}
	}
	u := x.must(sysSocket, unix.AF_UNIX, unix.SOCK_STREAM, 0)
	x.expectErr("OOB recv unconnected", unix.EINVAL, sysRecvfrom, u, bufAt, 1, unix.MSG_OOB, 0, 0)
	x.expectErr("OOB send unconnected", unix.ENOTCONN, sysSendto, u, bufAt, 1, unix.MSG_OOB, 0, 0)
	x.must(sysShutdown, b, unix.SHUT_RD)
	x.expectErr("OOB to a shut reader", unix.EPIPE, sysSendto, a, bufAt, 1, unix.MSG_OOB|unix.MSG_NOSIGNAL, 0, 0)
	// Empty buffers (Linux 6.18): a stream recv of 0 bytes is EAGAIN
	// without data and 0 with, consuming nothing; MSG_OOB takes the byte.
	x.must(sysSocketpair, unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0, uintptr(sv))
	e0, e1 := uintptr(x.get(sv, 1)[0]), uintptr(x.get(sv+4, 1)[0])
	x.expectErr("empty recv, nothing queued", unix.EAGAIN, sysRecvfrom, e1, bufAt, 0, 0, 0, 0)
	x.put(bufAt, []byte("ab"))
	x.must(sysSendto, e0, bufAt, 2, 0, 0, 0)
	if n := x.must(sysRecvfrom, e1, bufAt, 0, 0, 0, 0); n != 0 {
		t.Errorf("empty recv with data: %d", n)
	}
	if n := x.must(sysRecvfrom, e1, bufAt, 10, 0, 0, 0); n != 2 {
		t.Errorf("recv after an empty one: %d", n)
	}
	x.must(sysSendto, e0, bufAt, 1, unix.MSG_OOB, 0, 0)
	if n := x.must(sysRecvfrom, e1, bufAt, 0, unix.MSG_OOB, 0, 0); n != 1 {
		t.Errorf("empty OOB recv: %d", n)
	}
	x.expectPoll("OOB byte taken by an empty recv", e1, 0x345)
	d := x.must(sysSocket, unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	x.put(addrAt, []byte{'a', 'b', 'c'})
	x.expectErr("datagram to a bad address", unix.EINVAL, sysSendto, d, bufAt, 1, 0, addrAt, 3)
	x.expectErr("recvfrom a pipe", unix.ENOTSOCK, sysRecvfrom, x.eventfd(0, 0), bufAt, 1, 0, 0, 0)
}
