package fs

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

const (
	dataKey  = waiter.EventIn | waiter.EventPri | waiter.EventRdNorm | waiter.EventRdBand
	spaceKey = waiter.EventOut | waiter.EventWrNorm | waiter.EventWrBand
)

func pair(t *testing.T, typ int) (a, b *File) {
	t.Helper()
	a, b, err := NewSocketPair(typ, unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

func shut(t *testing.T, f *File, how int) {
	t.Helper()
	if err := f.impl.(Shutdowner).Shutdown(f, how); err != nil {
		t.Fatalf("shutdown(%d): %v", how, err)
	}
}

var sockTypes = []struct {
	name string
	typ  int
}{{"stream", unix.SOCK_STREAM}, {"dgram", unix.SOCK_DGRAM}, {"seqpacket", unix.SOCK_SEQPACKET}}

func TestSocketCreate(t *testing.T) {
	for _, tc := range []struct {
		typ     int
		flags   uint32
		err     error
		effType int
	}{
		{unix.SOCK_STREAM, 0, nil, unix.SOCK_STREAM},
		{unix.SOCK_DGRAM, unix.O_NONBLOCK, nil, unix.SOCK_DGRAM},
		{unix.SOCK_SEQPACKET, unix.O_NONBLOCK | unix.O_CLOEXEC, nil, unix.SOCK_SEQPACKET},
		{unix.SOCK_RAW, 0, nil, unix.SOCK_DGRAM},
		{0, 0, unix.ESOCKTNOSUPPORT, 0},
		{unix.SOCK_RDM, 0, unix.ESOCKTNOSUPPORT, 0},
		{unix.SOCK_DCCP, 0, unix.ESOCKTNOSUPPORT, 0},
		{7, 0, unix.ESOCKTNOSUPPORT, 0},
		{unix.SOCK_PACKET, 0, unix.ESOCKTNOSUPPORT, 0},
		{11, 0, unix.EINVAL, 0},
		{15, 0, unix.EINVAL, 0},
		{-1, 0, unix.EINVAL, 0},
		{unix.SOCK_STREAM, unix.O_DIRECT, unix.EINVAL, 0},
	} {
		a, b, err := NewSocketPair(tc.typ, tc.flags)
		expectErr(t, "socketpair", err, tc.err)
		s, err2 := NewSocket(tc.typ, tc.flags)
		expectErr(t, "socket", err2, tc.err)
		if err != nil {
			continue
		}
		for _, f := range []*File{a, b, s} {
			if got := f.impl.(Socket).Type(); got != tc.effType {
				t.Errorf("type %d: got %d", tc.typ, got)
			}
			if got := f.StatusFlags(); got != unix.O_RDWR|tc.flags&unix.O_NONBLOCK {
				t.Errorf("type %d: flags %#o", tc.typ, got)
			}
		}
	}
}

func TestSocketMasks(t *testing.T) {
	type step func(t *testing.T, a, b *File)
	send := func(t *testing.T, a, b *File) { b.Write([]byte("hello")) } // to a
	for _, tc := range []struct {
		name  string
		typ   int
		setup step
		a, b  waiter.EventMask // b is not checked once released
	}{
		{"stream fresh", unix.SOCK_STREAM, func(*testing.T, *File, *File) {}, 0x304, 0x304},
		{"stream data", unix.SOCK_STREAM, send, 0x345, 0x304},
		{"stream peer SHUT_WR", unix.SOCK_STREAM, func(t *testing.T, a, b *File) { send(t, a, b); shut(t, b, unix.SHUT_WR) }, 0x2345, 0x304},
		{"stream own SHUT_RD", unix.SOCK_STREAM, func(t *testing.T, a, b *File) { send(t, a, b); shut(t, a, unix.SHUT_RD) }, 0x2345, 0x304},
		{"stream own SHUT_RDWR", unix.SOCK_STREAM, func(t *testing.T, a, b *File) { shut(t, a, unix.SHUT_RDWR) }, 0x2355, 0x2355},
		{"stream peer closed", unix.SOCK_STREAM, func(t *testing.T, a, b *File) { b.DecRef() }, 0x2355, 0},
		{"stream peer closed with unread data", unix.SOCK_STREAM, func(t *testing.T, a, b *File) { a.Write([]byte("x")); b.DecRef() }, 0x235d, 0},
		{"dgram fresh", unix.SOCK_DGRAM, func(*testing.T, *File, *File) {}, 0x304, 0x304},
		{"dgram data", unix.SOCK_DGRAM, send, 0x345, 0x304},
		{"dgram peer SHUT_WR", unix.SOCK_DGRAM, func(t *testing.T, a, b *File) { send(t, a, b); shut(t, b, unix.SHUT_WR) }, 0x345, 0x304},
		{"dgram own SHUT_RD", unix.SOCK_DGRAM, func(t *testing.T, a, b *File) { shut(t, a, unix.SHUT_RD) }, 0x2345, 0x304},
		{"dgram own SHUT_RDWR", unix.SOCK_DGRAM, func(t *testing.T, a, b *File) { shut(t, a, unix.SHUT_RDWR) }, 0x2355, 0x304},
		{"dgram peer closed", unix.SOCK_DGRAM, func(t *testing.T, a, b *File) { b.DecRef() }, 0x304, 0},
		{"dgram peer closed, send refused", unix.SOCK_DGRAM, func(t *testing.T, a, b *File) {
			send(t, a, b)
			b.DecRef()
			n, err := a.Write([]byte("x"))
			mustN(t, "send", n, err, 0, unix.ECONNREFUSED)
		}, 0x304, 0},
		{"seqpacket fresh", unix.SOCK_SEQPACKET, func(*testing.T, *File, *File) {}, 0x304, 0x304},
		{"seqpacket data", unix.SOCK_SEQPACKET, send, 0x345, 0x304},
		{"seqpacket peer SHUT_WR", unix.SOCK_SEQPACKET, func(t *testing.T, a, b *File) { send(t, a, b); shut(t, b, unix.SHUT_WR) }, 0x2345, 0x304},
		{"seqpacket peer closed", unix.SOCK_SEQPACKET, func(t *testing.T, a, b *File) { b.DecRef() }, 0x2355, 0},
		{"seqpacket peer closed with unread data", unix.SOCK_SEQPACKET, func(t *testing.T, a, b *File) { a.Write([]byte("x")); b.DecRef() }, 0x235d, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := pair(t, tc.typ)
			tc.setup(t, a, b)
			expectMask(t, "a", a, tc.a)
			checkInv(t, a)
			if !b.Released() {
				expectMask(t, "b", b, tc.b)
				checkInv(t, b)
			}
		})
	}
	for _, tc := range []struct {
		typ  int
		want waiter.EventMask
	}{{unix.SOCK_STREAM, 0x314}, {unix.SOCK_DGRAM, 0x304}, {unix.SOCK_SEQPACKET, 0x314}} {
		s, _ := NewSocket(tc.typ, unix.O_NONBLOCK)
		expectMask(t, "unconnected", s, tc.want)
		shut(t, s, unix.SHUT_RDWR)
		expectMask(t, "unconnected, shut", s, tc.want|0x2051)
	}
}

func TestSocketDgramOutOnlyWhenAsked(t *testing.T) {
	for _, typ := range []int{unix.SOCK_DGRAM, unix.SOCK_SEQPACKET} {
		a, _ := pair(t, typ)
		if got := a.Readiness(waiter.EventIn); got != 0 {
			t.Errorf("type %d, IN only: %v", typ, got)
		}
		if got := a.Readiness(waiter.EventWrBand); got != spaceKey {
			t.Errorf("type %d, WRBAND: %v", typ, got)
		}
	}
	a, _ := pair(t, unix.SOCK_STREAM)
	if got := a.Readiness(waiter.EventIn); got != spaceKey {
		t.Errorf("stream, IN only: %v", got)
	}
}

func TestSocketErrors(t *testing.T) {
	buf := make([]byte, 10)
	t.Run("unconnected", func(t *testing.T) {
		for _, tc := range []struct {
			typ           int
			read, write   error
			readAfterShut error
		}{
			{unix.SOCK_STREAM, unix.EINVAL, unix.ENOTCONN, unix.EINVAL},
			{unix.SOCK_DGRAM, unix.EAGAIN, unix.ENOTCONN, unix.EAGAIN},
			{unix.SOCK_SEQPACKET, unix.ENOTCONN, unix.ENOTCONN, unix.ENOTCONN},
		} {
			s, _ := NewSocket(tc.typ, unix.O_NONBLOCK)
			n, err := s.Read(buf)
			mustN(t, "read", n, err, 0, tc.read)
			n, err = s.Read(nil)
			mustN(t, "null read", n, err, 0, nil)
			n, err = s.Write(buf)
			mustN(t, "write", n, err, 0, tc.write)
			n, err = s.Write(nil)
			mustN(t, "null write", n, err, 0, tc.write)
			if err := s.impl.(Shutdowner).Shutdown(s, unix.SHUT_WR); err != nil {
				t.Errorf("shutdown of an unconnected socket: %v", err)
			}
			wantW := tc.write
			if tc.typ == unix.SOCK_DGRAM {
				wantW = unix.EPIPE // the send-buffer check comes first
			}
			n, err = s.Write(buf)
			mustN(t, "write after SHUT_WR", n, err, 0, wantW)
			shut(t, s, unix.SHUT_RD)
			n, err = s.Read(buf)
			mustN(t, "read after SHUT_RD", n, err, 0, tc.readAfterShut)
			for _, how := range []int{-1, 3, 5} {
				expectErr(t, "bad how", s.impl.(Shutdowner).Shutdown(s, how), unix.EINVAL)
			}
		}
	})
	t.Run("stream", func(t *testing.T) {
		a, b := pair(t, unix.SOCK_STREAM)
		shut(t, a, unix.SHUT_WR)
		n, err := a.Write(buf)
		mustN(t, "after own SHUT_WR", n, err, 0, unix.EPIPE)
		n, err = a.Write(nil)
		mustN(t, "null write after own SHUT_WR", n, err, 0, unix.EPIPE)
		n, err = b.Read(buf)
		mustN(t, "peer shut writing: EOF", n, err, 0, nil)
		shut(t, b, unix.SHUT_RD)
		n, err = a.Write(buf)
		mustN(t, "peer SHUT_RD", n, err, 0, unix.EPIPE)

		a, b = pair(t, unix.SOCK_STREAM)
		n, err = a.Read(buf)
		mustN(t, "empty", n, err, 0, unix.EAGAIN)
		a.Write([]byte("abc"))
		b.Write([]byte("de"))
		b.DecRef()
		n, err = a.Write(buf)
		mustN(t, "peer closed", n, err, 0, unix.EPIPE)
		expectMask(t, "ERR until read", a, 0x235d)
		n, err = a.Read(buf)
		mustN(t, "data first", n, err, 2, nil)
		expectMask(t, "still ERR", a, 0x235d)
		n, err = a.Read(buf)
		mustN(t, "then the error", n, err, 0, unix.ECONNRESET)
		expectMask(t, "error cleared", a, 0x2355)
		n, err = a.Read(buf)
		mustN(t, "then EOF", n, err, 0, nil)
		checkInv(t, a)
	})
	t.Run("seqpacket", func(t *testing.T) {
		a, b := pair(t, unix.SOCK_SEQPACKET)
		a.Write([]byte("abc"))
		b.Write([]byte("de"))
		b.DecRef()
		// unix_dgram_recvmsg reports the error before the data.
		n, err := a.Read(buf)
		mustN(t, "error first", n, err, 0, unix.ECONNRESET)
		n, err = a.Read(buf)
		mustN(t, "then data", n, err, 2, nil)
		n, err = a.Read(buf)
		mustN(t, "then EOF", n, err, 0, nil)
		n, err = a.Write(buf)
		mustN(t, "peer closed", n, err, 0, unix.EPIPE)

		a, b = pair(t, unix.SOCK_SEQPACKET)
		a.Write([]byte("abc"))
		b.DecRef()
		n, err = a.Write(buf)
		mustN(t, "send reports the error first", n, err, 0, unix.ECONNRESET)
		n, err = a.Write(buf)
		mustN(t, "then EPIPE", n, err, 0, unix.EPIPE)

		a, b = pair(t, unix.SOCK_SEQPACKET)
		shut(t, a, unix.SHUT_RD)
		n, err = a.Read(buf)
		mustN(t, "receive shut: EOF even non-blocking", n, err, 0, nil)
		n, err = b.Write(buf)
		mustN(t, "peer receive shut", n, err, 0, unix.EPIPE)
	})
	t.Run("dgram", func(t *testing.T) {
		a, b := pair(t, unix.SOCK_DGRAM)
		shut(t, a, unix.SHUT_WR)
		n, err := a.Write(buf)
		mustN(t, "own SHUT_WR", n, err, 0, unix.EPIPE)
		n, err = b.Write(buf)
		mustN(t, "peer's sending is not shut", n, err, 10, nil)
		n, err = a.Write(make([]byte, 300000))
		mustN(t, "EMSGSIZE before EPIPE", n, err, 0, unix.EMSGSIZE)

		a, b = pair(t, unix.SOCK_DGRAM)
		shut(t, b, unix.SHUT_RD)
		n, err = a.Write(buf)
		mustN(t, "peer SHUT_RD", n, err, 0, unix.EPIPE)
		expectMask(t, "b", b, 0x2345)

		a, b = pair(t, unix.SOCK_DGRAM)
		n, err = a.Write(make([]byte, DefaultSocketSendBuffer-32))
		mustN(t, "largest datagram", n, err, DefaultSocketSendBuffer-32, nil)
		n, err = a.Write(make([]byte, DefaultSocketSendBuffer-31))
		mustN(t, "too large", n, err, 0, unix.EMSGSIZE)

		a, b = pair(t, unix.SOCK_DGRAM)
		b.Write([]byte("from b"))
		b.DecRef()
		expectMask(t, "peer closed: data still there", a, 0x345)
		n, err = a.Write(buf)
		mustN(t, "peer closed", n, err, 0, unix.ECONNREFUSED)
		expectMask(t, "unread datagrams dropped", a, 0x304)
		n, err = a.Read(buf)
		mustN(t, "nothing left", n, err, 0, unix.EAGAIN)
		n, err = a.Write(buf)
		mustN(t, "now unconnected", n, err, 0, unix.ENOTCONN)
		checkInv(t, a)
	})
	t.Run("dgram receive shut", func(t *testing.T) {
		a, b, _ := NewSocketPair(unix.SOCK_DGRAM, 0) // blocking
		shut(t, a, unix.SHUT_RD)
		n, err := a.Read(buf)
		mustN(t, "blocking read returns 0", n, err, 0, nil)
		a.SetStatusFlags(unix.O_NONBLOCK)
		n, err = a.Read(buf)
		mustN(t, "non-blocking read", n, err, 0, unix.EAGAIN)
		n, err = b.Write([]byte("x"))
		mustN(t, "send to a receive-shut socket", n, err, 0, unix.EPIPE)
	})
}

func TestSocketData(t *testing.T) {
	buf := make([]byte, 100)
	t.Run("stream coalesces", func(t *testing.T) {
		a, b := pair(t, unix.SOCK_STREAM)
		a.Write([]byte("abc"))
		a.Write([]byte("defg"))
		n, _ := b.Read(buf)
		if string(buf[:n]) != "abcdefg" {
			t.Errorf("read %q", buf[:n])
		}
		a.Write([]byte("hijkl"))
		n, _ = b.Read(buf[:2])
		n2, _ := b.Read(buf[2:])
		if string(buf[:n+n2]) != "hijkl" {
			t.Errorf("partial reads %q", buf[:n+n2])
		}
	})
	t.Run("messages keep boundaries and truncate", func(t *testing.T) {
		for _, typ := range []int{unix.SOCK_DGRAM, unix.SOCK_SEQPACKET} {
			a, b := pair(t, typ)
			a.Write([]byte("0123456789"))
			a.Write([]byte("abc"))
			a.Write(nil)
			n, err := b.Read(buf[:3])
			if n != 3 || err != nil || string(buf[:3]) != "012" {
				t.Errorf("type %d: truncated read %d %v %q", typ, n, err, buf[:n])
			}
			n, _ = b.Read(buf)
			if string(buf[:n]) != "abc" {
				t.Errorf("type %d: second %q", typ, buf[:n])
			}
			expectMask(t, "empty datagram queued", b, 0x345)
			n, err = b.Read(buf)
			mustN(t, "empty datagram", n, err, 0, nil)
			n, err = b.Read(buf)
			mustN(t, "queue empty", n, err, 0, unix.EAGAIN)
			checkInv(t, a, b)
		}
	})
	t.Run("stream null write sends nothing", func(t *testing.T) {
		a, b := pair(t, unix.SOCK_STREAM)
		rec := watch(t, b)
		n, err := a.Write(nil)
		mustN(t, "null write", n, err, 0, nil)
		rec.expect(t, "null write")
		expectMask(t, "b", b, 0x304)
	})
}

func TestSocketSendBuffer(t *testing.T) {
	t.Run("one-byte stream sends", func(t *testing.T) {
		a, b := pair(t, unix.SOCK_STREAM)
		lostOut, sends := 0, 0
		for {
			n, err := a.Write([]byte{1})
			if err != nil {
				expectErr(t, "full", err, unix.EAGAIN)
				break
			}
			sends += n
			if lostOut == 0 && a.Readiness(full)&waiter.EventOut == 0 {
				lostOut = sends
			}
		}
		if lostOut != 70 || sends != 278 {
			t.Errorf("OUT lost after %d sends, EAGAIN after %d; want 70, 278", lostOut, sends)
		}
		if q := a.impl.(Socket).Outq(); q != 278*768 {
			t.Errorf("outq %d", q)
		}
		// The writer's queue gets a write-space wakeup for each consumed
		// skb once it is writable again: first at the 209th read.
		rec := watch(t, a)
		buf := make([]byte, 1)
		for i := 1; i <= 278; i++ {
			b.Read(buf)
			got := rec.take()
			want := 0
			if i >= 209 {
				want = 1
			}
			if len(got) != want || want == 1 && got[0] != one(spaceKey) {
				t.Fatalf("read %d: notifications %v", i, got)
			}
		}
		checkInv(t, a, b)
	})
	t.Run("4096-byte stream sends", func(t *testing.T) {
		a, _ := pair(t, unix.SOCK_STREAM)
		lostOut, sends, bytes := 0, 0, 0
		for {
			n, err := a.Write(make([]byte, 4096))
			if err != nil {
				break
			}
			sends++
			bytes += n
			if lostOut == 0 && a.Readiness(full)&waiter.EventOut == 0 {
				lostOut = sends
			}
		}
		if lostOut != 11 || sends != 44 || bytes != 180224 {
			t.Errorf("OUT lost after %d, EAGAIN after %d (%d bytes)", lostOut, sends, bytes)
		}
	})
	t.Run("one big stream write", func(t *testing.T) {
		a, b := pair(t, unix.SOCK_STREAM)
		rec := watch(t, b)
		n, err := a.Write(make([]byte, 300000))
		mustN(t, "partial", n, err, 219264, nil) // 6 skbs of 36544
		got := rec.take()
		if len(got) != 6 {
			t.Errorf("data wakeups %v, want 6", got)
		}
		checkInv(t, a, b)
	})
	t.Run("datagrams", func(t *testing.T) {
		a, b := pair(t, unix.SOCK_DGRAM)
		sends := 0
		for {
			if _, err := a.Write([]byte{1}); err != nil {
				expectErr(t, "full", err, unix.EAGAIN)
				break
			}
			sends++
		}
		if sends != 278 {
			t.Errorf("%d datagrams before EAGAIN", sends)
		}
		b.Read(make([]byte, 1))
		if _, err := a.Write([]byte{1}); err != nil {
			t.Errorf("after a read: %v", err)
		}
		checkInv(t, a, b)
	})
	t.Run("truesize", func(t *testing.T) {
		// SIOCOUTQ after one write, measured on 6.18.
		for _, tc := range []struct{ n, stream, dgram int }{
			{1, 768, 768}, {192, 768, 768}, {193, 1280, 1280}, {1000, 2304, 2304},
			{1800, 4352, 4352}, {3776, 4352, 4352}, {3777, 4864, 8448}, {4096, 4864, 8448},
			{5000, 6400, 8448}, {8000, 8960, 16640}, {10000, 12544, 16640},
			{16065, 17152, 20736}, {36544, 37120, 37120}, {36545, 37888, 41216},
			{65536, 67072, 69888}, {100000, 103168, 102656}, {150000, 153344, 200960},
			{212960, 216576, 332032},
		} {
			a, _ := pair(t, unix.SOCK_STREAM)
			a.Write(make([]byte, tc.n))
			if q := a.impl.(Socket).Outq(); q != tc.stream {
				t.Errorf("stream %d: outq %d, want %d", tc.n, q, tc.stream)
			}
			d, _ := pair(t, unix.SOCK_DGRAM)
			d.Write(make([]byte, tc.n))
			if q := d.impl.(Socket).Outq(); q != tc.dgram {
				t.Errorf("dgram %d: outq %d, want %d", tc.n, q, tc.dgram)
			}
		}
		d, _ := pair(t, unix.SOCK_DGRAM)
		d.Write(nil)
		if q := d.impl.(Socket).Outq(); q != 768 {
			t.Errorf("empty datagram: outq %d", q)
		}
	})
}

func TestSocketWakeups(t *testing.T) {
	buf := make([]byte, 100)
	t.Run("send and receive", func(t *testing.T) {
		for _, st := range sockTypes {
			a, b := pair(t, st.typ)
			ra, rb := watch(t, a), watch(t, b)
			a.Write([]byte("abc"))
			rb.expect(t, st.name+" send: receiver", one(dataKey))
			ra.expect(t, st.name+" send: sender")
			a.Write([]byte("de"))
			rb.expect(t, st.name+" second send", one(dataKey))
			b.Read(buf[:1])
			if st.typ == unix.SOCK_STREAM {
				ra.expect(t, st.name+" partial read of an skb")
				b.Read(buf)
				ra.expect(t, st.name+" read freeing two skbs", one(spaceKey), one(spaceKey))
			} else {
				ra.expect(t, st.name+" read of one message", one(spaceKey))
				b.Read(buf)
				ra.expect(t, st.name+" second message", one(spaceKey))
			}
			n, err := b.Read(buf)
			mustN(t, "empty", n, err, 0, unix.EAGAIN)
			ra.expect(t, st.name+" failed read")
			rb.expect(t, st.name+" receiver")
		}
	})
	t.Run("shutdown", func(t *testing.T) {
		for _, st := range sockTypes {
			for how := unix.SHUT_RD; how <= unix.SHUT_RDWR; how++ {
				a, b := pair(t, st.typ)
				ra, rb := watch(t, a), watch(t, b)
				shut(t, a, how)
				ra.expect(t, st.name+" own queue", all(0))
				if st.typ == unix.SOCK_DGRAM {
					rb.expect(t, st.name+" peer queue (no propagation)")
				} else {
					rb.expect(t, st.name+" peer queue", all(0))
				}
			}
		}
	})
	t.Run("close", func(t *testing.T) {
		for _, st := range sockTypes {
			a, b := pair(t, st.typ)
			ra := watch(t, a)
			b.DecRef()
			if st.typ == unix.SOCK_DGRAM {
				ra.expect(t, st.name+" peer closed")
			} else {
				ra.expect(t, st.name+" peer closed", all(0))
			}
		}
	})
	t.Run("close with the peer's data unread", func(t *testing.T) {
		for _, st := range sockTypes {
			a, b := pair(t, st.typ)
			ra := watch(t, a)
			a.Write([]byte("1"))
			a.Write([]byte("2"))
			b.DecRef()
			// The state change, then one write-space wakeup per skb of
			// a's that the close dropped.
			if st.typ == unix.SOCK_DGRAM {
				ra.expect(t, st.name, one(spaceKey), one(spaceKey))
			} else {
				ra.expect(t, st.name, all(0), one(spaceKey), one(spaceKey))
			}
			if q := a.impl.(Socket).Outq(); q != 0 {
				t.Errorf("%s: outq %d after the peer dropped everything", st.name, q)
			}
		}
	})
	t.Run("dgram send to a closed peer", func(t *testing.T) {
		a, b := pair(t, unix.SOCK_DGRAM)
		ra := watch(t, a)
		b.DecRef()
		ra.expect(t, "peer closed")
		n, err := a.Write(buf[:5])
		mustN(t, "send", n, err, 0, unix.ECONNREFUSED)
		// The disconnect's own wakeup, then the dropped skb's write space.
		ra.expect(t, "refused", one(spaceKey), one(spaceKey))
		n, err = a.Write(buf[:5])
		mustN(t, "send again", n, err, 0, unix.ENOTCONN)
		ra.expect(t, "unconnected send drops an skb", one(spaceKey))
	})
	t.Run("failed sends that drop an skb", func(t *testing.T) {
		s, _ := NewSocket(unix.SOCK_DGRAM, unix.O_NONBLOCK)
		rs := watch(t, s)
		s.Write(buf[:5])
		rs.expect(t, "unconnected dgram: ENOTCONN after the allocation", one(spaceKey))
		s.Write(make([]byte, 300000))
		rs.expect(t, "EMSGSIZE: before the allocation")

		a, b := pair(t, unix.SOCK_DGRAM)
		ra := watch(t, a)
		shut(t, b, unix.SHUT_RD)
		n, err := a.Write(buf[:5])
		mustN(t, "peer SHUT_RD", n, err, 0, unix.EPIPE)
		ra.expect(t, "dropped skb", one(spaceKey))
		shut(t, a, unix.SHUT_WR)
		ra.take()
		a.Write(buf[:5])
		ra.expect(t, "own SHUT_WR: before the allocation")

		c, d := pair(t, unix.SOCK_SEQPACKET)
		rc := watch(t, c)
		shut(t, d, unix.SHUT_RD)
		rc.take()
		n, err = c.Write(buf[:5])
		mustN(t, "seqpacket peer SHUT_RD", n, err, 0, unix.EPIPE)
		rc.expect(t, "propagated SEND_SHUTDOWN fails before the allocation")
	})
	t.Run("read of a datagram while the sender is not writable", func(t *testing.T) {
		a, b := pair(t, unix.SOCK_DGRAM)
		for {
			if _, err := a.Write(buf[:1]); err != nil {
				break
			}
		}
		ra := watch(t, a)
		b.Read(buf)
		ra.expect(t, "sender still above a quarter of its buffer")
	})
}

func TestSocketInq(t *testing.T) {
	a, b := pair(t, unix.SOCK_STREAM)
	a.Write([]byte("abc"))
	a.Write([]byte("de"))
	b.Read(make([]byte, 1))
	if n := b.impl.(Socket).Inq(); n != 4 {
		t.Errorf("stream inq %d", n)
	}
	c, d := pair(t, unix.SOCK_DGRAM)
	c.Write([]byte("abc"))
	c.Write([]byte("de"))
	if n := d.impl.(Socket).Inq(); n != 3 {
		t.Errorf("dgram inq %d", n)
	}
}
