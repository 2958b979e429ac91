//go:build linux && amd64

package seccompbox

import (
	"encoding/binary"
	"slices"

	"golang.org/x/sys/unix"
)

// maxPolledFds is how many distinct fds a trapped poll or select may name
// for the box to look at each: with more, every instance is refreshed
// instead (see pollSync).
const maxPolledFds = 1024

// pollSync runs before a trapped poll, ppoll, select or pselect6 is
// continued: the model catches up with the host, and the doorbells of the
// guest's epoll fds the call names are recomputed as Linux's poll of an
// epoll fd does (ep_eventpoll_poll, which drops stale queued items; the
// instances the call does not name keep theirs). An fd set or poll array
// the box cannot read gets EFAULT from the kernel before anything is
// polled; a call naming more than maxPolledFds distinct fds refreshes
// every instance, which the box can afford where it cannot identify each
// fd.
func (b *Box) pollSync(th *thread, n *notif) {
	b.mu.Lock()
	none := len(b.instances) == 0
	b.mu.Unlock()
	if none {
		return
	}
	fds, ok := b.polledFds(th, n)
	if !ok || len(fds) == 0 {
		return // nothing to poll: no doorbell to bring up to date
	}
	b.drainHost()
	if len(fds) > maxPolledFds {
		for _, inst := range b.instanceList() {
			b.reapChildren(inst)
			inst.refreshBell(true)
		}
		return
	}
	for _, num := range fds {
		if inst := b.resolveEpfd(th, num); inst != nil {
			b.reapChildren(inst)
			inst.refreshBell(true)
			inst.file.DecRef()
		}
	}
}

// polledFds returns the distinct fds that trapped call n polls (false when
// the kernel will fail it before polling).
func (b *Box) polledFds(th *thread, n *notif) ([]int32, bool) {
	b.recv.mem.pid, b.recv.mem.id = int(th.tid), 0
	var fds []int32
	if n.nr == unix.SYS_POLL || n.nr == unix.SYS_PPOLL {
		nfds := n.args[1]
		if nfds > fdSetsMax {
			return nil, false // EINVAL beyond RLIMIT_NOFILE
		}
		buf := make([]byte, 8*nfds)
		if b.recv.mem.CopyIn(n.args[0], buf) != nil {
			return nil, false
		}
		for i := uint64(0); i < nfds; i++ {
			if num := int32(binary.LittleEndian.Uint32(buf[8*i:])); num >= 0 {
				fds = append(fds, num)
			}
		}
	} else { // select, pselect6: nfds, then the read, write and except sets
		nfds := int64(int32(n.args[0]))
		if nfds < 0 || nfds > fdSetsMax {
			return nil, false
		}
		buf := make([]byte, 8*((nfds+63)/64))
		for _, set := range n.args[1:4] {
			if set == 0 {
				continue
			}
			if b.recv.mem.CopyIn(set, buf) != nil {
				return nil, false
			}
			for num := int64(0); num < nfds; num++ {
				if buf[num/8]&(1<<(num%8)) != 0 {
					fds = append(fds, int32(num))
				}
			}
		}
	}
	slices.Sort(fds)
	return slices.Compact(fds), true
}

// fdSetsMax bounds the poll arrays and fd sets the box reads (the kernel
// refuses larger ones: RLIMIT_NOFILE, at most fs.nr_open).
const fdSetsMax = 1 << 20
