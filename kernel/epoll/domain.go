package epoll

import (
	"sync"
	"sync/atomic"
)

// DefaultMaxUserWatches is the max_user_watches a new Domain starts with
// (the oracle machine's value; Linux derives it from memory size).
const DefaultMaxUserWatches = 5491511

// Domain is the kernel-wide epoll state that Linux keeps in globals and in
// the user struct: the mutex that serialises topology-changing ADDs, the
// max_user_watches accounting, and whether EPOLLWAKEUP survives epoll_ctl.
// One model kernel has one Domain; every instance it creates shares it.
type Domain struct {
	// nestMu serialises every ADD that needs a full check (the target is an
	// epoll, or the instance is itself watched): the loop check, the insert
	// and the reverse-path check run under it, so no two such ADDs can build
	// a cycle between them (Linux's epnested_mutex). Taken before any
	// EventPoll.mu.
	nestMu sync.Mutex
	// checkGen numbers full checks, so a walk can mark the instances it has
	// visited.
	// +checklocks:nestMu
	checkGen uint64

	// graphMu guards every instance's nested list (its registrations whose
	// target is another epoll). It is a leaf taken inside EventPoll.mu, and
	// it may be held while taking a file's watch lock (fs.File.ForEachWatch).
	graphMu sync.Mutex

	watches    atomic.Int64 // registrations alive, across all instances
	maxWatches atomic.Int64
	keepWakeup atomic.Bool
}

// NewDomain returns a Domain with Linux's defaults: the oracle machine's
// max_user_watches, and EPOLLWAKEUP stripped (a kernel without
// CONFIG_PM_SLEEP, or a caller without CAP_BLOCK_SUSPEND).
func NewDomain() *Domain {
	d := &Domain{}
	d.maxWatches.Store(DefaultMaxUserWatches)
	return d
}

// SetMaxUserWatches sets /proc/sys/fs/epoll/max_user_watches. Exactly n
// registrations fit; the next ADD fails with ENOSPC. Lowering it below the
// current count removes nothing.
func (d *Domain) SetMaxUserWatches(n int64) { d.maxWatches.Store(n) }

// MaxUserWatches returns the limit.
func (d *Domain) MaxUserWatches() int64 { return d.maxWatches.Load() }

// Watches returns the number of registrations alive in the domain.
func (d *Domain) Watches() int64 { return d.watches.Load() }

// SetKeepWakeup chooses whether EPOLLWAKEUP is kept in stored interests (a
// CONFIG_PM_SLEEP kernel and a caller with CAP_BLOCK_SUSPEND) or silently
// stripped (the default, as on the oracle).
func (d *Domain) SetKeepWakeup(keep bool) { d.keepWakeup.Store(keep) }
