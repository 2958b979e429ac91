package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
	"github.com/guestpoll/guestpoll/syscalls"
)

// box is a pollable foreign file type: a counter (IN while non-zero) and
// a list of files it holds a reference to (as an accept queue holds its
// connections). Writes add their length to the counter.
type box struct {
	restored bool // built by restoreBox: counted in restoredBoxes
	count    uint64
	held     []*fs.File
	peer     *fs.File // another box, linked after restore (no reference)
	queue    waiter.Queue
}

func (b *box) Read(f *fs.File, dst []byte) (int, error) { return 0, unix.EINVAL }
func (b *box) Write(f *fs.File, src []byte) (int, error) {
	b.count += uint64(len(src))
	b.queue.Notify(waiter.EventIn)
	return len(src), nil
}
func (b *box) Release(f *fs.File) {
	for _, h := range b.held {
		h.DecRef()
	}
	if b.restored {
		restoredBoxes.Add(-1)
	}
}

// restoredBoxes counts the boxes restoreBox built that are not released.
var restoredBoxes atomic.Int64

func (b *box) Readiness(f *fs.File, mask waiter.EventMask) waiter.EventMask {
	if b.count > 0 {
		return waiter.EventIn
	}
	return 0
}
func (b *box) EventRegister(f *fs.File, e *waiter.Entry)   { b.queue.Register(e) }
func (b *box) EventUnregister(f *fs.File, e *waiter.Entry) { b.queue.Unregister(e) }

func newBox(count uint64, held ...*fs.File) *fs.File {
	for _, h := range held {
		h.IncRef()
	}
	return fs.New(&box{count: count, held: held}, unix.O_RDWR)
}

// note is a non-pollable foreign file type: bytes.
type note struct{ text []byte }

func (n *note) Read(f *fs.File, dst []byte) (int, error) { return copy(dst, n.text), nil }
func (n *note) Write(f *fs.File, src []byte) (int, error) {
	n.text = append(n.text, src...)
	return len(src), nil
}
func (n *note) Release(f *fs.File) {}

// boxFormat: count, then the SaveContext.Ref index of each held file, then
// the peer's (or -1), all varints.
func saveBox(c *SaveContext, f *fs.File) ([]byte, error) {
	b := f.Impl().(*box)
	out := binary.AppendUvarint(nil, b.count)
	out = binary.AppendUvarint(out, uint64(len(b.held)))
	for _, h := range b.held {
		out = binary.AppendVarint(out, int64(c.Ref(h)))
	}
	peer := -1
	if b.peer != nil {
		peer = c.Ref(b.peer)
	}
	return binary.AppendVarint(out, int64(peer)), nil
}

func restoreBox(c *RestoreContext, data []byte) (*fs.File, error) {
	r := bytes.NewReader(data)
	count, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	n, err := binary.ReadUvarint(r)
	if err != nil || n > uint64(c.Refs()) {
		return nil, fmt.Errorf("box: %d held files: %v", n, err)
	}
	b := &box{count: count, restored: true}
	restoredBoxes.Add(1)
	f := fs.New(b, c.Flags())
	for range n {
		i, err := binary.ReadVarint(r)
		var h *fs.File
		if err == nil {
			h, err = c.Ref(int(i))
		}
		if err != nil {
			f.DecRef()
			return nil, err
		}
		h.IncRef()
		b.held = append(b.held, h)
	}
	peer, err := binary.ReadVarint(r)
	if err != nil {
		f.DecRef()
		return nil, err
	}
	if peer >= 0 {
		// Peers name each other: link once both exist.
		c.Defer(func(*Restored) error {
			p, err := c.Ref(int(peer))
			b.peer = p
			return err
		})
	}
	return f, nil
}

func boxType(r Readiness) FileType {
	return FileType{Name: "test.box", Impl: (*box)(nil), Save: saveBox, Restore: restoreBox, Readiness: r}
}

var noteType = FileType{
	Name: "test.note",
	Impl: (*note)(nil),
	Save: func(c *SaveContext, f *fs.File) ([]byte, error) {
		return bytes.Clone(f.Impl().(*note).text), nil
	},
	Restore: func(c *RestoreContext, data []byte) (*fs.File, error) {
		return fs.New(&note{text: data}, c.Flags()), nil
	},
}

