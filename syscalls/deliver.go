package syscalls

// DeliverPendingSignals consumes the pending signals the task's mask allows,
// as a return to user space runs their handlers. Embedders call it when the
// guest thread runs user code between system calls, so a signal that
// arrived as one call was returning does not interrupt the next.
func (t *Task) DeliverPendingSignals() { t.deliverSignals() }
