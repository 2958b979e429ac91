package fd

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/kernel/fs"
)

// NrOpen is Linux's fs.nr_open default: the largest number of fds a table
// can ever hold, and the ceiling for RLIMIT_NOFILE.
const NrOpen = 1 << 20

// DefaultLimit is the RLIMIT_NOFILE a new table starts with.
const DefaultLimit = 1024

type slot struct {
	file    *fs.File
	cloexec bool
	// reserved marks a number taken by Reserve and not yet installed: it
	// is not free, but it is not open either (EBADF to every lookup, EBUSY
	// to dup2, skipped by close_range and fork).
	reserved bool
}

func (s *slot) busy() bool { return s.file != nil || s.reserved }

// Table is an fd table. Its zero value is not usable; call NewTable.
type Table struct {
	mu sync.Mutex
	// slots[i] is fd i.
	// +checklocks:mu
	slots []slot
	// lowestFree is a lower bound on the lowest free number.
	// +checklocks:mu
	lowestFree int32
	// limit is the RLIMIT_NOFILE soft limit; maxLimit the hard limit.
	// +checklocks:mu
	limit uint64
	// +checklocks:mu
	maxLimit uint64
	// open counts installed fds.
	// +checklocks:mu
	open int
	// users counts the tasks attached to the table (Attach, Detach).
	// +checklocks:mu
	users int
	// private marks a table made by Unshare: it belongs to its users and is
	// closed when the last one detaches.
	// +checklocks:mu
	private bool
	// taskOwned records the promise of SetTaskOwned. borrow mirrors
	// "taskOwned and at most one task attached" for Borrow, which reads it
	// without mu; it is written under mu by every change of either
	// (publishBorrowLocked).
	// +checklocks:mu
	taskOwned bool
	borrow    atomic.Bool

	// lookup mirrors slots[i].file for GetFile, which reads it without mu
	// (Linux's RCU fd lookup). Every change of a slot's file is stored
	// here under mu (publishLocked), in one store, so a lookup sees the
	// old file or the new one, never a gap; a grown array replaces the
	// old one, which the collector frees once no lookup uses it.
	lookup atomic.Pointer[[]atomic.Pointer[fs.File]]
}

// NewTable returns an empty table with the default limits.
func NewTable() *Table {
	return &Table{limit: DefaultLimit, maxLimit: NrOpen}
}

// Limit returns the RLIMIT_NOFILE soft and hard limits.
func (t *Table) Limit() (soft, hard uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.limit, t.maxLimit
}

// SetLimit sets RLIMIT_NOFILE. As in Linux: soft > hard is EINVAL, hard
// above nr_open is EPERM, and raising the hard limit needs a privilege the
// model grants (it is the embedder's kernel).
func (t *Table) SetLimit(soft, hard uint64) error {
	if soft > hard {
		return unix.EINVAL
	}
	if hard > NrOpen { // RLIM_INFINITY included
		return unix.EPERM
	}
	t.mu.Lock()
	t.limit, t.maxLimit = soft, hard
	t.mu.Unlock()
	return nil
}

// Get returns the file at fd with a new reference, which the caller must
// drop with DecRef, and its FD_CLOEXEC flag. A closed or negative fd is
// EBADF.
func (t *Table) Get(fd int32) (*fs.File, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd < 0 || int(fd) >= len(t.slots) || t.slots[fd].file == nil {
		return nil, false, unix.EBADF
	}
	return t.refLocked(fd), t.slots[fd].cloexec, nil
}

// refLocked takes a new reference on fd's file (which must be open) for a
// lookup under t.mu, and panics if the file was released while installed.
// Callers unlock t.mu with a defer, so the table stays usable after the
// panic.
//
// +checklocks:t.mu
func (t *Table) refLocked(fd int32) *fs.File {
	f := t.slots[fd].file
	if !f.TryIncRef() {
		panic(releasedInstalled(fd))
	}
	return f
}