func registry(r Readiness) *Registry {
	reg := &Registry{}
	reg.RegisterFile(boxType(r))
	reg.RegisterFile(noteType)
	return reg
}

// foreignWorld is a kernel whose table holds: 0 a box holding a pipe's
// read end that no table holds, 1 a non-pollable note, 2 an epoll
// instance with an edge-triggered registration of the box whose edge was
// already harvested, 3 and 4 two boxes that name each other as peers.
func foreignWorld(t testing.TB) *world {
	clock := fs.NewFakeClock()
	k := syscalls.NewKernelClock(clock)
	w := &world{k: k, clock: clock, tab: fd.NewTable(), mem: syscalls.NewGuestMemory()}
	r, wr := fs.NewPipe(0)
	_, err := wr.Write([]byte("queued"))
	must(t, err)
	wr.DecRef()
	bx := newBox(3, r)
	r.DecRef()                   // the box holds the only reference
	install(t, w.tab, bx, false) // 0
	nt := fs.New(&note{text: []byte("a note")}, unix.O_RDONLY|unix.O_APPEND)
	install(t, w.tab, nt, false) // 1
	e := epoll.NewFile(k.EpollDomain())
	install(t, w.tab, e, false) // 2
	x, _ := epoll.FromFile(e)
	must(t, x.Add(epoll.FileIdentifier{File: bx, Fd: 0}, waiter.EventIn|waiter.EventET, 42))
	evs := make([]epoll.Event, 4)
	if n, err := x.ReadEvents(evs, 4, nil); err != nil || n != 1 {
		t.Fatalf("first harvest: %d %v", n, err)
	}
	p1, p2 := newBox(0), newBox(0)
	p1.Impl().(*box).peer, p2.Impl().(*box).peer = p2, p1
	install(t, w.tab, p1, false) // 3
	install(t, w.tab, p2, false) // 4
	w.tasks = append(w.tasks, syscalls.NewTask(k, w.tab, w.mem, syscalls.AMD64))
	return w
}

func harvestCount(t *testing.T, w *world, n int32) int {
	t.Helper()
	evs := make([]epoll.Event, 4)
	k, err := ep(t, w, n).ReadEvents(evs, 4, nil)
	must(t, err)
	return k
}

// TestForeignUnregistered: a foreign file of a type nobody registered
// cannot be saved, and the error says what to do.
func TestForeignUnregistered(t *testing.T) {
	w := foreignWorld(t)
	defer w.close()
	_, err := Save(w.k, w.tasks, SaveOptions{})
	if err == nil || !strings.Contains(err.Error(), "cannot save") || !strings.Contains(err.Error(), "SaveOptions.Types") {
		t.Fatalf("got %v", err)
	}
}

// TestForeignRoundTrip saves foreign files (pollable and not, holding a
// file no table holds, naming each other), restores them, and saves the
// restored kernel: the checkpoints are identical, and the restored files
// have their state, references and links.
func TestForeignRoundTrip(t *testing.T) {
	w := foreignWorld(t)
	defer w.close()
	reg := registry(ReadinessExact)
	b1, err := Save(w.k, w.tasks, SaveOptions{Types: reg})
	must(t, err)
	r, err := Restore(b1, RestoreOptions{Clock: w.clock, Types: reg})
	must(t, err)
	w2 := &world{k: r.Kernel, clock: w.clock, tab: r.Tables[0], mem: r.Memories[0].(*syscalls.GuestMemory), tasks: r.Tasks}
	defer w2.close()
	b2, err := Save(w2.k, w2.tasks, SaveOptions{Types: reg})
	must(t, err)
	if !bytes.Equal(b1, b2) {
		t.Fatal("the restored kernel's checkpoint differs")
	}
	bx := get(t, w2, 0).Impl().(*box)
	if bx.count != 3 || len(bx.held) != 1 {
		t.Fatalf("box: count %d, %d held", bx.count, len(bx.held))
	}
	buf := make([]byte, 16)
	if n, err := bx.held[0].Read(buf); err != nil || string(buf[:n]) != "queued" {
		t.Fatalf("held pipe: %q %v", buf[:max(n, 0)], err)
	}
	nt := get(t, w2, 1)
	if nt.Pollable() != nil || string(nt.Impl().(*note).text) != "a note" || nt.StatusFlags() != unix.O_RDONLY|unix.O_APPEND {
		t.Fatalf("note: %q flags %#x", nt.Impl().(*note).text, nt.StatusFlags())
	}
	p1, p2 := get(t, w2, 3), get(t, w2, 4)
	if p1.Impl().(*box).peer != p2 || p2.Impl().(*box).peer != p1 {
		t.Fatal("peers not linked after restore")
	}
}

