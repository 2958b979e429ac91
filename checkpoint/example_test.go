package checkpoint_test

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/checkpoint"
	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
	"github.com/guestpoll/guestpoll/syscalls"
)

// doorbell is an embedder's own file type: each write rings it once, and
// it is readable (EPOLLIN) while rings are unread. (Locking is left out:
// the example runs on one goroutine.)
type doorbell struct {
	rings uint64
	queue waiter.Queue
}

func (d *doorbell) Read(f *fs.File, dst []byte) (int, error) {
	if d.rings == 0 {
		return 0, unix.EAGAIN
	}
	d.rings--
	return 0, nil
}

func (d *doorbell) Write(f *fs.File, src []byte) (int, error) {
	d.rings++
	d.queue.Notify(waiter.EventIn)
	return len(src), nil
}

func (d *doorbell) Release(f *fs.File) {}

func (d *doorbell) Readiness(f *fs.File, mask waiter.EventMask) waiter.EventMask {
	if d.rings > 0 {
		return waiter.EventIn
	}
	return 0
}

func (d *doorbell) EventRegister(f *fs.File, e *waiter.Entry)   { d.queue.Register(e) }
func (d *doorbell) EventUnregister(f *fs.File, e *waiter.Entry) { d.queue.Unregister(e) }

// doorbellType saves a doorbell as its ring count. Its whole state is in
// the checkpoint, so its readiness after a restore is exactly the saved
// one: registrations on it are not polled again.
var doorbellType = checkpoint.FileType{
	Name: "example.doorbell",
	Impl: (*doorbell)(nil),
	Save: func(c *checkpoint.SaveContext, f *fs.File) ([]byte, error) {
		return binary.AppendUvarint(nil, f.Impl().(*doorbell).rings), nil
	},
	Restore: func(c *checkpoint.RestoreContext, data []byte) (*fs.File, error) {
		rings, n := binary.Uvarint(data)
		if n != len(data) {
			return nil, errors.New("doorbell: bad state")
		}
		return fs.New(&doorbell{rings: rings}, c.Flags()), nil
	},
	Readiness: checkpoint.ReadinessExact,
}

// Example saves a kernel holding a foreign file type watched by an
// edge-triggered epoll registration, and restores it: the restored
// doorbell has its rings, and the edge the guest already harvested is not
// reported again.
func Example() {
	types := &checkpoint.Registry{}
	types.RegisterFile(doorbellType)

	k := syscalls.NewKernel()
	table := fd.NewTable()
	task := syscalls.NewTask(k, table, syscalls.NewGuestMemory(), syscalls.AMD64)
	bell := fs.New(&doorbell{}, unix.O_RDWR)
	bellFd, _ := table.Install(bell, 0, false)
	epFile := epoll.NewFile(k.EpollDomain())
	epFd, _ := table.Install(epFile, 0, false)
	ep, _ := epoll.FromFile(epFile)
	_ = ep.Add(epoll.FileIdentifier{File: bell, Fd: bellFd}, waiter.EventIn|waiter.EventET, 7)
	_, _ = bell.Write([]byte("ding"))
	_, _ = bell.Write([]byte("dong"))
	events := make([]epoll.Event, 4)
	n, _ := ep.ReadEvents(events, 4, nil) // the guest consumes the edge
	fmt.Println("before save: events", n)

	data, err := checkpoint.Save(k, []*syscalls.Task{task}, checkpoint.SaveOptions{Types: types})
	if err != nil {
		fmt.Println(err)
		return
	}
	task.Exit()
	table.CloseAll()

	r, err := checkpoint.Restore(data, checkpoint.RestoreOptions{Types: types})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() {
		r.Tasks[0].Exit()
		r.Tables[0].CloseAll()
	}()
	bell2, _ := r.Tables[0].GetFile(bellFd)
	defer bell2.DecRef()
	epFile2, _ := r.Tables[0].GetFile(epFd)
	defer epFile2.DecRef()
	ep2, _ := epoll.FromFile(epFile2)
	fmt.Println("restored rings:", bell2.Impl().(*doorbell).rings)
	n, _ = ep2.ReadEvents(events, 4, nil)
	fmt.Println("after restore: events", n)
	_, _ = bell2.Write([]byte("ding"))
	n, _ = ep2.ReadEvents(events, 4, nil)
	fmt.Println("after a new ring: events", n, "data", events[0].Data)
	// Output:
	// before save: events 1
	// restored rings: 2
	// after restore: events 0
	// after a new ring: events 1 data 7
}