// GetFile returns fd's file with a new reference, or EBADF, without taking
// the table lock (Linux's fdget): the file is read from the lookup array,
// referenced if it is not released yet, and read again to make sure fd
// still holds it. A lookup racing a close or dup2 of fd sees the file
// before or after, as in Linux.
func (t *Table) GetFile(fd int32) (*fs.File, error) {
	for {
		arr := t.lookup.Load()
		if fd < 0 || arr == nil || int(fd) >= len(*arr) {
			return nil, unix.EBADF
		}
		f := (*arr)[fd].Load()
		if f == nil {
			return nil, unix.EBADF
		}
		if !f.TryIncRef() {
			// Released: a close or dup2 took it out of fd before dropping
			// its reference, so a new look finds something else. If fd
			// still holds it, it was released while installed.
			t.checkNotReleasedInstalled(arr, fd, f)
			continue
		}
		if t.lookup.Load() == arr && (*arr)[fd].Load() == f {
			return f, nil
		}
		f.DecRef()
	}
}

// SetTaskOwned records its owner's promise that from now on t changes
// only through the system calls of the tasks attached to it, each made on
// that task's own goroutine, as Linux's files_struct changes only through
// the threads that share it: nothing else closes, replaces (dup2) or
// installs a number of t while one of its tasks is inside a call, and a
// second task is attached (NewTask) only by a call of a task of t or while
// none of its tasks is inside a call. With that promise, the lookups of
// the only attached task take no reference (Borrow), since nothing else
// can drop the table's reference while its call runs. A table made by
// Unshare from a task-owned table is task-owned. There is no way back: the
// promise is for the table's life.
func (t *Table) SetTaskOwned() {
	t.mu.Lock()
	t.taskOwned = true
	t.publishBorrowLocked()
	t.mu.Unlock()
}

// publishBorrowLocked keeps the borrow mirror.
//
// +checklocks:t.mu
func (t *Table) publishBorrowLocked() {
	if b := t.taskOwned && t.users <= 1; b != t.borrow.Load() {
		t.borrow.Store(b)
	}
}

// Borrow returns fd's file for the rest of one system call of the calling
// task, or EBADF. If ref is true the file carries a new reference, which
// the caller drops with DecRef when the call ends (GetFile). If ref is
// false (a task-owned table, SetTaskOwned, with the caller its only task:
// Linux's __fget_light), no reference was taken: the table's own keeps the
// file alive, because only the caller could drop it, and the caller must
// neither keep the file beyond the call nor close fd while it uses it.
func (t *Table) Borrow(fd int32) (f *fs.File, ref bool, err error) {
	if !t.borrow.Load() {
		f, err = t.GetFile(fd)
		return f, err == nil, err
	}
	arr := t.lookup.Load()
	if fd < 0 || arr == nil || int(fd) >= len(*arr) {
		return nil, false, unix.EBADF
	}
	f = (*arr)[fd].Load()
	if f == nil {
		return nil, false, unix.EBADF
	}
	if f.Released() {
		panic(releasedInstalled(fd))
	}
	return f, false, nil
}

// checkNotReleasedInstalled panics if fd still holds f, which GetFile found
// released. A table's reference is dropped only after the number stops
// holding the file (Close, Dup2 and CloseRange publish the change under
// t.mu first), so a released file still installed means that someone
// dropped a reference they did not own: without this check GetFile would
// retry forever.
func (t *Table) checkNotReleasedInstalled(arr *[]atomic.Pointer[fs.File], fd int32, f *fs.File) {
	if t.lookup.Load() == arr && (*arr)[fd].Load() == f {
		panic(releasedInstalled(fd))
	}
}

func releasedInstalled(fd int32) string {
	return fmt.Sprintf("fd: fd %d holds a released file: a DecRef too many on a file installed in an fd table (or a file installed without a reference of its own)", fd)
}

// publishLocked stores slots[fd].file in the lookup array, growing it if
// need be.
//
// +checklocks:t.mu
func (t *Table) publishLocked(fd int32) {
	arr := t.lookup.Load()
	if arr == nil || int(fd) >= len(*arr) {
		n := make([]atomic.Pointer[fs.File], max(cap(t.slots), int(fd)+1))
		if arr != nil {
			for i := range *arr {
				n[i].Store((*arr)[i].Load())
			}
		}
		t.lookup.Store(&n)
		arr = &n
	}
	(*arr)[fd].Store(t.slots[fd].file)
}

