//go:build linux && amd64

package seccompbox

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// pollSync runs before a trapped poll, ppoll, select or pselect6 is
// continued: the model catches up with the host, and the doorbells of the
// guest's epoll fds in the poll set are recomputed as Linux's poll of an
// epoll fd would (every instance for select).
func (b *Box) pollSync(th *thread, n *notif) {
	b.mu.Lock()
	none := len(b.instances) == 0
	b.mu.Unlock()
	if none {
		return
	}
	b.drainHost()
	var targets []*instance
	if n.nr == unix.SYS_POLL || n.nr == unix.SYS_PPOLL {
		nfds := n.args[1]
		if nfds > 64 {
			nfds = 64 // larger sets: every instance
		} else {
			buf := make([]byte, 8*nfds)
			b.recv.mem.pid, b.recv.mem.id = int(th.tid), 0
			if b.recv.mem.CopyIn(n.args[0], buf) != nil {
				return
			}
			for i := uint64(0); i < nfds; i++ {
				num := int32(binary.LittleEndian.Uint32(buf[8*i:]))
				if num < 0 {
					continue
				}
				if inst := b.resolveEpfd(th, num); inst != nil {
					targets = append(targets, inst)
				}
			}
			for _, inst := range targets {
				b.reapChildren(inst)
				inst.refreshBell(true)
				inst.file.DecRef()
			}
			return
		}
	}
	b.mu.Lock()
	for inst := range b.instances {
		targets = append(targets, inst)
	}
	b.mu.Unlock()
	for _, inst := range targets {
		b.reapChildren(inst)
		inst.refreshBell(true)
	}
}
