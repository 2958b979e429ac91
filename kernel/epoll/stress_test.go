package epoll_test

import (
	"math/rand"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/internal/kerneltest"
	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/kernel/waiter"
)

// counter is an eventfd-like file: readable while its count is non-zero.
type counter struct {
	n atomic.Int64
	q waiter.Queue
}

func (c *counter) Readiness(*fs.File, waiter.EventMask) waiter.EventMask {
	if c.n.Load() > 0 {
		return waiter.EventIn | waiter.EventOut
	}
	return waiter.EventOut
}
func (c *counter) EventRegister(_ *fs.File, e *waiter.Entry)   { c.q.Register(e) }
func (c *counter) EventUnregister(_ *fs.File, e *waiter.Entry) { c.q.Unregister(e) }
func (c *counter) Read(*fs.File, []byte) (int, error)          { return 0, unix.EAGAIN }
func (c *counter) Write(*fs.File, []byte) (int, error)         { return 0, unix.EAGAIN }
func (c *counter) Release(*fs.File)                            {}
func (c *counter) add() {
	c.n.Add(1)
	c.q.Notify(waiter.EventIn)
}

// TestStressNothingLost runs producers that bump counters, consumers that
// block in Wait and drain them (LT and ET instances), ctl churn and
// final-close races on other files, all at once. Every produced unit must
// be consumed, no goroutine may be left behind, and every instance's
// invariants must hold.
func TestStressNothingLost(t *testing.T) {
	before := runtime.NumGoroutine()
	d := epoll.NewDomain()
	const counters, produce = 8, 3000
	var cs []*counter
	var cfiles []*fs.File
	for i := 0; i < counters; i++ {
		c := &counter{}
		cs = append(cs, c)
		cfiles = append(cfiles, fs.New(c, unix.O_RDWR))
	}
	type inst struct {
		ep   *epoll.EventPoll
		file *fs.File
	}
	var insts []inst
	for _, mode := range []waiter.EventMask{0, waiter.EventET} {
		ep, f := newEpoll(t, d)
		insts = append(insts, inst{ep, f})
		for j, cf := range cfiles {
			must(t, ep.Add(epoll.FileIdentifier{File: cf, Fd: int32(j)}, waiter.EventIn|mode, uint64(j)))
		}
	}

	var consumed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// Consumers: two per instance, blocking waits with a deadline so that a
	// lost wakeup shows up as a shortfall rather than a hang.
	for _, in := range insts {
		for k := 0; k < 2; k++ {
			wg.Add(1)
			go func(ep *epoll.EventPoll) {
				defer wg.Done()
				th := kerneltest.NewThread()
				buf := make([]epoll.Event, 4)
				for {
					select {
					case <-stop:
						return
					default:
					}
					n, _ := ep.Wait(th, buf, len(buf), nil, time.Now().Add(50*time.Millisecond), false)
					for _, e := range buf[:n] {
						if e.Data < counters { // not a churn registration
							consumed.Add(cs[e.Data].n.Swap(0))
						}
					}
				}
			}(in.ep)
		}
	}
	// Ctl churn and close races on files that come and go.
	for k := 0; k < 2; k++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			r := rand.New(rand.NewSource(seed))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				f, ff := kerneltest.NewFakeFile(waiter.EventIn)
				ep := insts[r.Intn(len(insts))].ep
				id := epoll.FileIdentifier{File: f, Fd: int32(1000 + r.Intn(50))}
				if err := ep.Add(id, waiter.EventIn|waiter.EventOneshot, 1<<40); err != nil {
					t.Errorf("add: %v", err)
				}
				ff.Signal(waiter.EventIn, waiter.EventIn)
				if r.Intn(2) == 0 {
					_ = ep.Modify(id, waiter.EventIn, 1<<40)
				}
				if r.Intn(3) == 0 {
					_ = ep.Delete(id)
				}
				f.DecRef() // final release races with harvests and waits
			}
		}(int64(k))
	}
	// Producers.
	var pwg sync.WaitGroup
	for k := 0; k < 2; k++ {
		pwg.Add(1)
		go func(seed int64) {
			defer pwg.Done()
			r := rand.New(rand.NewSource(seed))
			for i := 0; i < produce; i++ {
				cs[r.Intn(counters)].add()
				if i%64 == 0 {
					runtime.Gosched()
				}
			}
		}(int64(100 + k))
	}
	pwg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for consumed.Load() != 2*produce && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if got := consumed.Load(); got != 2*produce {
		t.Fatalf("consumed %d of %d: wakeups lost", got, 2*produce)
	}
	for _, in := range insts {
		if err := in.ep.CheckInvariants(); err != nil {
			t.Fatal(err)
		}
		in.file.DecRef()
	}
	for _, cf := range cfiles {
		cf.DecRef()
	}
	if w := d.Watches(); w != 0 {
		t.Fatalf("%d watches leaked", w)
	}
	deadline = time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines leaked", n-before)
	}
}

// TestStressNestedCtl builds and tears down nested instances concurrently
// with wakeups flowing through them: no deadlock, invariants hold.
func TestStressNestedCtl(t *testing.T) {
	d := epoll.NewDomain()
	f, ff := kerneltest.NewFakeFile(waiter.EventIn)
	defer f.DecRef()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				ff.Signal(waiter.EventIn, waiter.EventIn)
			}
		}
	}()
	var bwg sync.WaitGroup
	for k := 0; k < 3; k++ {
		bwg.Add(1)
		go func(seed int64) {
			defer bwg.Done()
			r := rand.New(rand.NewSource(seed))
			for i := 0; i < 300; i++ {
				n := 1 + r.Intn(5)
				var eps []*epoll.EventPoll
				var files []*fs.File
				for j := 0; j < n; j++ {
					ep, ef := newEpoll(t, d)
					eps, files = append(eps, ep), append(files, ef)
				}
				must(t, eps[n-1].Add(epoll.FileIdentifier{File: f, Fd: 3}, waiter.EventIn|waiter.EventET, 0))
				for j := n - 2; j >= 0; j-- {
					must(t, eps[j].Add(epoll.FileIdentifier{File: files[j+1], Fd: 4}, waiter.EventIn, 0))
				}
				harvest(eps[0], 4)
				for _, ep := range eps {
					if err := ep.CheckInvariants(); err != nil {
						t.Error(err)
					}
				}
				for _, j := range r.Perm(n) {
					files[j].DecRef()
				}
			}
		}(int64(k))
	}
	bwg.Wait()
	close(stop)
	wg.Wait()
	if w := d.Watches(); w != 0 {
		t.Fatalf("%d watches leaked", w)
	}
}