// publishAllLocked builds the lookup array of a table made whole (Fork,
// RestoreTable).
//
// +checklocks:t.mu
func (t *Table) publishAllLocked() {
	n := make([]atomic.Pointer[fs.File], cap(t.slots))
	for i := range t.slots {
		n[i].Store(t.slots[i].file)
	}
	t.lookup.Store(&n)
}

// Install puts f at the lowest free number ≥ min, taking over the caller's
// reference on success. On failure (EMFILE, or EINVAL for min beyond the
// limit as F_DUPFD reports it) the caller keeps its reference.
func (t *Table) Install(f *fs.File, min int32, cloexec bool) (int32, error) {
	checkInstallable("Install", f)
	t.mu.Lock()
	defer t.mu.Unlock()
	fd, err := t.allocLocked(min)
	if err != nil {
		return -1, err
	}
	t.setLocked(fd, f, cloexec)
	return fd, nil
}

// Reserve takes the lowest free number without installing anything
// (get_unused_fd_flags), for calls that must fail cleanly after choosing
// their numbers: pipe2 and socketpair reserve two, copy them out, and only
// then install (or Unreserve on failure). A reserved number is not open:
// lookups give EBADF and dup2 onto it EBUSY, as in Linux.
func (t *Table) Reserve() (int32, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fd, err := t.allocLocked(0)
	if err != nil {
		return -1, err
	}
	t.growLocked(fd)
	t.slots[fd].reserved = true
	return fd, nil
}

// InstallReserved installs f at a number returned by Reserve, taking over
// the caller's reference (fd_install).
func (t *Table) InstallReserved(fd int32, f *fs.File, cloexec bool) {
	checkInstallable("InstallReserved", f)
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd < 0 || int(fd) >= len(t.slots) || !t.slots[fd].reserved {
		panic("fd: InstallReserved on a number that is not reserved")
	}
	t.setLocked(fd, f, cloexec)
}

// Unreserve frees a number returned by Reserve (put_unused_fd).
func (t *Table) Unreserve(fd int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd < 0 || int(fd) >= len(t.slots) || !t.slots[fd].reserved {
		panic("fd: Unreserve on a number that is not reserved")
	}
	t.slots[fd] = slot{}
	if fd < t.lowestFree {
		t.lowestFree = fd
	}
}

// checkInstallable panics unless f can be installed: a nil or released
// file in a table would read as a free number, or be handed out by every
// lookup after its resources are gone.
func checkInstallable(op string, f *fs.File) {
	switch {
	case f == nil:
		panic("fd: Table." + op + " of a nil file")
	case f.Released():
		panic("fd: Table." + op + " of a released file (the caller's reference was already dropped)")
	}
}

// allocLocked chooses the lowest free number at or above min, within the
// limit (Linux's alloc_fd).
//
// +checklocks:t.mu
func (t *Table) allocLocked(min int32) (int32, error) {
	if min < 0 {
		return -1, unix.EINVAL
	}
	limit := t.limit
	if limit > NrOpen {
		limit = NrOpen
	}
	start := min
	if start < t.lowestFree {
		start = t.lowestFree
	}
	fd := start
	for int(fd) < len(t.slots) && t.slots[fd].busy() {
		fd++
	}
	if uint64(fd) >= limit {
		return -1, unix.EMFILE
	}
	if min <= t.lowestFree {
		t.lowestFree = fd
	}
	return fd, nil
}

// growLocked makes slots long enough to hold fd.
//
// +checklocks:t.mu
func (t *Table) growLocked(fd int32) {
	for int(fd) >= len(t.slots) {
		t.slots = append(t.slots, slot{})
	}
}

// setLocked installs f at fd and publishes it.
//
// +checklocks:t.mu
func (t *Table) setLocked(fd int32, f *fs.File, cloexec bool) {
	t.growLocked(fd)
	t.slots[fd] = slot{file: f, cloexec: cloexec}
	t.open++
	t.publishLocked(fd)
}

