package checkpoint

import "github.com/guestpoll/guestpoll/syscalls"

// SaveStopped is Save for a kernel whose tasks may be blocked: it stops
// every task (syscalls.Task.Stop), which ends their blocking calls as
// Linux ends them for a stopped and continued thread (epoll_wait EINTR;
// read, write and poll syscalls.ErrRestart, for the embedder to issue
// again); calls wait, which must return once no task is inside Syscall
// (the embedder's guest threads have returned and hold before their next
// call); saves; and continues the tasks, whether or not Save succeeded.
// See the package doc, Quiescence.
func SaveStopped(k *syscalls.Kernel, tasks []*syscalls.Task, opts SaveOptions, wait func()) ([]byte, error) {
	for _, t := range tasks {
		t.Stop()
	}
	defer func() {
		for _, t := range tasks {
			t.Continue()
		}
	}()
	wait()
	return Save(k, tasks, opts)
}
