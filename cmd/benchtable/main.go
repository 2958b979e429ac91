// Command benchtable turns `go test -bench` output into the model-versus-host
// table of docs/performance.md (issue 7). It reads the benchmark output on
// stdin (any number of packages, any -count), takes the median of each
// metric over the runs, pairs impl=model with impl=host (or impl=chan for
// the wakeup round trips), and prints one Markdown row per operation:
// model, host, ratio, model allocations, the target and whether it
// is met. A line about the machine comes first.
//
//	go test -run '^$' -bench . -benchmem -count 5 ./... | go run ./cmd/benchtable
//
// Benchmark names follow benchstat's key=value convention:
// BenchmarkHarvest/impl=model/n=1000. Benchmarks without an impl= element
// are ignored.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// samples holds, for one benchmark (its name without the impl element) and
// one impl, every value seen per unit.
type samples map[string][]float64

type result struct {
	byImpl map[string]samples // impl -> unit -> values
}

type parsed struct {
	results map[string]*result // key: name without impl element
	order   []string           // keys in first-seen order
	cpu     string
	procs   int
	runs    int
}

func parse(r io.Reader) (*parsed, error) {
	p := &parsed{results: map[string]*result{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if cpu, ok := strings.CutPrefix(line, "cpu: "); ok {
			p.cpu = strings.TrimSpace(cpu)
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if n, err := strconv.Atoi(name[i+1:]); err == nil {
				p.procs = n
				name = name[:i]
			}
		}
		key, impl := splitImpl(name)
		if impl == "" {
			continue
		}
		res := p.results[key]
		if res == nil {
			res = &result{byImpl: map[string]samples{}}
			p.results[key] = res
			p.order = append(p.order, key)
		}
		s := res.byImpl[impl]
		if s == nil {
			s = samples{}
			res.byImpl[impl] = s
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			s[f[i+1]] = append(s[f[i+1]], v)
		}
		if n := len(s["ns/op"]); n > p.runs {
			p.runs = n
		}
	}
	return p, sc.Err()
}

// splitImpl removes the impl=X element from a benchmark name.
func splitImpl(name string) (key, impl string) {
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

// get returns the median of unit for key and impl.
func (p *parsed) get(key, impl, unit string) (float64, bool) {
	r := p.results[key]
	if r == nil || r.byImpl[impl] == nil {
		return 0, false
	}
	return median(r.byImpl[impl][unit])
}

// row is one line of the table.
type row struct {
	op     string // what the line measures
	key    string // benchmark name without the impl element
	unit   string // the metric compared: ns/op, B/reg, woken/op
	ref    string // the impl the model is compared with
	target string // the target, in words
	// check reports whether the target is met and by how much it is missed;
	// nil when the row is for information.
	check func(p *parsed, model, ref float64, allocs float64) (bool, string)
}

func maxNs(limit float64) func(*parsed, float64, float64, float64) (bool, string) {
	return func(_ *parsed, m, _, _ float64) (bool, string) {
		return m <= limit, fmt.Sprintf("%.2fx the %.0f ns target", m/limit, limit)
	}
}

func maxRatio(limit float64) func(*parsed, float64, float64, float64) (bool, string) {
	return func(_ *parsed, m, ref, _ float64) (bool, string) {
		if ref == 0 {
			return false, "no reference"
		}
		r := m / ref
		return r <= limit, fmt.Sprintf("ratio %.2f vs %.2f", r, limit)
	}
}

func and(checks ...func(*parsed, float64, float64, float64) (bool, string)) func(*parsed, float64, float64, float64) (bool, string) {
	return func(p *parsed, m, ref, allocs float64) (bool, string) {
		ok, why := true, []string{}
		for _, c := range checks {
			if c == nil {
				continue
			}
			if good, w := c(p, m, ref, allocs); !good {
				ok = false
				why = append(why, w)
			}
		}
		return ok, strings.Join(why, "; ")
	}
}

func maxAllocs(limit float64) func(*parsed, float64, float64, float64) (bool, string) {
	return func(_ *parsed, _, _, a float64) (bool, string) {
		return a <= limit, fmt.Sprintf("%.0f allocs > %.0f", a, limit)
	}
}

// flatVs checks the model's figure against another model row's (flatness).
func flatVs(key string, limit float64) func(*parsed, float64, float64, float64) (bool, string) {
	return func(p *parsed, m, _, _ float64) (bool, string) {
		base, ok := p.get(key, "model", "ns/op")
		if !ok || base == 0 {
			return false, "no " + key
		}
		return m <= limit*base, fmt.Sprintf("%.2fx %s", m/base, key)
	}
}

// sameWakeups checks that the model wakes as many waiters as Linux and
// that none of them was woken only to go back to sleep.
func sameWakeups(key string) func(*parsed, float64, float64, float64) (bool, string) {
	return func(p *parsed, m, ref, _ float64) (bool, string) {
		spurious, _ := p.get(key, "model", "spurious/op")
		return m == ref && spurious == 0,
			fmt.Sprintf("%.2f woken (Linux %.2f), %.2f back to sleep", m, ref, spurious)
	}
}

func maxValue(limit float64, unit string) func(*parsed, float64, float64, float64) (bool, string) {
	return func(_ *parsed, m, _, _ float64) (bool, string) {
		return m <= limit, fmt.Sprintf("%.0f %s > %.0f", m, unit, limit)
	}
}

var rows = []row{
	{"harvest 1 ready of 1 (LT)", "Harvest/n=1", "ns/op", "host", "≤ 55 ns", maxNs(55)},
	{"harvest 1 ready of 1000", "Harvest/n=1000", "ns/op", "host", "≤ 55 ns, ≤ 1.1x n=1", and(maxNs(55), flatVs("Harvest/n=1", 1.1))},
	{"harvest 1 ready of 100000", "Harvest/n=100000", "ns/op", "host", "≤ 55 ns, ≤ 1.1x n=1", and(maxNs(55), flatVs("Harvest/n=1", 1.1))},
	{"harvest 1 ready of 1000000", "Scale/case=regs-1000000", "ns/op", "host", "≤ 1.1x n=1", flatVs("Harvest/n=1", 1.1)},
	{"harvest, 1 of 100000 instances", "Scale/case=instances-100000", "ns/op", "host", "≤ 1.1x n=1", flatVs("Harvest/n=1", 1.1)},
	{"epoll_wait, nothing ready, n=1000", "WaitNothingReady/n=1000", "ns/op", "host", "≈ 25 ns", maxNs(25)},
	{"syscall epoll_wait, 1 ready of 1", "SyscallEpollWait/n=1", "ns/op", "host", "≤ 0.35x host", maxRatio(0.35)},
	{"syscall epoll_wait, 1 ready of 1000", "SyscallEpollWait/n=1000", "ns/op", "host", "≤ 0.35x host", maxRatio(0.35)},
	{"epoll_ctl ADD + DEL", "CtlAddDel", "ns/op", "host", "≤ 300 ns, ≤ 1 alloc", and(maxNs(300), maxAllocs(1))},
	{"epoll_ctl MOD", "CtlMod", "ns/op", "host", "≤ 100 ns, 0 allocs", and(maxNs(100), maxAllocs(0))},
	{"wakeup round trip (ratio vs chan)", "WakeupRoundTrip", "ns/op", "chan", "≤ 1.5x chan, 0 allocs", and(maxRatio(1.5), maxAllocs(0))},
	{"wakeup round trip (host)", "WakeupRoundTrip", "ns/op", "host", "", nil},
	{"syscall wakeup round trip (vs chan)", "SyscallWakeupRoundTrip", "ns/op", "chan", "≤ 1.5x chan, 0 allocs", and(maxRatio(1.5), maxAllocs(0))},
	{"syscall wakeup round trip (host)", "SyscallWakeupRoundTrip", "ns/op", "host", "", nil},
	{"syscall eventfd write + read", "SyscallEventfd", "ns/op", "host", "0 allocs", maxAllocs(0)},
	{"eventfd write + read (fs)", "EventfdWriteRead", "ns/op", "host", "0 allocs", maxAllocs(0)},
	{"memory per registration (B)", "RegistrationMemory", "B/reg", "host", "≤ 160 B", maxValue(160, "B")},
	{"woken: EXCLUSIVE on 8 instances", "Wakeups/case=exclusive", "woken/op", "host", "= Linux (1), none spurious", sameWakeups("Wakeups/case=exclusive")},
	{"woken: 8 on one instance, ET", "Wakeups/case=et-shared", "woken/op", "host", "= Linux (1), none spurious", sameWakeups("Wakeups/case=et-shared")},
	{"woken: 8 on one, LT, unconsumed", "Wakeups/case=lt-shared", "woken/op", "host", "= Linux (8), none spurious", sameWakeups("Wakeups/case=lt-shared")},
}

func format(v float64, ok bool, unit string) string {
	if !ok {
		return "-"
	}
	switch unit {
	case "ns/op":
		if v >= 10000 {
			return fmt.Sprintf("%.1f µs", v/1000)
		}
		return fmt.Sprintf("%.1f ns", v)
	case "B/reg":
		return fmt.Sprintf("%.0f B", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func machineNote(p *parsed) string {
	var u unix.Utsname
	release := "?"
	if unix.Uname(&u) == nil {
		release = unix.ByteSliceToString(u.Release[:])
	}
	load := "?"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			load = strings.Join(f[:3], " ")
		}
	}
	return fmt.Sprintf("Machine: %s, GOMAXPROCS %d (%d CPUs), Linux %s, %s %s/%s; medians of %d runs; load average %s when the table was made.",
		p.cpu, p.procs, runtime.NumCPU(), release, runtime.Version(), runtime.GOOS, runtime.GOARCH, p.runs, load)
}

func write(w io.Writer, p *parsed) {
	fmt.Fprintln(w, machineNote(p))
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| operation | model | host/ref | ratio | allocs | target | status |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | --- | --- |")
	seen := map[string]bool{}
	for _, r := range rows {
		m, mok := p.get(r.key, "model", r.unit)
		ref, rok := p.get(r.key, r.ref, r.unit)
		allocs, aok := p.get(r.key, "model", "allocs/op")
		if !mok && !rok {
			continue
		}
		seen[r.key] = true
		ratio := "-"
		if mok && rok && ref != 0 {
			ratio = fmt.Sprintf("%.2f", m/ref)
		}
		refText := format(ref, rok, r.unit)
		if r.ref != "host" && rok {
			refText += " (" + r.ref + ")"
		}
		status := ""
		if r.check != nil {
			switch ok, why := r.check(p, m, ref, allocs); {
			case !mok:
				status = "no data"
			case ok:
				status = "met"
			default:
				status = "MISSED: " + why
			}
		}
		allocText := "-"
		if aok && r.unit == "ns/op" {
			allocText = fmt.Sprintf("%.0f", allocs)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n",
			r.op, format(m, mok, r.unit), refText, ratio, allocText, r.target, status)
	}
	// Anything else that has a model and a host variant, for information.
	for _, key := range p.order {
		if seen[key] {
			continue
		}
		m, mok := p.get(key, "model", "ns/op")
		h, hok := p.get(key, "host", "ns/op")
		if !mok {
			continue
		}
		allocs, _ := p.get(key, "model", "allocs/op")
		ratio := "-"
		if hok && h != 0 {
			ratio = fmt.Sprintf("%.2f", m/h)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %.0f | | |\n", key, format(m, mok, "ns/op"), format(h, hok, "ns/op"), ratio, allocs)
	}
}

func main() {
	p, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	if len(p.results) == 0 {
		fmt.Fprintln(os.Stderr, "benchtable: no impl= benchmarks in the input")
		os.Exit(1)
	}
	write(os.Stdout, p)
}