// Close removes fd and drops its reference. A closed or negative fd is
// EBADF.
func (t *Table) Close(fd int32) error {
	t.mu.Lock()
	f := t.removeLocked(fd)
	t.mu.Unlock()
	if f == nil {
		return unix.EBADF
	}
	f.DecRef()
	return nil
}

// removeLocked empties fd and returns the file it held (nil if none); the
// caller drops the reference after unlocking.
//
// +checklocks:t.mu
func (t *Table) removeLocked(fd int32) *fs.File {
	if fd < 0 || int(fd) >= len(t.slots) || t.slots[fd].file == nil {
		return nil
	}
	f := t.slots[fd].file
	t.slots[fd] = slot{}
	t.open--
	t.publishLocked(fd)
	if fd < t.lowestFree {
		t.lowestFree = fd
	}
	return f
}

// CloseRange closes every open fd in [first, last] (close_range without
// flags), or with cloexecOnly sets FD_CLOEXEC on them instead
// (CLOSE_RANGE_CLOEXEC).
func (t *Table) CloseRange(first, last uint32, cloexecOnly bool) {
	var closed []*fs.File
	t.mu.Lock()
	for fd := uint64(first); fd <= uint64(last) && fd < uint64(len(t.slots)); fd++ {
		if t.slots[fd].file == nil {
			continue
		}
		if cloexecOnly {
			t.slots[fd].cloexec = true
			continue
		}
		closed = append(closed, t.removeLocked(int32(fd)))
	}
	t.mu.Unlock()
	for _, f := range closed {
		f.DecRef()
	}
}

// Dup installs a new reference to fd's file at the lowest free number
// (dup): EBADF for a closed fd, EMFILE at the limit.
func (t *Table) Dup(fd int32, cloexec bool) (int32, error) {
	return t.dup(fd, 0, cloexec, false)
}

// DupFrom installs a new reference to fd's file at the lowest free number
// ≥ min (F_DUPFD, F_DUPFD_CLOEXEC): EBADF for a closed fd, then EINVAL when
// min is negative or not below RLIMIT_NOFILE, EMFILE when nothing is free.
func (t *Table) DupFrom(fd, min int32, cloexec bool) (int32, error) {
	return t.dup(fd, min, cloexec, true)
}

func (t *Table) dup(fd, min int32, cloexec, checkMin bool) (int32, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd < 0 || int(fd) >= len(t.slots) || t.slots[fd].file == nil {
		return -1, unix.EBADF
	}
	if checkMin && (min < 0 || uint64(min) >= t.limit) {
		return -1, unix.EINVAL
	}
	nfd, err := t.allocLocked(min)
	if err != nil {
		return -1, err
	}
	t.setLocked(nfd, t.refLocked(fd), cloexec)
	return nfd, nil
}

// Dup2 makes newfd refer to oldfd's file, closing whatever newfd held, in
// Linux's order of checks: for dup3 (isDup3) oldfd == newfd is EINVAL before
// anything else; for dup2 it returns newfd if oldfd is open (else EBADF);
// then newfd outside [0, RLIMIT_NOFILE) is EBADF, then a closed oldfd EBADF.
func (t *Table) Dup2(oldfd, newfd int32, cloexec, isDup3 bool) (int32, error) {
	replaced, err := t.dup2(oldfd, newfd, cloexec, isDup3)
	if replaced != nil {
		replaced.DecRef()
	}
	if err != nil {
		return -1, err
	}
	return newfd, nil
}

