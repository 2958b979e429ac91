package fs

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"golang.org/x/sys/unix"
)

// Checkpoint state of the model's files (package checkpoint owns the object
// graph and the byte format; this file only turns files into plain values
// and back).
//
// SaveFiles describes a set of files, FilesState.Validate checks a
// description completely, and RestoreFiles rebuilds it into new files. A
// pipe's shared state and the sockets (including released sockets that a
// live socket still names as its peer or as the sender of a queued skb)
// are objects of their own, referred to by index, so that the two ends of
// a pipe and the two sockets of a pair stay shared.
//
// Times of timerfds are saved relative to the clock's current time and
// restored relative to the new clock's: the guest sees the same remaining
// time and interval, and the same count of missed periods.

// FileKind is the type of a saved file.
type FileKind uint8

// File kinds. KindForeign is a file of another package (an epoll instance,
// an imported host fd): SaveFiles records only its status flags, and
// RestoreFiles leaves its slot nil for the caller to fill.
const (
	KindForeign FileKind = iota
	KindPipeRead
	KindPipeWrite
	KindEventfd
	KindSocket
	KindTimerfd
	KindRegular
	kindCount
)

// FilesState is the saved state of a set of files.
type FilesState struct {
	Files   []FileState
	Pipes   []PipeState
	Sockets []SocketState
}

// FileState is one open file description.
type FileState struct {
	Kind  FileKind
	Flags uint32 // access mode and status flags
	// Object is the index in Pipes (pipe ends) or Sockets (sockets).
	Object  int32
	Eventfd EventfdState
	Timer   TimerState
	Regular RegularState
}

// PipeState is the state both ends of a pipe share.
type PipeState struct {
	Slots            []PipeSlotState // oldest first; at most 16
	Readers, Writers int32           // open ends (0 or 1 each)
	Polled           bool            // poll_usage
}

// PipeSlotState is one slot: Data sits at offset Off of its page.
type PipeSlotState struct {
	Off    int32
	Data   []byte
	Packet bool
}

// EventfdState is an eventfd's counter and mode.
type EventfdState struct {
	Count     uint64
	Semaphore bool
}

// SocketState is one AF_UNIX socket.
type SocketState struct {
	Type      int32 // SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET
	Connected bool  // TCP_ESTABLISHED (else TCP_CLOSE)
	Shutdown  uint8 // RCV_SHUTDOWN | SEND_SHUTDOWN
	Err       uint32
	Peer      int32 // index in Sockets, -1 for none
	Dead      bool  // released: no file refers to it
	Wmem      int64 // 1 + truesize charged
	Sndbuf    int64
	Recv      []SkbState
}

// SkbState is one queued message or stream chunk.
type SkbState struct {
	Data     []byte
	Consumed int64
	Truesize int64
	Sender   int32 // index in Sockets
}

// TimerState is a timerfd. Expiry is relative to the clock's current time
// when saved (negative once passed) and meaningful only with HasExpiry.
type TimerState struct {
	ClockID   int32
	Ticks     uint64
	Expired   bool
	Armed     bool
	HasExpiry bool
	Expiry    int64
	Interval  int64
}

// RegularState is a regular file: its size, offset and written pages.
type RegularState struct {
	Size, Pos int64
	Pages     []RegularPage // ascending Index
}

// RegularPage is one 4096-byte page of a regular file.
type RegularPage struct {
	Index int64
	Data  []byte
}

// RegularPageSize is the length of RegularPage.Data.
const RegularPageSize = regularPageSize

// ErrNotSaveable is wrapped by errors about state a checkpoint cannot hold.
var ErrNotSaveable = errors.New("not saveable")

// FreezeTimers holds off the expiry of every timerfd among files until the
// returned function is called: an expiry that is running is waited for,
// and later ones wait. A checkpoint freezes timers first so that it never
// sees an expiry counted but not yet notified.
func FreezeTimers(files []*File) (thaw func()) {
	var held []*timerfd
	for _, f := range files {
		if t, ok := f.impl.(*timerfd); ok {
			t.fireMu.Lock()
			held = append(held, t)
		}
	}
	return func() {
		for _, t := range held {
			t.fireMu.Unlock()
		}
	}
}

