// Package peers benchmarks guestpoll's epoll against its peers in one test
// binary (issue 17, docs/performance.md): the host kernel's epoll, gVisor's
// (the sentry's vfs.EpollInstance with gVisor's eventfd and pkg/waiter),
// the model (kernel/epoll with kernel/fs's eventfd) and the model behind
// the syscall layer (syscalls.Task), plus the hostfd bridge against native
// host epoll.
//
// It is a module of its own so that guestpoll never depends on gVisor: its
// go.mod requires gVisor and points guestpoll at the enclosing tree
// (replace ../..). The package holds only benchmarks and their tests;
// `make bench` builds its test binary once and runs it BENCHCOUNT times,
// so that the implementations alternate within every round, and
// cmd/benchtable turns the output into the table.
//
// Every benchmark is one function per operation with a sub-benchmark per
// implementation, named the benchstat way:
//
//	BenchmarkHarvest/impl=gvisor/n=1
//
// impl is host, gvisor, model, syscall, chan (a bare channel ping-pong,
// the wakeup round trip's floor) or hostfd. What each one drives is
// documented on the benchmark; in short:
//
//   - host: the same operation through golang.org/x/sys/unix on host
//     eventfds (the helpers of internal/kerneltest).
//   - gvisor: gVisor's own code, in process: a vfs.VirtualFilesystem
//     (Init only, no kernel), vfs.EpollInstance from NewEpollInstanceFD,
//     eventfds from fsimpl/eventfd.New, and the calls gVisor's epoll
//     system calls make (AddInterest, DeleteInterest, ModifyInterest,
//     ReadEvents; a blocking wait is waitEpoll's loop: ReadEvents, then a
//     waiter.NewChannelEntry registered on the instance, ReadEvents again,
//     then a receive on the channel). What is not gVisor's is the
//     kernel.Task around it: no fd table lookup, no copy to guest memory,
//     no Task.BlockWithDeadline (a plain channel receive instead), so the
//     gVisor column is comparable with the model column, not with the
//     syscall layer's.
//   - model: kernel/epoll and kernel/fs through their exported API.
//   - syscall: syscalls.Task.Syscall with x86-64 numbers on a task with
//     its own fd table and guest memory: decode, fd lookup, copy-in and
//     copy-out included.
package peers
