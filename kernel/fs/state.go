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
	KindFIFOReadWrite // an O_RDWR file of a FIFO
	kindCount
)

// FilesState is the saved state of a set of files.
type FilesState struct {
	Files   []FileState
	Pipes   []PipeState
	Sockets []SocketState
	// FIFONodes counts the FIFO inodes (PipeState.FIFO and
	// PathState.FIFO name them); Paths is the path namespace, parents
	// before children (SaveFilesAndNames). UnixAutobind is the abstract
	// namespace's next autobind name.
	FIFONodes    int32
	Paths        []PathState
	UnixAutobind uint32
}

// FileState is one open file description.
type FileState struct {
	Kind  FileKind
	Flags uint32 // access mode and status flags
	// Object is the index in Pipes (pipe ends) or Sockets (sockets).
	Object int32
	// FPipe is a pipe end's f_pipe (FIFO read ends opened O_NONBLOCK
	// without writers).
	FPipe   uint32
	Eventfd EventfdState
	Timer   TimerState
	Regular RegularState
}

// PipeState is the state both ends of a pipe share.
type PipeState struct {
	Slots            []PipeSlotState // oldest first; at most RingSlots
	Readers, Writers int32           // open ends (0 or 1 each)
	Polled           bool            // poll_usage
	// RingSlots is the ring size (F_GETPIPE_SZ / 4096), a power of two;
	// 0 means the default 16.
	RingSlots int32
	// FIFO is 1 + the index of the FIFO node whose pipe this is, 0 for a
	// pipe2 pipe. RCounter and WCounter are its open counts.
	FIFO               int32
	RCounter, WCounter uint32
}

func (p *PipeState) ringSlots() int {
	if p.RingSlots == 0 {
		return pipeSlots
	}
	return int(p.RingSlots)
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
	// OOB is the index in Recv of the pending out-of-band skb, -1 if none.
	OOB int32
	// Listening sockets: the backlog and the embryos (indices in
	// Sockets), oldest first.
	Listening bool
	Backlog   int32
	Pending   []int32
	// Name is the bound address (sun_path bytes; empty when unbound);
	// Bound says whether the socket holds it in the abstract namespace
	// (an accepted socket shows its listener's name without holding it).
	Name  []byte
	Bound bool
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
//
// +checklocksignore: takes every timerfd's fireMu in a loop and releases
// them in the returned function, which the tool cannot follow.
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
	fsv := newFilesSaver()
	return fsv.saveFiles(files)
}

func newFilesSaver() filesSaver {
	return filesSaver{pipes: map[*pipe]int32{}, socks: map[*unixSocket]int32{}, fifos: map[*fifoNode]int32{}}
}

func (fsv *filesSaver) saveFiles(files []*File) (FilesState, error) {
	fsv.st.Files = make([]FileState, len(files))
	for i, f := range files {
		if f.Released() {
			return FilesState{}, fmt.Errorf("fs: file %d is released: %w", i, ErrNotSaveable)
		}
		fsv.saveFile(&fsv.st.Files[i], f)
	}
	// Sockets: walk peers and senders, so released sockets still named by
	// live ones are saved too.
	for i := 0; i < len(fsv.sockList); i++ {
		fsv.st.Sockets = append(fsv.st.Sockets, fsv.saveSocket(fsv.sockList[i]))
	}
	return fsv.st, nil
}

// filesSaver is one SaveFiles: the pipes and sockets found so far, each
// with its index.
type filesSaver struct {
	st       FilesState
	pipes    map[*pipe]int32
	socks    map[*unixSocket]int32
	fifos    map[*fifoNode]int32
	sockList []*unixSocket
}

func (fsv *filesSaver) sockIndex(s *unixSocket) int32 {
	if i, ok := fsv.socks[s]; ok {
		return i
	}
	i := int32(len(fsv.sockList))
	fsv.socks[s] = i
	fsv.sockList = append(fsv.sockList, s)
	return i
}