// SaveFiles describes files (each at most once, none released). Files of
// other packages are KindForeign.
func SaveFiles(files []*File) (FilesState, error) {
	var st FilesState
	st.Files = make([]FileState, len(files))
	pipes := map[*pipe]int32{}
	socks := map[*unixSocket]int32{}
	var sockList []*unixSocket
	sockIndex := func(s *unixSocket) int32 {
		if i, ok := socks[s]; ok {
			return i
		}
		i := int32(len(sockList))
		socks[s] = i
		sockList = append(sockList, s)
		return i
	}
	for i, f := range files {
		if f.Released() {
			return FilesState{}, fmt.Errorf("fs: file %d is released: %w", i, ErrNotSaveable)
		}
		fst := &st.Files[i]
		fst.Flags = f.StatusFlags()
		switch impl := f.impl.(type) {
		case *pipeEnd:
			fst.Kind = KindPipeWrite
			if impl.reader {
				fst.Kind = KindPipeRead
			}
			idx, ok := pipes[impl.p]
			if !ok {
				idx = int32(len(st.Pipes))
				pipes[impl.p] = idx
				st.Pipes = append(st.Pipes, impl.p.save())
			}
			fst.Object = idx
		case *eventfd:
			fst.Kind = KindEventfd
			fst.Eventfd = EventfdState{Count: impl.count.Load(), Semaphore: impl.semaphore}
		case *unixSocket:
			fst.Kind = KindSocket
			fst.Object = sockIndex(impl)
		case *timerfd:
			fst.Kind = KindTimerfd
			fst.Timer = impl.save()
		case *regular:
			fst.Kind = KindRegular
			fst.Regular = impl.save()
		default:
			fst.Kind = KindForeign
		}
	}
	// Sockets: walk peers and senders, so released sockets still named by
	// live ones are saved too. A pair shares one lock, so each component
	// is read under it.
	for i := 0; i < len(sockList); i++ {
		s := sockList[i]
		s.mu.Lock()
		ss := SocketState{
			Type:      int32(s.typ),
			Connected: s.state == sockEstablished,
			Shutdown:  uint8(s.shutdown),
			Err:       uint32(s.err),
			Peer:      -1,
			Dead:      s.dead,
			Wmem:      s.wmem,
			Sndbuf:    s.sndbuf,
		}
		if s.peer != nil {
			ss.Peer = sockIndex(s.peer)
		}
		for _, b := range s.recv.q[s.recv.head:] {
			ss.Recv = append(ss.Recv, SkbState{
				Data:     append([]byte(nil), b.data...),
				Consumed: int64(b.consumed),
				Truesize: b.truesize,
				Sender:   sockIndex(b.sender),
			})
		}
		s.mu.Unlock()
		st.Sockets = append(st.Sockets, ss)
	}
	return st, nil
}

func (p *pipe) save() PipeState {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps := PipeState{Readers: int32(p.readers), Writers: int32(p.writers), Polled: p.polled}
	for i := p.tail; i != p.head; i++ {
		s := p.slots[i%pipeSlots]
		page := &p.pages[i%pipeSlots]
		ps.Slots = append(ps.Slots, PipeSlotState{
			Off:    s.off,
			Data:   append([]byte(nil), page[s.off:s.off+s.len]...),
			Packet: s.packet,
		})
	}
	return ps
}

func (t *timerfd) save() TimerState {
	t.mu.Lock()
	defer t.mu.Unlock()
	ts := TimerState{
		ClockID:  t.clockID,
		Ticks:    t.ticks,
		Expired:  t.expired,
		Armed:    t.armed,
		Interval: t.interval,
	}
	if t.expiry != 0 {
		ts.HasExpiry = true
		ts.Expiry = satSub(t.expiry, t.clock.Now(t.clockID))
	}
	return ts
}

func (r *regular) save() RegularState {
	r.mu.Lock()
	defer r.mu.Unlock()
	rs := RegularState{Size: r.size, Pos: r.pos}
	for idx, page := range r.pages {
		rs.Pages = append(rs.Pages, RegularPage{Index: idx, Data: append([]byte(nil), page[:]...)})
	}
	sortPages(rs.Pages)
	return rs
}