// TestForeignReadiness: an edge-triggered registration whose edge was
// harvested before the save reports nothing after a restore of a type
// whose readiness is exact (as on the original kernel), and one event
// after a restore that re-polls.
func TestForeignReadiness(t *testing.T) {
	w := foreignWorld(t)
	defer w.close()
	b, err := Save(w.k, w.tasks, SaveOptions{Types: registry(ReadinessExact)})
	must(t, err)
	if n := harvestCount(t, w, 2); n != 0 {
		t.Fatalf("original kernel: %d events after the edge was consumed", n)
	}
	for _, c := range []struct {
		reg  *Registry
		want int
	}{
		{registry(ReadinessExact), 0},
		{registry(ReadinessRepolled), 1},
		{overridden(ReadinessExact, ReadinessRepolled), 1},
		{overridden(ReadinessRepolled, ReadinessExact), 0},
	} {
		r, err := Restore(b, RestoreOptions{Clock: w.clock, Types: c.reg})
		must(t, err)
		w2 := &world{k: r.Kernel, tab: r.Tables[0], tasks: r.Tasks}
		if n := harvestCount(t, w2, 2); n != c.want {
			t.Errorf("%v: %d events after restore, want %d", c.reg.files["test.box"].Readiness, n, c.want)
		}
		w2.close()
	}
}

// overridden is a registry whose box type says typeSays and whose Restore
// overrides it with SetReadiness(restoreSays).
func overridden(typeSays, restoreSays Readiness) *Registry {
	t := boxType(typeSays)
	t.Restore = func(c *RestoreContext, data []byte) (*fs.File, error) {
		c.SetReadiness(restoreSays)
		return restoreBox(c, data)
	}
	reg := &Registry{}
	reg.RegisterFile(t)
	reg.RegisterFile(noteType)
	return reg
}

// TestForeignRestoreFailures: a missing type, a failing Restore, a file
// with other flags or pollability, and a failing deferred step each fail
// the restore and leave nothing behind (no registration, the held pipe
// released).
func TestForeignRestoreFailures(t *testing.T) {
	w := foreignWorld(t)
	defer w.close()
	b, err := Save(w.k, w.tasks, SaveOptions{Types: registry(ReadinessExact)})
	must(t, err)
	only := func(ts ...FileType) *Registry {
		reg := &Registry{}
		for _, t := range ts {
			reg.RegisterFile(t)
		}
		return reg
	}
	failing := boxType(ReadinessExact)
	failing.Restore = func(c *RestoreContext, data []byte) (*fs.File, error) { return nil, errors.New("no box today") }
	badFlags := noteType
	badFlags.Restore = func(c *RestoreContext, data []byte) (*fs.File, error) { return fs.New(&note{}, unix.O_RDWR), nil }
	pollableNote := noteType
	pollableNote.Restore = func(c *RestoreContext, data []byte) (*fs.File, error) { return fs.New(&box{}, c.Flags()), nil }
	badDefer := boxType(ReadinessExact)
	badDefer.Restore = func(c *RestoreContext, data []byte) (*fs.File, error) {
		c.Defer(func(*Restored) error { return errors.New("cannot link") })
		return restoreBox(c, data)
	}
	for _, c := range []struct {
		name string
		reg  *Registry
		want string
	}{
		{"nil registry", nil, "not registered"},
		{"no note", only(boxType(ReadinessExact)), `"test.note"`},
		{"failing", only(failing, noteType), "no box today"},
		{"flags", only(boxType(ReadinessExact), badFlags), "flags"},
		{"pollable", only(boxType(ReadinessExact), pollableNote), "pollable"},
		{"defer", only(badDefer, noteType), "cannot link"},
	} {
		_, err := Restore(b, RestoreOptions{Clock: w.clock, Types: c.reg})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error mentioning %s", c.name, err, c.want)
		}
		if c.reg == nil && !errors.Is(err, ErrUnknownType) {
			t.Errorf("%s: %v does not wrap ErrUnknownType", c.name, err)
		}
		if n := restoredBoxes.Load(); n != 0 {
			t.Errorf("%s: %d restored boxes not released", c.name, n)
		}
	}
}

