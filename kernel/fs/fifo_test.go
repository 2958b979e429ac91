package fs

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/waiter"
)

func openFIFO(t *testing.T, ns *PathNamespace, path string, flags uint32) *File {
	t.Helper()
	o, err := ns.OpenFIFO(path, flags)
	if err != nil {
		t.Fatalf("open %s %#x: %v", path, flags, err)
	}
	if o.Waiting() {
		t.Fatalf("open %s %#x waits", path, flags)
	}
	return o.Done()
}

// TestFIFOPartnerWakeups: the first reader or writer to open wakes both
// queues (wake_up_partner: key 0, wake-all); later ones wake nobody; a
// FIFO's pipe goes with its last file.
func TestFIFOPartnerWakeups(t *testing.T) {
	ns := NewPathNamespace()
	if err := ns.Mknod("/tmp/f", unix.S_IFIFO|0o600); err != nil {
		t.Fatal(err)
	}
	r := openFIFO(t, ns, "/tmp/f", unix.O_RDONLY|unix.O_NONBLOCK)
	rec := watch(t, r)
	w := openFIFO(t, ns, "/tmp/f", unix.O_WRONLY|unix.O_NONBLOCK)
	rec.expect(t, "first writer", all(0))
	w2 := openFIFO(t, ns, "/tmp/f", unix.O_WRONLY|unix.O_NONBLOCK)
	rec.expect(t, "second writer")
	if n, err := w.Write([]byte("x")); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	rec.expect(t, "write", one(waiter.EventIn|waiter.EventRdNorm))
	w.DecRef()
	rec.expect(t, "one of two writers leaves")
	w2.DecRef()
	rec.expect(t, "last writer leaves", all(0))
	expectMask(t, "hung up with data", r, waiter.EventIn|waiter.EventRdNorm|waiter.EventHUp)
	checkInv(t, r)
	r.DecRef()
	r = openFIFO(t, ns, "/tmp/f", unix.O_RDWR)
	defer r.DecRef()
	expectMask(t, "a new pipe: the byte went with the last file", r, waiter.EventOut|waiter.EventWrNorm)
	if err := ns.Mknod("/tmp/d", unix.S_IFDIR); err != unix.EPERM {
		t.Errorf("mknod S_IFDIR: %v", err)
	}
	if _, err := ns.OpenFIFO("/tmp/f", unix.O_ACCMODE); err != unix.EINVAL {
		t.Errorf("access mode 3: %v", err)
	}
}
