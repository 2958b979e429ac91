package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// targetResult is what one fuzz target did.
type targetResult struct {
	pkg, name   string
	elapsed     float64 // seconds of fuzzing, from go test's last status line
	execs       int64
	interesting int64
	finding     string // "Failing input written to ..." or the failure
	failed      bool
	wall        time.Duration
}

func (r *targetResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.execs) / r.elapsed
}

var (
	statusRE = regexp.MustCompile(`^fuzz: elapsed: (\S+), execs: (\d+) \(\d+/sec\), new interesting: (\d+)`)
	inputRE  = regexp.MustCompile(`Failing input written to (\S+)`)
)

func runTargets(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("epollfuzz run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fuzztime := fs.String("fuzztime", "30s", "how long to run each target (go test -fuzztime)")
	parallel := fs.Int("parallel", 0, "fuzzing workers per target (go test -parallel; 0: GOMAXPROCS)")
	minimize := fs.String("minimizetime", "3s", "how long to minimize each new input (go test -fuzzminimizetime); the default's minute per input would stall the slow differential target, and findings are small enough to finish by hand")
	goCmd := fs.String("go", "go", "the go command")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	pkgs := fs.Args()
	if len(pkgs) == 0 {
		pkgs = []string{"./..."}
	}
	out, err := exec.Command(*goCmd, append([]string{"list"}, pkgs...)...).Output()
	if err != nil {
		fmt.Fprintf(stderr, "epollfuzz: go list: %v\n", err)
		return 1
	}
	var results []*targetResult
	bad := false
	for _, pkg := range strings.Fields(string(out)) {
		list, err := exec.Command(*goCmd, "test", "-list", "^Fuzz", pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(stderr, "epollfuzz: listing the targets of %s: %v\n%s", pkg, err, list)
			results = append(results, &targetResult{pkg: pkg, name: "(build)", failed: true, finding: "go test -list failed"})
			bad = true
			continue
		}
		for _, name := range strings.Fields(string(list)) {
			if !strings.HasPrefix(name, "Fuzz") {
				continue
			}
			r := runOne(*goCmd, pkg, name, *fuzztime, minimizeTime(name, *minimize), *parallel, stdout)
			results = append(results, r)
			bad = bad || r.failed
		}
	}
	fmt.Fprintln(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tpackage\tseconds\texecs\texecs/s\tnew corpus\tresult\t")
	for _, r := range results {
		res := "ok"
		if r.failed {
			res = "FINDING: " + r.finding
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%d\t%.0f\t%d\t%s\t\n", r.name, r.pkg, r.elapsed, r.execs, r.rate(), r.interesting, res)
	}
	tw.Flush()
	if bad {
		fmt.Fprintln(stdout, "FAIL: findings above (turn them into regression scripts: docs/fuzzing.md)")
		return 1
	}
	fmt.Fprintln(stdout, "PASS: no findings")
	return 0
}

// slowTargets are the targets whose every execution starts processes
// (conformance/boxfuzz's FuzzBoxedSequence: a native child, and a
// supervisor, shim and child for the box; about 20 executions per second
// on two workers). Go minimizes every new corpus entry, and with a time
// budget that stalls such a target for most of its run; these get a
// budget in executions instead.
var slowTargets = map[string]string{
	"FuzzBoxedSequence": "8x",
}

// minimizeTime returns the -fuzzminimizetime of target name: its own
// budget if it is a slow target, else def.
func minimizeTime(name, def string) string {
	if m, ok := slowTargets[name]; ok {
		return m
	}
	return def
}

// runOne runs one target and parses go test's output as it streams by.
func runOne(goCmd, pkg, name, fuzztime, minimize string, parallel int, stdout io.Writer) *targetResult {
	r := &targetResult{pkg: pkg, name: name}
	fmt.Fprintf(stdout, "== %s %s (-fuzztime %s)\n", pkg, name, fuzztime)
	args := []string{"test", "-run", "^$", "-fuzz", "^" + name + "$", "-fuzztime", fuzztime, "-fuzzminimizetime", minimize}
	if parallel > 0 {
		args = append(args, "-parallel", strconv.Itoa(parallel))
	}
	args = append(args, pkg)
	cmd := exec.Command(goCmd, args...)
	cmd.Stderr = os.Stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		r.failed, r.finding = true, err.Error()
		return r
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		r.failed, r.finding = true, err.Error()
		return r
	}
	sc := bufio.NewScanner(pipe)
	sc.Buffer(nil, 1<<24)
	var firstFail string
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(stdout, line)
		if m := statusRE.FindStringSubmatch(line); m != nil {
			if d, err := time.ParseDuration(m[1]); err == nil {
				r.elapsed = d.Seconds()
			}
			r.execs, _ = strconv.ParseInt(m[2], 10, 64)
			r.interesting, _ = strconv.ParseInt(m[3], 10, 64)
		}
		if m := inputRE.FindStringSubmatch(line); m != nil {
			r.finding = m[1]
		}
		if firstFail == "" && strings.HasPrefix(strings.TrimSpace(line), "--- FAIL") {
			firstFail = strings.TrimSpace(line)
		}
	}
	err = cmd.Wait()
	r.wall = time.Since(start)
	if err != nil {
		r.failed = true
		if r.finding == "" {
			r.finding = firstFail
			if r.finding == "" {
				r.finding = err.Error()
			}
		}
	}
	return r
}