func sortPages(p []RegularPage) {
	// Insertion sort is enough for the common few pages; use a simple
	// merge-free shell sort to stay O(n log^2 n) for many.
	for gap := len(p) / 2; gap > 0; gap /= 2 {
		for i := gap; i < len(p); i++ {
			for j := i; j >= gap && p[j-gap].Index > p[j].Index; j -= gap {
				p[j-gap], p[j] = p[j], p[j-gap]
			}
		}
	}
}

// Validate checks st completely: kinds, indices, sizes, and every
// invariant the file types keep (CheckInvariants), so that RestoreFiles
// cannot build an inconsistent file.
func (st *FilesState) Validate() error {
	pipeReaders := make([]int32, len(st.Pipes))
	pipeWriters := make([]int32, len(st.Pipes))
	sockFiles := make([]int, len(st.Sockets))
	for i := range st.Files {
		f := &st.Files[i]
		if f.Kind >= kindCount {
			return fmt.Errorf("file %d: unknown kind %d", i, f.Kind)
		}
		if f.Flags&AccessModeMask == AccessModeMask {
			return fmt.Errorf("file %d: bad access mode in flags %#x", i, f.Flags)
		}
		switch f.Kind {
		case KindPipeRead, KindPipeWrite:
			if f.Object < 0 || int(f.Object) >= len(st.Pipes) {
				return fmt.Errorf("file %d: pipe %d out of range", i, f.Object)
			}
			if f.Kind == KindPipeRead {
				pipeReaders[f.Object]++
			} else {
				pipeWriters[f.Object]++
			}
		case KindSocket:
			if f.Object < 0 || int(f.Object) >= len(st.Sockets) {
				return fmt.Errorf("file %d: socket %d out of range", i, f.Object)
			}
			sockFiles[f.Object]++
		case KindTimerfd:
			if err := f.Timer.validate(); err != nil {
				return fmt.Errorf("file %d: %v", i, err)
			}
		case KindRegular:
			if err := f.Regular.validate(); err != nil {
				return fmt.Errorf("file %d: %v", i, err)
			}
		}
	}
	for i := range st.Pipes {
		p := &st.Pipes[i]
		if p.Readers != pipeReaders[i] || p.Writers != pipeWriters[i] {
			return fmt.Errorf("pipe %d: %d readers and %d writers, but %d read and %d write ends saved",
				i, p.Readers, p.Writers, pipeReaders[i], pipeWriters[i])
		}
		if p.Readers > 1 || p.Writers > 1 || p.Readers+p.Writers == 0 {
			return fmt.Errorf("pipe %d: %d read and %d write ends", i, p.Readers, p.Writers)
		}
		if len(p.Slots) > pipeSlots {
			return fmt.Errorf("pipe %d: %d slots", i, len(p.Slots))
		}
		for j, s := range p.Slots {
			if len(s.Data) == 0 || s.Off < 0 || int(s.Off)+len(s.Data) > pipePageSize {
				return fmt.Errorf("pipe %d: slot %d has offset %d and %d bytes", i, j, s.Off, len(s.Data))
			}
		}
	}
	for i := range st.Sockets {
		s := &st.Sockets[i]
		switch s.Type {
		case unix.SOCK_STREAM, unix.SOCK_DGRAM, unix.SOCK_SEQPACKET:
		default:
			return fmt.Errorf("socket %d: type %d", i, s.Type)
		}
		if s.Dead != (sockFiles[i] == 0) || sockFiles[i] > 1 {
			return fmt.Errorf("socket %d: dead=%v but %d files", i, s.Dead, sockFiles[i])
		}
		if s.Shutdown&^shutBoth != 0 {
			return fmt.Errorf("socket %d: shutdown bits %#x", i, s.Shutdown)
		}
		if s.Err > 4095 {
			return fmt.Errorf("socket %d: error %d", i, s.Err)
		}
		if s.Sndbuf < 1 || s.Sndbuf > math.MaxInt32 || s.Wmem < 1 || s.Wmem > math.MaxInt64/2 {
			return fmt.Errorf("socket %d: sndbuf %d wmem %d", i, s.Sndbuf, s.Wmem)
		}
		if s.Peer < -1 || int(s.Peer) >= len(st.Sockets) || int(s.Peer) == i {
			return fmt.Errorf("socket %d: peer %d", i, s.Peer)
		}
		if s.Dead && (len(s.Recv) > 0 || s.Peer >= 0) {
			return fmt.Errorf("socket %d: released but has skbs or a peer", i)
		}
		if s.Peer >= 0 {
			p := &st.Sockets[s.Peer]
			if !s.Connected {
				return fmt.Errorf("socket %d: has a peer but is not connected", i)
			}
			if !p.Dead && p.Peer != int32(i) {
				return fmt.Errorf("socket %d: peer %d is not connected back", i, s.Peer)
			}
			if p.Type != s.Type {
				return fmt.Errorf("socket %d: peer of another type", i)
			}
		}
		for j, b := range s.Recv {
			if b.Sender < 0 || int(b.Sender) >= len(st.Sockets) || int(b.Sender) == i {
				return fmt.Errorf("socket %d: skb %d sender %d", i, j, b.Sender)
			}
			if b.Truesize < 1 || b.Truesize > math.MaxInt32 {
				return fmt.Errorf("socket %d: skb %d truesize %d", i, j, b.Truesize)
			}
			if b.Consumed < 0 || b.Consumed > int64(len(b.Data)) || b.Consumed == int64(len(b.Data)) && len(b.Data) > 0 {
				return fmt.Errorf("socket %d: skb %d consumed %d of %d", i, j, b.Consumed, len(b.Data))
			}
			if b.Consumed > 0 && s.Type != unix.SOCK_STREAM {
				return fmt.Errorf("socket %d: skb %d partly read in a message socket", i, j)
			}
		}
	}
	// Charges: a socket with a peer is charged exactly the skbs of its
	// peer's queue that it sent (CheckInvariants' rule).
	for i := range st.Sockets {
		s := &st.Sockets[i]
		if s.Peer < 0 {
			continue
		}
		charged := int64(1)
		for _, b := range st.Sockets[s.Peer].Recv {
			if int(b.Sender) == i {
				charged += b.Truesize
			}
		}
		if s.Wmem != charged {
			return fmt.Errorf("socket %d: wmem %d, skbs in flight charge %d", i, s.Wmem, charged)
		}
	}
	return nil
}

