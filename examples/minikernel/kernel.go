package minikernel

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/guestpoll/guestpoll/checkpoint"
	"github.com/guestpoll/guestpoll/hostfd"
	"github.com/guestpoll/guestpoll/kernel/fs"
	"github.com/guestpoll/guestpoll/syscalls"
)

// The x86-64 numbers of the system calls this kernel adds to package
// syscalls' table (arch/x86/entry/syscalls/syscall_64.tbl).
const (
	SysAccept4   = 288
	SysSignalfd4 = 289
)

// Options configure a Kernel.
type Options struct {
	// Notifier is how the kernel's hostfd bridge learns host readiness
	// (hostfd.NotifyPpoll, the default, or hostfd.NotifyEpoll).
	Notifier hostfd.Notifier
}

// Kernel is the tiny kernel: a syscalls.Kernel whose table also serves
// accept4 and signalfd4 (x86-64 tasks), a hostfd bridge for the host
// sockets it imports, and the host listeners donated to it by name, kept
// so that a restored kernel can be given them again.
type Kernel struct {
	// Sys is the syscall layer's kernel: tasks are made on it with
	// syscalls.NewTask and issue their calls with Task.Syscall.
	Sys    *syscalls.Kernel
	bridge *hostfd.Bridge
	opts   Options
	// modelAccept4 is the syscall layer's own accept4, which this
	// kernel's replaces (RegisterSyscall) and calls for the model's
	// AF_UNIX listeners.
	modelAccept4 syscalls.Handler

	mu sync.Mutex
	// +checklocks:mu
	donors map[string]int // name -> the donor's copy of a host listener
}

// New starts a kernel.
func New(opts Options) (*Kernel, error) {
	k, err := newUnserved(opts)
	if err != nil {
		return nil, err
	}
	k.serve(syscalls.NewKernel())
	return k, nil
}

// newUnserved returns a kernel with its bridge and no syscalls.Kernel yet.
func newUnserved(opts Options) (*Kernel, error) {
	b, err := hostfd.NewBridge(hostfd.Options{Notifier: opts.Notifier})
	if err != nil {
		return nil, err
	}
	return &Kernel{bridge: b, opts: opts, donors: map[string]int{}}, nil
}

// serve makes sys the kernel's syscall layer, serving its system calls.
func (k *Kernel) serve(sys *syscalls.Kernel) {
	k.Sys = sys
	// Both numbers are the syscall layer's too: these handlers replace
	// its accept4 (delegating to it for the files they do not own) and
	// its signalfd4 (this kernel's signalfd is its own type, fed by the
	// task signal hook).
	k.modelAccept4 = sys.Builtin(syscalls.AMD64, SysAccept4)
	sys.RegisterSyscall(syscalls.AMD64, SysAccept4, k.accept4)
	sys.RegisterSyscall(syscalls.AMD64, SysSignalfd4, signalfd4)
}

// Close stops the kernel's bridge and closes the donors' copies of its
// host listeners. Files still open stay usable, but host readiness no
// longer reaches them (hostfd.Bridge.Close).
func (k *Kernel) Close() error {
	k.mu.Lock()
	for name, fd := range k.donors {
		unix.Close(fd)
		delete(k.donors, name)
	}
	k.mu.Unlock()
	return k.bridge.Close()
}

// Bridge returns the kernel's hostfd bridge.
func (k *Kernel) Bridge() *hostfd.Bridge { return k.bridge }

// ImportListener makes hostFD, a listening host socket, a file of the
// kernel (one reference, the caller's) and takes ownership of it, as
// hostfd.Bridge.Import does. The donor keeps a copy under name, unique
// in the kernel: a checkpoint saves the file as that name, and the
// restored kernel is given the same listening socket again (re-donated,
// as a supervisor hands a sandbox its sockets after a restore).
func (k *Kernel) ImportListener(name string, hostFD int) (*fs.File, error) {
	copyFD, err := unix.FcntlInt(uintptr(hostFD), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		unix.Close(hostFD)
		return nil, err
	}
	f, err := k.bridge.Import(hostFD, hostfd.ImportOptions{Flags: unix.O_RDWR})
	if err != nil {
		unix.Close(copyFD)
		return nil, err
	}
	k.mu.Lock()
	_, taken := k.donors[name]
	if !taken && name != "" {
		k.donors[name] = copyFD
	}
	k.mu.Unlock()
	if taken || name == "" {
		f.DecRef() // closes hostFD
		unix.Close(copyFD)
		return nil, fmt.Errorf("minikernel: host listener name %q empty or in use", name)
	}
	return f, nil
}

// hostName is checkpoint.SaveOptions.HostName: the donor's name of a
// host listener, found by the socket's inode (the donor's copy and the
// imported fd share one open file description). A host fd the kernel
// did not get by name (an accepted connection) cannot be given back
// after a restore, so the checkpoint fails naming it.
func (k *Kernel) hostName(f *fs.File) (string, error) {
	var st unix.Stat_t
	if err := hostfd.Do(f, 0, func(fd int) error { return unix.Fstat(fd, &st) }); err != nil {
		return "", err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for name, fd := range k.donors {
		var dst unix.Stat_t
		if unix.Fstat(fd, &dst) == nil && dst.Dev == st.Dev && dst.Ino == st.Ino {
			return name, nil
		}
	}
	return "", fmt.Errorf("minikernel: host fd (inode %d) was not donated by name: only host listeners can be checkpointed", st.Ino)
}

// hostByName is checkpoint.RestoreOptions.Host: a fresh copy of the
// donor's listener, imported into k's bridge.
func (k *Kernel) hostByName(name string, flags uint32) (*fs.File, error) {
	k.mu.Lock()
	fd, ok := k.donors[name]
	var copyFD int
	var err error
	if ok {
		copyFD, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	}
	k.mu.Unlock()
	switch {
	case !ok:
		return nil, fmt.Errorf("minikernel: no host listener named %q", name)
	case err != nil:
		return nil, err
	}
	return k.bridge.Import(copyFD, hostfd.ImportOptions{Flags: flags})
}

// Checkpoint saves the kernel as tasks see it (checkpoint.Save with the
// kernel's foreign file types and its host listeners' names). No task may
// be inside Syscall: stop blocked ones first (syscalls.Task.Stop, or
// checkpoint.SaveStopped).
func (k *Kernel) Checkpoint(tasks []*syscalls.Task) ([]byte, error) {
	return checkpoint.Save(k.Sys, tasks, checkpoint.SaveOptions{Types: types, HostName: k.hostName})
}

// Restore builds a brand-new kernel from a checkpoint of one whose
// donors were k's: the new kernel gets its own bridge (with k's options),
// its own copies of k's host listeners, and its tasks (in the saved
// order, each with its fd table and memory).
func (k *Kernel) Restore(data []byte) (*Kernel, *checkpoint.Restored, error) {
	nk, err := newUnserved(k.opts)
	if err != nil {
		return nil, nil, err
	}
	k.mu.Lock()
	for name, fd := range k.donors {
		if c, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0); err == nil {
			nk.donors[name] = c // +checklocksignore: nk is not shared yet.
		}
	}
	k.mu.Unlock()
	r, err := checkpoint.Restore(data, checkpoint.RestoreOptions{Types: types, Host: nk.hostByName})
	if err != nil {
		return nil, nil, errors.Join(err, nk.Close())
	}
	nk.serve(r.Kernel)
	return nk, r, nil
}
