package peers

import "sync/atomic"

// side is one end of a wakeup round trip: signal the peer's eventfd;
// block until the own eventfd is readable and consume it.
type side interface {
	signal()
	await()
}

// pingPong runs peer's end in a goroutine that answers every signal, and
// returns one round trip of a's end and the function that stops the peer
// and then calls release.
func pingPong(a, peer side, release func()) (roundTrip, stop func()) {
	var quit atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			peer.await()
			if quit.Load() {
				return
			}
			peer.signal()
		}
	}()
	roundTrip = func() {
		a.signal()
		a.await()
	}
	stop = func() {
		quit.Store(true)
		a.signal()
		<-done
		release()
	}
	return roundTrip, stop
}
