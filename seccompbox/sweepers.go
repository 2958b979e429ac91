//go:build linux && amd64

package seccompbox

import "time"

// sweeper notices blocking waits whose thread was interrupted out of the
// call (a signal without SA_RESTART: the guest saw EINTR and went on), and
// forgets instances and registrations whose guest files are gone.
func (b *Box) sweeper() {
	defer b.wg.Done()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	withdrawn := func(id uint64) bool { return !notifIDValid(b.listener, id) }
	var rounds int
	for {
		select {
		case <-b.done:
			return
		case <-tick.C:
		}
		for _, th := range b.threadList() {
			if th.calls.abandonIfWithdrawn(withdrawn) {
				b.stats[statCancelled].count.Add(1)
			}
		}
		if rounds++; rounds%50 == 0 {
			b.collect()
		}
	}
}

// instanceList returns the live instances, for a walk without b.mu held.
func (b *Box) instanceList() []*instance {
	b.mu.Lock()
	defer b.mu.Unlock()
	insts := make([]*instance, 0, len(b.instances))
	for inst := range b.instances {
		insts = append(insts, inst)
	}
	return insts
}

// collectFloor is the fewest instances at which a collection is started
// early (Box.collectAt).
const collectFloor = 64

// collect forgets instances whose placeholder the guest released, and
// the registrations of live ones whose guest file the guest released. The
// next early collection comes when the instances have doubled, so that
// its cost (a /proc read per instance) is a constant per instance made.
func (b *Box) collect() {
	live := 0
	for _, inst := range b.instanceList() {
		if inst.gone() {
			b.kill(inst)
			continue
		}
		live++
		for _, f := range inst.deadProxies() {
			f.DecRef()
		}
	}
	b.mu.Lock()
	b.collectAt = max(2*live, collectFloor)
	b.mu.Unlock()
}

// collectNesting forgets the instances that contain others and whose
// placeholder the guest released: the ones a nesting check can walk
// through. (A released nested instance is reaped by its parent's
// reapChildren.)
func (b *Box) collectNesting() {
	for _, inst := range b.instanceList() {
		inst.mu.Lock()
		parent := len(inst.children) > 0
		inst.mu.Unlock()
		if parent && inst.gone() {
			b.kill(inst)
		}
	}
}

// bellRefresher updates doorbells after the model instances' wakeups.
func (b *Box) bellRefresher() {
	defer b.wg.Done()
	for {
		select {
		case <-b.done:
			return
		case inst := <-b.bellQ:
			inst.refreshBell(false)
		case <-b.bellKick:
			if b.bellAll.Swap(false) {
				for _, inst := range b.instanceList() {
					inst.refreshBell(false)
				}
			}
		}
	}
}
