package waiter

import (
	"strconv"
	"strings"
)

// EventMask is a set of epoll/poll event bits, with Linux's values.
type EventMask uint32

// The event bits. The first twelve are readiness bits that files report; the
// last four are input-only flags of epoll_ctl ("private" bits in Linux).
const (
	EventIn     EventMask = 0x1
	EventPri    EventMask = 0x2
	EventOut    EventMask = 0x4
	EventErr    EventMask = 0x8
	EventHUp    EventMask = 0x10
	EventNVal   EventMask = 0x20
	EventRdNorm EventMask = 0x40
	EventRdBand EventMask = 0x80
	EventWrNorm EventMask = 0x100
	EventWrBand EventMask = 0x200
	EventMsg    EventMask = 0x400
	EventRdHUp  EventMask = 0x2000

	EventExclusive EventMask = 1 << 28
	EventWakeup    EventMask = 1 << 29
	EventOneshot   EventMask = 1 << 30
	EventET        EventMask = 1 << 31

	// PrivateBits are the input-only flags; an entry whose interest has no
	// bit outside them (a fired ONESHOT entry) reports nothing.
	PrivateBits = EventExclusive | EventWakeup | EventOneshot | EventET

	// ReadableEvents and WritableEvents are the keys of ordinary data and
	// space wakeups.
	ReadableEvents = EventIn | EventRdNorm
	WritableEvents = EventOut | EventWrNorm
)

// maskNames lists the named bits in the order the conformance format prints
// them.
var maskNames = [...]struct {
	bit  EventMask
	name string
}{
	{EventIn, "IN"}, {EventOut, "OUT"}, {EventPri, "PRI"}, {EventErr, "ERR"},
	{EventHUp, "HUP"}, {EventNVal, "NVAL"}, {EventRdNorm, "RDNORM"},
	{EventRdBand, "RDBAND"}, {EventWrNorm, "WRNORM"}, {EventWrBand, "WRBAND"},
	{EventMsg, "MSG"}, {EventRdHUp, "RDHUP"}, {EventExclusive, "EXCLUSIVE"},
	{EventWakeup, "WAKEUP"}, {EventOneshot, "ONESHOT"}, {EventET, "ET"},
}

// String names the bits joined by "|", in the conformance format's order,
// with any unnamed bits as one trailing hexadecimal number; 0 is "0".
func (m EventMask) String() string {
	if m == 0 {
		return "0"
	}
	var b strings.Builder
	rest := m
	for _, n := range maskNames {
		if m&n.bit != 0 {
			if b.Len() > 0 {
				b.WriteByte('|')
			}
			b.WriteString(n.name)
			rest &^= n.bit
		}
	}
	if rest != 0 {
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString("0x")
		b.WriteString(strconv.FormatUint(uint64(rest), 16))
	}
	return b.String()
}

// ParseEventMask parses a mask written as String writes named bits ("IN|ET"),
// or a decimal or 0x-hexadecimal number. Names and numbers are not mixed.
func ParseEventMask(s string) (EventMask, bool) {
	if s == "" {
		return 0, false
	}
	if s[0] >= '0' && s[0] <= '9' || s[0] == '-' {
		v, err := strconv.ParseInt(s, 0, 64)
		if err != nil {
			u, uerr := strconv.ParseUint(s, 0, 32)
			if uerr != nil {
				return 0, false
			}
			return EventMask(u), true
		}
		if v < -1<<31 || v > 1<<32-1 {
			return 0, false
		}
		return EventMask(uint32(v)), true
	}
	var m EventMask
	for _, part := range strings.Split(s, "|") {
		found := false
		for _, n := range maskNames {
			if n.name == part {
				m |= n.bit
				found = true
				break
			}
		}
		if !found {
			return 0, false
		}
	}
	return m, true
}
