package waiter

// Sleeper is a reusable wakeup target for one blocked thread: a Waker whose
// Wake posts a token on a channel that the thread receives from. One Sleeper
// serves every blocking call of a thread, so blocking allocates nothing.
type Sleeper struct {
	ch chan struct{}
}

// NewSleeper returns a Sleeper with an empty token slot.
func NewSleeper() *Sleeper { return &Sleeper{ch: make(chan struct{}, 1)} }

// Wake posts the token (at most one is kept) and takes the wakeup.
func (s *Sleeper) Wake(EventMask) bool {
	select {
	case s.ch <- struct{}{}:
	default:
	}
	return true
}

// C is the channel a token arrives on.
func (s *Sleeper) C() <-chan struct{} { return s.ch }

// Drain discards a pending token, so a stale wakeup from an earlier wait is
// not mistaken for a new one.
func (s *Sleeper) Drain() {
	select {
	case <-s.ch:
	default:
	}
}