func (t *TimerState) validate() error {
	switch t.ClockID {
	case unix.CLOCK_REALTIME, unix.CLOCK_MONOTONIC, unix.CLOCK_BOOTTIME:
	default:
		return fmt.Errorf("timerfd: clock %d", t.ClockID)
	}
	switch {
	case t.Expired && t.Ticks == 0:
		return fmt.Errorf("timerfd: expired with no ticks")
	case t.Expired && t.Armed:
		return fmt.Errorf("timerfd: expired and armed")
	case t.Armed && !t.HasExpiry:
		return fmt.Errorf("timerfd: armed without an expiry")
	case t.Interval < 0:
		return fmt.Errorf("timerfd: interval %d", t.Interval)
	}
	return nil
}

func (r *RegularState) validate() error {
	if r.Size < 0 || r.Pos < 0 {
		return fmt.Errorf("regular: size %d pos %d", r.Size, r.Pos)
	}
	last := int64(-1)
	for _, p := range r.Pages {
		if p.Index <= last || p.Index > math.MaxInt64/regularPageSize {
			return fmt.Errorf("regular: page index %d", p.Index)
		}
		if len(p.Data) != regularPageSize {
			return fmt.Errorf("regular: page %d has %d bytes", p.Index, len(p.Data))
		}
		last = p.Index
	}
	return nil
}

