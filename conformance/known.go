package conformance

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// KnownFileName is the name of the known-divergences list.
const KnownFileName = "known-divergences.txt"

// KnownDivergences is a parsed known-divergences list. Each line is
//
//	relative/path.script  [@backend,backend]  reason...
//
// where the path is relative to the list's directory, the optional
// @backends restrict the entry to those backends (without it, the entry
// applies to every backend except linux, the oracle), and the reason is
// required. '#' starts a comment; blank lines are ignored.
type KnownDivergences struct {
	Path    string
	entries map[string]*KnownEntry // by absolute cleaned script path
	steps   map[string]*KnownEntry // "step:OP" entries, by operation
}

// KnownEntry is one line of the list.
type KnownEntry struct {
	Line     int
	Script   string   // as written
	Backends []string // empty: every backend but linux
	Reason   string
	abs      string
}

// LoadKnown reads a known-divergences list. A missing file is an error;
// callers that want an optional list check for it first.
func LoadKnown(path string) (*KnownDivergences, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseKnown(path, string(data))
}

// ParseKnown parses the text of a known-divergences list found at path.
func ParseKnown(path, text string) (*KnownDivergences, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(abs)
	k := &KnownDivergences{Path: path, entries: map[string]*KnownEntry{}, steps: map[string]*KnownEntry{}}
	var errs ParseErrors
	for i, raw := range strings.Split(text, "\n") {
		line := raw
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		bad := func(format string, args ...any) {
			errs = append(errs, &ParseError{Path: path, Line: i + 1, Msg: fmt.Sprintf(format, args...)})
		}
		e := &KnownEntry{Line: i + 1, Script: f[0]}
		rest := f[1:]
		if len(rest) > 0 && strings.HasPrefix(rest[0], "@") {
			for _, b := range strings.Split(rest[0][1:], ",") {
				if b == "" {
					bad("empty backend name in %q", rest[0])
					continue
				}
				e.Backends = append(e.Backends, b)
			}
			rest = rest[1:]
		}
		if len(rest) == 0 {
			bad("known divergence %s needs a reason", f[0])
			continue
		}
		e.Reason = strings.Join(rest, " ")
		if op, ok := strings.CutPrefix(e.Script, "step:"); ok {
			switch {
			case operationsByName[op] == nil:
				bad("%s: no operation %q", e.Script, op)
			case len(e.Backends) == 0:
				bad("%s needs @backends: an unimplemented step is a backend's", e.Script)
			case k.steps[op] != nil:
				bad("%s is already listed on line %d", e.Script, k.steps[op].Line)
			default:
				k.steps[op] = e
			}
			continue
		}
		if filepath.IsAbs(e.Script) {
			bad("script path %q must be relative to %s", e.Script, dir)
			continue
		}
		e.abs = filepath.Join(dir, filepath.FromSlash(e.Script))
		if prev := k.entries[e.abs]; prev != nil {
			bad("%s is already listed on line %d", e.Script, prev.Line)
			continue
		}
		k.entries[e.abs] = e
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return k, nil
}

// Lookup returns the entry for a script on a backend, or nil.
func (k *KnownDivergences) Lookup(scriptPath, backend string) *KnownEntry {
	if k == nil {
		return nil
	}
	abs, err := filepath.Abs(scriptPath)
	if err != nil {
		return nil
	}
	e := k.entries[abs]
	if e == nil {
		return nil
	}
	if len(e.Backends) == 0 {
		if backend == "linux" {
			return nil
		}
		return e
	}
	for _, b := range e.Backends {
		if b == backend {
			return e
		}
	}
	return nil
}

// LookupStep returns the "step:OP" entry that excuses backend for not
// implementing operation op yet, or nil.
func (k *KnownDivergences) LookupStep(op, backend string) *KnownEntry {
	if k == nil || k.steps[op] == nil {
		return nil
	}
	for _, b := range k.steps[op].Backends {
		if b == backend {
			return k.steps[op]
		}
	}
	return nil
}

// Missing returns the entries whose script file does not exist.
func (k *KnownDivergences) Missing() []*KnownEntry {
	if k == nil {
		return nil
	}
	var out []*KnownEntry
	for _, e := range k.entries {
		if _, err := os.Stat(e.abs); err != nil {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	return out
}

// FindKnownFile looks for known-divergences.txt in dir and its parents.
func FindKnownFile(dir string) string {
	d, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	for {
		p := filepath.Join(d, KnownFileName)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(d)
		if parent == d {
			return ""
		}
		d = parent
	}
}
