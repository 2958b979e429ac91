package modelbackend

import (
	"errors"
	"fmt"

	"github.com/guestpoll/guestpoll/kernel/epoll"
	"github.com/guestpoll/guestpoll/kernel/fd"
	"github.com/guestpoll/guestpoll/kernel/fs"
)

// OpenFDs returns the number of fds open in the machine's process.
func (m *Machine) OpenFDs() int { return m.fds.Len() }

// CheckInvariants checks the whole model between two steps, when no call
// is running (the fuzzers call it after every step). Besides each
// package's own checker (the fd table, every file, every epoll instance),
// it checks what only the whole machine shows, since the fd tables of its
// processes (the script's and its children's not yet exited) are the only
// holders of file references between calls:
//
//   - every file's reference count equals the number of fds referring to
//     it (no leaked or missing reference);
//   - every epoll registration watches a file that is open in the table
//     (no entry of a released file), and is linked on that file's watch
//     list; every watch on a file belongs to a registration of an epoll
//     instance open in the table (back-pointers agree both ways);
//   - the epoll domain counts exactly the registrations of those
//     instances (max_user_watches accounting).
func (m *Machine) CheckInvariants() error {
	refs := map[*fs.File]int64{}
	var files []*fs.File
	for _, table := range m.liveTables() {
		if err := table.CheckInvariants(); err != nil {
			return err
		}
		table.ForEach(func(_ int32, f *fs.File, _ bool) {
			if refs[f] == 0 {
				files = append(files, f)
			}
			refs[f]++
		})
	}
	var errs []error
	watchers := map[*fs.File]int{} // registrations per target file
	var regs int64
	for _, f := range files {
		if r := f.Refs(); r != refs[f] {
			errs = append(errs, fmt.Errorf("a %T file has %d references but %d fds", f.Impl(), r, refs[f]))
		}
		if err := fs.CheckInvariants(f); err != nil {
			errs = append(errs, err)
		}
		ep, ok := epoll.FromFile(f)
		if !ok {
			continue
		}
		if err := ep.CheckInvariants(); err != nil {
			errs = append(errs, err)
		}
		for _, in := range ep.Interests() {
			regs++
			if refs[in.File] == 0 {
				errs = append(errs, fmt.Errorf("an epoll registration (fd %d) watches a file that no fd refers to (released: %v)", in.Fd, in.File.Released()))
				continue
			}
			watchers[in.File]++
		}
	}
	for _, f := range files {
		n := 0
		f.ForEachWatch(func(w *fs.Watch) bool {
			n++
			if wf := w.Owner().WatcherFile(); refs[wf] == 0 {
				errs = append(errs, fmt.Errorf("a %T file is watched by an epoll instance no fd refers to", f.Impl()))
			}
			return true
		})
		if n != watchers[f] {
			errs = append(errs, fmt.Errorf("a %T file has %d watches but %d registrations", f.Impl(), n, watchers[f]))
		}
	}
	if w := m.kernel.EpollDomain().Watches(); w != regs {
		errs = append(errs, fmt.Errorf("the epoll domain counts %d registrations, the instances hold %d", w, regs))
	}
	return errors.Join(errs...)
}

// liveTables returns the fd tables of the script's process and of its
// children that have not exited.
func (m *Machine) liveTables() []*fd.Table {
	m.mu.Lock()
	defer m.mu.Unlock()
	tables := []*fd.Table{m.fds}
	for _, c := range m.children {
		if !c.proc.Exited() {
			tables = append(tables, c.proc.Table())
		}
	}
	return tables
}
