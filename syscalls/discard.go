package syscalls

// DiscardSignals drops the pending signals in mask without delivering them
// (a signal that an embedder sent to end a blocking call, and that arrived
// after the call had already returned, must not end the next one). Safe to
// call from any goroutine.
func (t *Task) DiscardSignals(mask uint64) {
	t.sigMu.Lock()
	t.pending &^= mask
	t.publishSigMuLocked()
	// A wakeup token the signal posted stays: it may also be a real
	// wakeup's. Left over, it only ends a sleep early (a spurious wakeup
	// that the sleeper's caller re-checks), and the next blocking call
	// drops it before it registers (prepareSleep).
	t.sigMu.Unlock()
}