// dup2 is Dup2 under t.mu; it returns the file newfd held before, whose
// reference the caller drops once the lock is released.
func (t *Table) dup2(oldfd, newfd int32, cloexec, isDup3 bool) (*fs.File, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if oldfd == newfd {
		open := oldfd >= 0 && int(oldfd) < len(t.slots) && t.slots[oldfd].file != nil
		switch {
		case isDup3:
			return nil, unix.EINVAL
		case !open:
			return nil, unix.EBADF
		}
		return nil, nil
	}
	if newfd < 0 || uint64(newfd) >= t.limit || newfd >= NrOpen {
		return nil, unix.EBADF
	}
	if oldfd < 0 || int(oldfd) >= len(t.slots) || t.slots[oldfd].file == nil {
		return nil, unix.EBADF
	}
	if int(newfd) < len(t.slots) && t.slots[newfd].reserved {
		// Another thread is between reserving newfd and installing it.
		return nil, unix.EBUSY
	}
	f := t.refLocked(oldfd)
	var replaced *fs.File
	if int(newfd) < len(t.slots) && t.slots[newfd].file != nil {
		// Replaced in one store (setLocked): a lookup never finds newfd
		// closed in between.
		replaced = t.slots[newfd].file
		t.open--
	}
	t.setLocked(newfd, f, cloexec)
	return replaced, nil
}

// CloseOnExec returns fd's FD_CLOEXEC flag.
func (t *Table) CloseOnExec(fd int32) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd < 0 || int(fd) >= len(t.slots) || t.slots[fd].file == nil {
		return false, unix.EBADF
	}
	return t.slots[fd].cloexec, nil
}

// SetCloseOnExec sets fd's FD_CLOEXEC flag.
func (t *Table) SetCloseOnExec(fd int32, cloexec bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd < 0 || int(fd) >= len(t.slots) || t.slots[fd].file == nil {
		return unix.EBADF
	}
	t.slots[fd].cloexec = cloexec
	return nil
}

// Fork returns a copy of the table, as fork(2) copies it: the same files
// (each with a new reference), the same flags and limits.
func (t *Table) Fork() *Table {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := &Table{
		slots:      make([]slot, len(t.slots)),
		lowestFree: t.lowestFree,
		limit:      t.limit,
		maxLimit:   t.maxLimit,
		open:       t.open,
	}
	copy(n.slots, t.slots)
	for i := range n.slots {
		s := &n.slots[i]
		switch {
		case s.file != nil:
			t.refLocked(int32(i))
		case s.reserved:
			// Being installed by a thread of the parent: free here.
			*s = slot{}
			if int32(i) < n.lowestFree {
				n.lowestFree = int32(i)
			}
		}
	}
	n.publishAllLocked() // +checklocksignore: n is not shared yet.
	return n
}

// Attach records that one more task uses the table (files_struct's count).
func (t *Table) Attach() {
	t.mu.Lock()
	t.users++
	t.publishBorrowLocked()
	t.mu.Unlock()
}

// Detach records that a task stopped using the table. A table made by
// Unshare is closed when its last user detaches; any other table belongs to
// whoever made it with NewTable, who closes it (CloseAll).
func (t *Table) Detach() {
	t.mu.Lock()
	if t.users <= 0 {
		t.mu.Unlock()
		panic("fd: Detach without Attach")
	}
	t.users--
	t.publishBorrowLocked()
	last := t.users == 0 && t.private
	t.mu.Unlock()
	if last {
		t.CloseAll()
	}
}

// Unshare gives an attached task a table of its own, as unshare(CLONE_FILES)
// and close_range(CLOSE_RANGE_UNSHARE) do: if other tasks use t, the caller
// detaches from it and gets a copy (Fork) that it alone is attached to;
// otherwise it keeps t.
func (t *Table) Unshare() *Table {
	t.mu.Lock()
	if t.users <= 1 {
		t.mu.Unlock()
		return t
	}
	owned := t.taskOwned
	t.mu.Unlock()
	n := t.Fork()
	n.mu.Lock()
	n.users, n.private, n.taskOwned = 1, true, owned
	n.publishBorrowLocked()
	n.mu.Unlock()
	t.Detach()
	return n
}

// CloseAll closes every fd (process exit).
func (t *Table) CloseAll() {
	t.CloseRange(0, math.MaxUint32, false)
}

// Len returns the number of open fds.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.open
}

// ForEach calls fn for each open fd in ascending order, with the table
// locked; fn must not call back into the table or drop references.
func (t *Table) ForEach(fn func(fd int32, f *fs.File, cloexec bool)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, s := range t.slots {
		if s.file != nil {
			fn(int32(i), s.file, s.cloexec)
		}
	}
}
