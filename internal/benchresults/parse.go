package benchresults

import (
	"bufio"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// PeersPackage ends the import path of the peers module's package.
const PeersPackage = "/bench/peers"

// Results holds, per benchmark key and implementation, every value seen
// per unit, in the order the keys first appeared.
type Results struct {
	byKey map[string]map[string]map[string][]float64 // key -> impl -> unit -> values
	order []string
	CPU   string // the "cpu:" line of go test's output
	Procs int    // GOMAXPROCS, from the benchmark names' -N suffix
	Runs  int    // the most ns/op samples of any one benchmark
}

// Output is one benchmark run: the peers module's results and the model
// packages' results.
type Output struct {
	Peers, Model *Results
}

func newResults() *Results {
	return &Results{byKey: map[string]map[string]map[string][]float64{}}
}

// Parse reads go test -bench output.
func Parse(r io.Reader) (*Output, error) {
	out := &Output{Peers: newResults(), Model: newResults()}
	cur := out.Model
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var cpu string
	for sc.Scan() {
		line := sc.Text()
		if pkg, ok := strings.CutPrefix(line, "pkg: "); ok {
			cur = out.Model
			if strings.HasSuffix(strings.TrimSpace(pkg), PeersPackage) {
				cur = out.Peers
			}
			continue
		}
		if v, ok := strings.CutPrefix(line, "cpu: "); ok {
			cpu = strings.TrimSpace(v)
			continue
		}
		if cur.add(line) && cur.CPU == "" {
			cur.CPU = cpu
		}
	}
	return out, sc.Err()
}

// add records one benchmark result line; it reports whether the line was
// one with an impl element.
func (p *Results) add(line string) bool {
	if !strings.HasPrefix(line, "Benchmark") {
		return false
	}
	f := strings.Fields(line)
	if len(f) < 4 {
		return false
	}
	name := f[0]
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if n, err := strconv.Atoi(name[i+1:]); err == nil {
			p.Procs = n
			name = name[:i]
		}
	}
	key, impl := SplitImpl(name)
	if impl == "" {
		return false
	}
	impls := p.byKey[key]
	if impls == nil {
		impls = map[string]map[string][]float64{}
		p.byKey[key] = impls
		p.order = append(p.order, key)
	}
	units := impls[impl]
	if units == nil {
		units = map[string][]float64{}
		impls[impl] = units
	}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			continue
		}
		units[f[i+1]] = append(units[f[i+1]], v)
	}
	p.Runs = max(p.Runs, len(units["ns/op"]))
	return true
}

// SplitImpl removes the impl=X element from a benchmark name (with or
// without its Benchmark prefix).
func SplitImpl(name string) (key, impl string) {
	parts := strings.Split(strings.TrimPrefix(name, "Benchmark"), "/")
	kept := parts[:0]
	for _, part := range parts {
		if v, ok := strings.CutPrefix(part, "impl="); ok {
			impl = v
			continue
		}
		kept = append(kept, part)
	}
	return strings.Join(kept, "/"), impl
}

// Empty reports whether no benchmark with an impl element was read.
func (p *Results) Empty() bool { return len(p.byKey) == 0 }

// Keys returns the benchmark keys in the order they first appeared.
func (p *Results) Keys() []string { return p.order }

// Has reports whether key has results for impl.
func (p *Results) Has(key, impl string) bool { return p.byKey[key][impl] != nil }

// Get returns the median of unit's values for key and impl.
func (p *Results) Get(key, impl, unit string) (float64, bool) {
	return median(p.byKey[key][impl][unit])
}

// Min returns the smallest of unit's values for key and impl.
func (p *Results) Min(key, impl, unit string) (float64, bool) {
	v := p.byKey[key][impl][unit]
	if len(v) == 0 {
		return 0, false
	}
	return slices.Min(v), true
}

func median(v []float64) (float64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}