func (fsv *filesSaver) saveFile(fst *FileState, f *File) {
	fst.Flags = f.StatusFlags()
	switch impl := f.impl.(type) {
	case *pipeEnd:
		switch {
		case impl.reader && impl.writer:
			fst.Kind = KindFIFOReadWrite
		case impl.reader:
			fst.Kind = KindPipeRead
		default:
			fst.Kind = KindPipeWrite
		}
		fst.FPipe = impl.fPipe
		idx, ok := fsv.pipes[impl.p]
		if !ok {
			idx = int32(len(fsv.st.Pipes))
			fsv.pipes[impl.p] = idx
			ps := impl.p.save()
			if impl.p.fifo != nil {
				ps.FIFO = fsv.fifoIndex(impl.p.fifo) + 1
			}
			fsv.st.Pipes = append(fsv.st.Pipes, ps)
		}
		fst.Object = idx
	case *eventfd:
		fst.Kind = KindEventfd
		fst.Eventfd = EventfdState{Count: impl.count.Load(), Semaphore: impl.semaphore}
	case *unixSocket:
		fst.Kind = KindSocket
		fst.Object = fsv.sockIndex(impl)
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

// saveSocket describes s, read under its lock (a pair shares one), naming
// its peer and the senders of its queued skbs.
func (fsv *filesSaver) saveSocket(s *unixSocket) SocketState {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := SocketState{
		Type:      int32(s.typ),
		Connected: s.state == sockEstablished,
		Shutdown:  uint8(s.shutdown),
		Err:       uint32(s.err),
		Peer:      -1,
		Dead:      s.dead,
		Wmem:      s.wmem,
		Sndbuf:    s.sndbuf,
		OOB:       -1,
		Listening: s.state == sockListen,
		Backlog:   int32(s.backlog),
		Name:      append([]byte(nil), s.name...),
		Bound:     s.ns != nil,
	}
	if s.peer != nil {
		ss.Peer = fsv.sockIndex(s.peer)
	}
	for _, e := range s.pending {
		ss.Pending = append(ss.Pending, fsv.sockIndex(e))
	}
	if s.oob != nil {
		ss.OOB = int32(s.recv.indexOf(s.oob))
	}
	for _, b := range s.recv.q[s.recv.head:] {
		ss.Recv = append(ss.Recv, SkbState{
			Data:     append([]byte(nil), b.data...),
			Consumed: int64(b.consumed),
			Truesize: b.truesize,
			Sender:   fsv.sockIndex(b.sender),
		})
	}
	return ss
}

func (p *pipe) save() PipeState {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps := PipeState{Readers: int32(p.readers), Writers: int32(p.writers), Polled: p.polled,
		RCounter: p.rCounter, WCounter: p.wCounter}
	if len(p.slots) != pipeSlots {
		ps.RingSlots = int32(len(p.slots))
	}
	for i := p.tail; i != p.head; i++ {
		s := p.slots[p.slotIndex(i)]
		page := &p.pages[p.slotIndex(i)]
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
	ends, err := st.validateFiles()
	if err != nil {
		return err
	}
	for i := range st.Pipes {
		if err := st.Pipes[i].validate(ends.readers[i], ends.writers[i]); err != nil {
			return fmt.Errorf("pipe %d: %v", i, err)
		}
	}
	embryoOf := make([]int32, len(st.Sockets))
	for i := range embryoOf {
		embryoOf[i] = -1
	}
	for i := range st.Sockets {
		if err := st.validateListener(int32(i), embryoOf); err != nil {
			return fmt.Errorf("socket %d: %v", i, err)
		}
	}
	for i := range st.Sockets {
		files := ends.sockFiles[i]
		if embryoOf[i] >= 0 {
			if files > 0 {
				return fmt.Errorf("socket %d: an embryo with files", i)
			}
			files = 1 // alive without a file
		}
		if err := st.validateSocket(int32(i), files); err != nil {
			return fmt.Errorf("socket %d: %v", i, err)
		}
	}
	if err := st.validateNames(); err != nil {
		return err
	}
	return st.validateCharges()
}

// fileEnds counts the saved files of each pipe and socket.
type fileEnds struct {
	readers, writers []int32
	sockFiles        []int
}

// validateFiles checks each file on its own, counting the files of each
// pipe and socket.
func (st *FilesState) validateFiles() (fileEnds, error) {
	ends := fileEnds{
		readers:   make([]int32, len(st.Pipes)),
		writers:   make([]int32, len(st.Pipes)),
		sockFiles: make([]int, len(st.Sockets)),
	}
	for i := range st.Files {
		f := &st.Files[i]
		var err error
		switch {
		case f.Kind >= kindCount:
			err = fmt.Errorf("unknown kind %d", f.Kind)
		case f.Flags&AccessModeMask == AccessModeMask:
			err = fmt.Errorf("bad access mode in flags %#x", f.Flags)
		case f.Kind == KindPipeRead || f.Kind == KindPipeWrite || f.Kind == KindFIFOReadWrite:
			if f.Object < 0 || int(f.Object) >= len(st.Pipes) {
				err = fmt.Errorf("pipe %d out of range", f.Object)
				break
			}
			if f.Kind != KindPipeWrite {
				ends.readers[f.Object]++
			}
			if f.Kind != KindPipeRead {
				ends.writers[f.Object]++
			}
		case f.Kind == KindSocket:
			if f.Object < 0 || int(f.Object) >= len(st.Sockets) {
				err = fmt.Errorf("socket %d out of range", f.Object)
			} else {
				ends.sockFiles[f.Object]++
			}
		case f.Kind == KindTimerfd:
			err = f.Timer.validate()
		case f.Kind == KindRegular:
			err = f.Regular.validate()
		}
		if err != nil {
			return fileEnds{}, fmt.Errorf("file %d: %v", i, err)
		}
	}
	return ends, nil
}

// validate checks a pipe that readers and writers saved files name.
func (p *PipeState) validate(readers, writers int32) error {
	if p.Readers != readers || p.Writers != writers {
		return fmt.Errorf("%d readers and %d writers, but %d read and %d write ends saved",
			p.Readers, p.Writers, readers, writers)
	}
	if p.FIFO == 0 && (p.Readers > 1 || p.Writers > 1) || p.Readers+p.Writers == 0 {
		return fmt.Errorf("%d read and %d write ends", p.Readers, p.Writers)
	}
	ring := p.ringSlots()
	if ring < 1 || ring > PipeMaxSize/pipePageSize || ring&(ring-1) != 0 {
		return fmt.Errorf("ring of %d slots", ring)
	}
	if len(p.Slots) > ring {
		return fmt.Errorf("%d slots", len(p.Slots))
	}
	for j, s := range p.Slots {
		if len(s.Data) == 0 || s.Off < 0 || int(s.Off)+len(s.Data) > pipePageSize {
			return fmt.Errorf("slot %d has offset %d and %d bytes", j, s.Off, len(s.Data))
		}
	}
	return nil
}

// validateSocket checks socket i, which files saved files name, and its
// links to its peer.
func (st *FilesState) validateSocket(i int32, files int) error {
	s := &st.Sockets[i]
	switch {
	case s.Type != unix.SOCK_STREAM && s.Type != unix.SOCK_DGRAM && s.Type != unix.SOCK_SEQPACKET:
		return fmt.Errorf("type %d", s.Type)
	case s.Dead != (files == 0) || files > 1:
		return fmt.Errorf("dead=%v but %d files", s.Dead, files)
	case s.Shutdown&^shutBoth != 0:
		return fmt.Errorf("shutdown bits %#x", s.Shutdown)
	case s.Err > 4095:
		return fmt.Errorf("error %d", s.Err)
	case s.Sndbuf < 1 || s.Sndbuf > math.MaxInt32 || s.Wmem < 1 || s.Wmem > math.MaxInt64/2:
		return fmt.Errorf("sndbuf %d wmem %d", s.Sndbuf, s.Wmem)
	case s.Peer < -1 || int(s.Peer) >= len(st.Sockets) || s.Peer == i:
		return fmt.Errorf("peer %d", s.Peer)
	case s.Dead && (len(s.Recv) > 0 || s.Peer >= 0):
		return fmt.Errorf("released but has skbs or a peer")
	}
	if s.Peer >= 0 {
		p := &st.Sockets[s.Peer]
		switch {
		case !s.Connected:
			return fmt.Errorf("has a peer but is not connected")
		case !p.Dead && p.Peer != i:
			return fmt.Errorf("peer %d is not connected back", s.Peer)
		case p.Type != s.Type:
			return fmt.Errorf("peer of another type")
		}
	}
	for j := range s.Recv {
		if err := st.validateSkb(i, &s.Recv[j]); err != nil {
			return fmt.Errorf("skb %d %v", j, err)
		}
	}
	return nil
}

// validateSkb checks an skb queued on socket i.
func (st *FilesState) validateSkb(i int32, b *SkbState) error {
	switch {
	case b.Sender < 0 || int(b.Sender) >= len(st.Sockets) || b.Sender == i:
		return fmt.Errorf("sender %d", b.Sender)
	case b.Truesize < 1 || b.Truesize > math.MaxInt32:
		return fmt.Errorf("truesize %d", b.Truesize)
	case b.Consumed < 0 || b.Consumed > int64(len(b.Data)) || b.Consumed == int64(len(b.Data)) && len(b.Data) > 1:
		return fmt.Errorf("consumed %d of %d", b.Consumed, len(b.Data))
	case b.Consumed > 0 && st.Sockets[i].Type != unix.SOCK_STREAM:
		return fmt.Errorf("partly read in a message socket")
	}
	return nil
}

// validateCharges checks that a socket with a peer is charged exactly the
// skbs of its peer's queue that it sent (CheckInvariants' rule).
func (st *FilesState) validateCharges() error {
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
	files, _, start, err := RestoreFilesAndNames(st, clock)
	return files, start, err
}

// RestoreFilesAndNames is RestoreFiles that also returns the kernel's
// names rebuilt (SaveFilesAndNames), for the restored kernel to use.
func RestoreFilesAndNames(st *FilesState, clock Clock) ([]*File, Names, func(), error) {
	if err := st.Validate(); err != nil {
		return nil, Names{}, nil, err
	}
	if clock == nil {
		clock = RealClock{}
	}
	pipes := make([]*pipe, len(st.Pipes))
	for i := range st.Pipes {
		pipes[i] = restorePipe(&st.Pipes[i])
	}
	socks := restoreSockets(st.Sockets)
	names := restoreNames(st, pipes, socks)
	files := make([]*File, len(st.Files))
	var timers []*timerfd
	var timerStates []*TimerState
	for i := range st.Files {
		fst := &st.Files[i]
		var impl Impl
		switch fst.Kind {
		case KindForeign:
			continue
		case KindPipeRead, KindPipeWrite, KindFIFOReadWrite:
			impl = &pipeEnd{p: pipes[fst.Object], reader: fst.Kind != KindPipeWrite,
				writer: fst.Kind != KindPipeRead, fPipe: fst.FPipe}
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
	return files, names, start, nil
}

// +checklocksignore: builds the pipe before anything else can see it.
func restorePipe(ps *PipeState) *pipe {
	p := newPipeState()
	p.readers, p.writers, p.polled = int(ps.Readers), int(ps.Writers), ps.Polled
	p.rCounter, p.wCounter = ps.RCounter, ps.WCounter
	p.slots = make([]pipeSlot, ps.ringSlots())
	if len(ps.Slots) > 0 {
		p.pages = make([][pipePageSize]byte, len(p.slots))
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
//
// +checklocksignore: builds sockets before anything else can see them.
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
		switch {
		case ss.Connected:
			state = sockEstablished
		case ss.Listening:
			state = sockListen
		}
		s := newUnixSocket(int(ss.Type), mu, state)
		s.backlog = int(ss.Backlog)
		if len(ss.Name) > 0 {
			s.name = append([]byte(nil), ss.Name...)
		}
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
		if ss.OOB >= 0 {
			s.oob = s.recv.at(int(ss.OOB))
		}
		for _, e := range ss.Pending {
			s.pending = append(s.pending, socks[e])
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