// TestForeignCycleInRestore: a Restore that asks, through Ref, for a file
// that is being restored (each box wants its peer at once) gets an error
// instead of recursing forever.
func TestForeignCycleInRestore(t *testing.T) {
	w := foreignWorld(t)
	defer w.close()
	eager := boxType(ReadinessExact)
	eager.Restore = func(c *RestoreContext, data []byte) (*fs.File, error) {
		for i := range c.Refs() {
			if _, err := c.Ref(i); err != nil {
				return nil, err
			}
		}
		return restoreBox(c, data)
	}
	reg := &Registry{}
	reg.RegisterFile(eager)
	reg.RegisterFile(noteType)
	b, err := Save(w.k, w.tasks, SaveOptions{Types: reg})
	must(t, err)
	if _, err := Restore(b, RestoreOptions{Clock: w.clock, Types: reg}); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("got %v", err)
	}
}

// TestForeignValidation: Decode rejects foreign entries that are out of
// range, duplicated, unnamed, or name a file out of range; and a file held
// only by a foreign file that nothing holds.
func TestForeignValidation(t *testing.T) {
	w := foreignWorld(t)
	defer w.close()
	saved, err := SaveImage(w.k, w.tasks, SaveOptions{Types: registry(ReadinessExact)})
	must(t, err)
	base := saved.Encode()
	cases := []struct {
		name   string
		mutate func(im *Image)
		want   string
	}{
		{"file range", func(im *Image) { im.Foreign[0].File = 999 }, "out of range"},
		{"twice", func(im *Image) { im.Foreign[1].File = im.Foreign[0].File }, "described twice"},
		{"no type", func(im *Image) { im.Foreign[0].Type = "" }, "empty type"},
		{"ref range", func(im *Image) { im.Foreign[0].Refs[0] = -1 }, "reference"},
		{"self ref", func(im *Image) { im.Foreign[0].Refs[0] = im.Foreign[0].File }, "itself"},
		{"undescribed", func(im *Image) { im.Foreign = im.Foreign[1:] }, "described by nobody"},
		{"unheld", func(im *Image) {
			im.Tables[0].Slots = im.Tables[0].Slots[1:] // fd 0: the box and so its pipe
			im.Epolls[0].State = epoll.InstanceState{}
		}, "held by no"},
		{"memory type with guest state", func(im *Image) {
			im.Memories[0].Type = "x"
			im.Memories[0].Guest.Maps = []syscalls.MemoryRange{{Start: 0, End: syscalls.PageSize}}
		}, "guest memory state"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			im, err := Decode(base)
			must(t, err)
			c.mutate(im)
			if err := im.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate: got %v, want an error mentioning %q", err, c.want)
			}
			if im.Memories[0].Type != "" {
				return // the encoding has no room for the guest state
			}
			if _, err := Decode(im.Encode()); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an ErrFormat mentioning %q", err, c.want)
			}
		})
	}
}

// TestRegistryMisuse: registering wrongly panics with a message naming
// the misuse.
func TestRegistryMisuse(t *testing.T) {
	cases := []struct {
		name string
		do   func(r *Registry)
		want string
	}{
		{"empty name", func(r *Registry) { r.RegisterFile(FileType{Impl: (*box)(nil), Save: saveBox, Restore: restoreBox}) }, "empty"},
		{"nil impl", func(r *Registry) { r.RegisterFile(FileType{Name: "x", Save: saveBox, Restore: restoreBox}) }, "nil Impl"},
		{"twice", func(r *Registry) { r.RegisterFile(boxType(0)); r.RegisterFile(boxType(0)) }, "registered twice"},
		{"same impl", func(r *Registry) {
			r.RegisterFile(boxType(0))
			b := boxType(0)
			b.Name = "other"
			r.RegisterFile(b)
		}, "already registered"},
		{"readiness", func(r *Registry) { r.RegisterFile(boxType(7)) }, "unknown"},
		{"epoll", func(r *Registry) {
			b := boxType(0)
			b.Impl = (*epoll.EventPoll)(nil)
			r.RegisterFile(b)
		}, "saves itself"},
		{"memory nil", func(r *Registry) { r.RegisterMemory(MemoryType{Name: "m"}) }, "nil Impl"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				msg := fmt.Sprint(recover())
				if !strings.Contains(msg, c.want) || !strings.Contains(msg, "checkpoint: Registry.Register") {
					t.Fatalf("panic %q, want one mentioning %q", msg, c.want)
				}
			}()
			c.do(&Registry{})
		})
	}
}

