package boxfuzz

import (
	"fmt"
	"time"

	"github.com/guestpoll/guestpoll/conformance"
	"github.com/guestpoll/guestpoll/conformance/fuzzgen"
)

// StormIntervals are the storm levels a Config can pick: the mean time
// between two SIGUSR1s sent to each script thread (0: no storm).
var StormIntervals = []time.Duration{0, time.Millisecond, 200 * time.Microsecond, 50 * time.Microsecond}

// Config is how one fuzz input is run, decoded from its first two bytes.
type Config struct {
	// Storm is the storm level, an index in StormIntervals.
	Storm int
	// Blocking gives every main-thread wait that finds events queued a
	// 3 s timeout (see Prepare).
	Blocking bool
	// Handoff, if not negative, moves one such wait to a helper thread
	// that is blocked in it while the step before it runs (see Prepare);
	// it selects which, modulo the number of candidates.
	Handoff int
	// HandoffAll makes the handoff of every candidate wait at once,
	// falling back to the one Handoff selects, then to none.
	HandoffAll bool
}

func (c Config) String() string {
	return fmt.Sprintf("storm every %v (level %d), blocking waits %v, handoff %d, handoff all %v", StormIntervals[c.Storm], c.Storm, c.Blocking, c.Handoff, c.HandoffAll)
}

// SeedConfig is the configuration seeds are written with when an engine
// needs them as files (epollfuzz seeds -boxed): a storm every ~200 µs,
// blocking waits and a handoff.
var SeedConfig = Config{Storm: 2, Blocking: true, Handoff: 0}

// configBytes is how many leading input bytes Decode takes for the Config.
const configBytes = 2

// Decode splits a fuzz input into its Config (byte 0: bits 0-1 the storm
// level, bit 2 Blocking, bit 3 a handoff; byte 1 the handoff selector)
// and the generated script (the rest, through fuzzgen.Generate). Bit 4
// sets HandoffAll (and Blocking).
func Decode(in []byte) (Config, *conformance.Script, error) {
	var head [configBytes]byte
	n := copy(head[:], in)
	c := Config{Storm: int(head[0] & 3), Blocking: head[0]&4 != 0, Handoff: -1}
	if head[0]&8 != 0 {
		c.Blocking = true
		c.Handoff = int(head[1])
	}
	if head[0]&16 != 0 {
		c.Blocking, c.HandoffAll = true, true
	}
	sc, err := conformance.Parse("generated.script", fuzzgen.Generate(in[n:]))
	return c, sc, err
}

// Encode is Decode's inverse for seeds: the Config's bytes, then the
// generator input of sc (fuzzgen.Encode).
func Encode(c Config, sc *conformance.Script) []byte {
	b0 := byte(c.Storm & 3)
	if c.Blocking {
		b0 |= 4
	}
	var b1 byte
	if c.Handoff >= 0 {
		b0 |= 8
		b1 = byte(c.Handoff)
	}
	if c.HandoffAll {
		b0 |= 16
	}
	return append([]byte{b0, b1}, fuzzgen.Encode(sc)...)
}
