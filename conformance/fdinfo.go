package conformance

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// RawFdinfoEntry is one "tfd:" line of /proc/PID/fdinfo/EPFD.
type RawFdinfoEntry struct {
	TFD  int32
	Mask uint32
	Data uint64
}

// ParseFdinfo extracts the interest list from the text of an fdinfo file:
// one entry per line of the form
//
//	tfd: %8d events: %8x data: %16llx  pos:... ino:... sdev:...
//
// Other lines (pos:, flags:, mnt_id:, ino:, lock lines) are ignored, so the
// fdinfo of a file that is not an epoll gives an empty list. Entries are
// sorted by target fd number, then mask, then data (the kernel's order is
// its tree order, which means nothing to a script).
func ParseFdinfo(text string) ([]RawFdinfoEntry, error) {
	var out []RawFdinfoEntry
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "tfd:" {
			continue
		}
		if len(f) < 6 || f[2] != "events:" || f[4] != "data:" {
			return nil, fmt.Errorf("malformed fdinfo line %q", line)
		}
		tfd, err1 := strconv.ParseInt(f[1], 10, 32)
		ev, err2 := strconv.ParseUint(f[3], 16, 32)
		data, err3 := strconv.ParseUint(f[5], 16, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("malformed fdinfo line %q", line)
		}
		out = append(out, RawFdinfoEntry{TFD: int32(tfd), Mask: uint32(ev), Data: data})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.TFD != b.TFD {
			return a.TFD < b.TFD
		}
		if a.Mask != b.Mask {
			return a.Mask < b.Mask
		}
		return a.Data < b.Data
	})
	return out, nil
}

// fdNames is the executor's view of which names are bound to
// which numbers, used for bindings and by the fdinfo naming rule.
type fdNames struct {
	names     map[string]*nameState
	openByNum map[int32]string // the open name bound to a number
	lastByNum map[int32]string // the name most recently bound to a number
}

type nameState struct {
	num  int32
	open bool
}

func newFdNames() *fdNames {
	return &fdNames{names: map[string]*nameState{}, openByNum: map[int32]string{}, lastByNum: map[int32]string{}}
}

// bind binds name to fd (which must be open now).
func (n *fdNames) bind(name string, fd int32) {
	n.handOut(fd)
	if ns := n.names[name]; ns != nil && ns.open {
		delete(n.openByNum, ns.num)
	}
	n.names[name] = &nameState{num: fd, open: true}
	n.openByNum[fd] = name
	n.lastByNum[fd] = name
}

// handOut records that number fd was closed or handed out anew: the name
// open at it (if any) is no longer open.
func (n *fdNames) handOut(fd int32) {
	if name, ok := n.openByNum[fd]; ok {
		n.names[name].open = false
		delete(n.openByNum, fd)
	}
}

// tfdName applies the naming rule: the name now bound to fd and still
// open, else the name most recently bound to fd, else the number.
func (n *fdNames) tfdName(fd int32) string {
	if name, ok := n.openByNum[fd]; ok {
		return name
	}
	if name, ok := n.lastByNum[fd]; ok {
		return name
	}
	return strconv.Itoa(int(fd))
}

func (n *fdNames) nameEntries(raw []RawFdinfoEntry) []FdinfoEntry {
	var out []FdinfoEntry
	for _, e := range raw {
		out = append(out, FdinfoEntry{TFD: n.tfdName(e.TFD), Mask: e.Mask, Data: e.Data})
	}
	return out
}