// RestoreFiles builds new files from a validated st, on clock (RealClock
// if nil). Foreign files are nil in the result; every other file has one
// reference, owned by the caller. Timers are not armed yet: call the
// returned start function once every watcher (epoll registration) of the
// files is in place, so that an expiry that is due at once is seen.
func RestoreFiles(st *FilesState, clock Clock) ([]*File, func(), error) {
	if err := st.Validate(); err != nil {
		return nil, nil, err
	}
	if clock == nil {
		clock = RealClock{}
	}
	pipes := make([]*pipe, len(st.Pipes))
	for i := range st.Pipes {
		pipes[i] = restorePipe(&st.Pipes[i])
	}
	socks := restoreSockets(st.Sockets)
	files := make([]*File, len(st.Files))
	var timers []*timerfd
	var timerStates []*TimerState
	for i := range st.Files {
		fst := &st.Files[i]
		var impl Impl
		switch fst.Kind {
		case KindForeign:
			continue
		case KindPipeRead, KindPipeWrite:
			impl = &pipeEnd{p: pipes[fst.Object], reader: fst.Kind == KindPipeRead}
		case KindEventfd:
			e := &eventfd{semaphore: fst.Eventfd.Semaphore}
			e.count.Store(fst.Eventfd.Count)
			impl = e
		case KindSocket:
			impl = socks[fst.Object]
		case KindTimerfd:
			t := &timerfd{clock: clock, clockID: fst.Timer.ClockID}
			timers = append(timers, t)
			timerStates = append(timerStates, &fst.Timer)
			impl = t
		case KindRegular:
			r := &regular{size: fst.Regular.Size, pos: fst.Regular.Pos}
			if len(fst.Regular.Pages) > 0 {
				r.pages = make(map[int64]*[regularPageSize]byte, len(fst.Regular.Pages))
				for _, p := range fst.Regular.Pages {
					page := new([regularPageSize]byte)
					copy(page[:], p.Data)
					r.pages[p.Index] = page
				}
			}
			impl = r
		}
		files[i] = New(impl, fst.Flags)
	}
	start := func() {
		for i, t := range timers {
			t.restore(timerStates[i])
		}
	}
	return files, start, nil
}

func restorePipe(ps *PipeState) *pipe {
	p := &pipe{readers: int(ps.Readers), writers: int(ps.Writers), polled: ps.Polled}
	if len(ps.Slots) > 0 {
		p.pages = new([pipeSlots][pipePageSize]byte)
	}
	for i, s := range ps.Slots {
		copy(p.pages[i][s.Off:], s.Data)
		p.slots[i] = pipeSlot{off: s.Off, len: int32(len(s.Data)), packet: s.Packet}
	}
	p.head = uint32(len(ps.Slots))
	return p
}

// restoreSockets rebuilds every socket; sockets linked by a peer or a
// sender share one lock, as a pair does.
func restoreSockets(states []SocketState) []*unixSocket {
	parent := make([]int, len(states))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	union := func(a, b int) { parent[find(a)] = find(b) }
	for i := range states {
		if states[i].Peer >= 0 {
			union(i, int(states[i].Peer))
		}
		for _, b := range states[i].Recv {
			union(i, int(b.Sender))
		}
	}
	mus := map[int]*sync.Mutex{}
	socks := make([]*unixSocket, len(states))
	for i := range states {
		r := find(i)
		mu := mus[r]
		if mu == nil {
			mu = new(sync.Mutex)
			mus[r] = mu
		}
		ss := &states[i]
		state := sockClose
		if ss.Connected {
			state = sockEstablished
		}
		s := newUnixSocket(int(ss.Type), mu, state)
		s.shutdown = int(ss.Shutdown)
		s.err = unix.Errno(ss.Err)
		s.dead = ss.Dead
		s.wmem = ss.Wmem
		s.sndbuf = ss.Sndbuf
		socks[i] = s
	}
	for i := range states {
		ss := &states[i]
		s := socks[i]
		if ss.Peer >= 0 {
			s.peer = socks[ss.Peer]
		}
		for _, b := range ss.Recv {
			s.recv.push(&skb{
				data:     append([]byte(nil), b.Data...),
				consumed: int(b.Consumed),
				truesize: b.Truesize,
				sender:   socks[b.Sender],
			})
		}
	}
	return socks
}

// restore sets a new timer's state and arms it as saved (firing at once
// if the saved expiry is already due).
func (t *timerfd) restore(ts *TimerState) {
	t.mu.Lock()
	now := t.clock.Now(t.clockID)
	t.ticks = ts.Ticks
	t.expired = ts.Expired
	t.interval = ts.Interval
	if ts.HasExpiry {
		t.expiry = satAdd(now, ts.Expiry)
		if t.expiry == 0 {
			t.expiry = 1 // 0 means "no expiry"
		}
	}
	fireNow, gen := false, uint64(0)
	if ts.Armed {
		fireNow, gen = t.startLocked(t.expiry, now)
	}
	t.mu.Unlock()
	if fireNow {
		t.fire(gen)
	}
}