// flatMemory is an embedder's guest memory: one flat buffer at address 0.
type flatMemory struct{ b []byte }

func (m *flatMemory) CopyIn(addr uint64, dst []byte) error {
	if addr > uint64(len(m.b)) || uint64(len(dst)) > uint64(len(m.b))-addr {
		return unix.EFAULT
	}
	copy(dst, m.b[addr:])
	return nil
}

func (m *flatMemory) CopyOut(addr uint64, src []byte) error {
	if addr > uint64(len(m.b)) || uint64(len(src)) > uint64(len(m.b))-addr {
		return unix.EFAULT
	}
	copy(m.b[addr:], src)
	return nil
}

var flatType = MemoryType{
	Name:    "test.flat",
	Impl:    (*flatMemory)(nil),
	Save:    func(m syscalls.Memory) ([]byte, error) { return bytes.Clone(m.(*flatMemory).b), nil },
	Restore: func(data []byte) (syscalls.Memory, error) { return &flatMemory{b: data}, nil },
}

// TestForeignMemory: a kernel whose task uses its own memory type saves
// only with the type registered, and restores with its contents, shared
// by the two tasks that shared it.
func TestForeignMemory(t *testing.T) {
	k := syscalls.NewKernelClock(fs.NewFakeClock())
	tab := fd.NewTable()
	mem := &flatMemory{b: []byte("flat guest memory")}
	t1 := syscalls.NewTask(k, tab, mem, syscalls.AMD64)
	t2 := syscalls.NewTask(k, tab, mem, syscalls.AMD64)
	defer func() { t1.Exit(); t2.Exit(); tab.CloseAll() }()
	tasks := []*syscalls.Task{t1, t2}
	if _, err := Save(k, tasks, SaveOptions{}); err == nil || !strings.Contains(err.Error(), "flatMemory") {
		t.Fatalf("save without the type: %v", err)
	}
	reg := &Registry{}
	reg.RegisterMemory(flatType)
	b, err := Save(k, tasks, SaveOptions{Types: reg})
	must(t, err)
	if _, err := Restore(b, RestoreOptions{}); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("restore without the type: %v", err)
	}
	r, err := Restore(b, RestoreOptions{Types: reg})
	must(t, err)
	defer func() { r.Tasks[0].Exit(); r.Tasks[1].Exit(); r.Tables[0].CloseAll() }()
	if len(r.Memories) != 1 || r.Tasks[0].Memory() != r.Memories[0] || r.Tasks[1].Memory() != r.Memories[0] {
		t.Fatalf("memories %v not shared by the tasks", r.Memories)
	}
	buf := make([]byte, 6)
	must(t, r.Memories[0].CopyIn(5, buf))
	if string(buf) != "guest " {
		t.Fatalf("restored memory reads %q", buf)
	}
}

// TestForeignRestoreReturningARef: a Restore that returns a file it names
// instead of a new one is a misuse, and the panic says so.
func TestForeignRestoreReturningARef(t *testing.T) {
	w := foreignWorld(t)
	defer w.close()
	lazy := boxType(ReadinessExact)
	lazy.Restore = func(c *RestoreContext, data []byte) (*fs.File, error) { return c.Ref(0) }
	reg := &Registry{}
	reg.RegisterFile(lazy)
	reg.RegisterFile(noteType)
	b, err := Save(w.k, w.tasks, SaveOptions{Types: reg})
	must(t, err)
	defer func() {
		if msg := fmt.Sprint(recover()); !strings.Contains(msg, "returned a file it names") {
			t.Fatalf("panic %q", msg)
		}
	}()
	_, _ = Restore(b, RestoreOptions{Clock: w.clock, Types: reg})
}
