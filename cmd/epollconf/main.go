// Command epollconf runs epoll conformance scripts on one or more backends
// and compares their traces with the linux backend's.
//
//	epollconf [-backends linux,model] [-record] [-json] [-v] [-run REGEXP] [-j N] PATH...
//
// PATH is a script file or a directory tree of *.script files. Progress
// goes to stderr; one line per script that diverges or fails, and a
// summary table, go to stdout. The exit status is 1 when any script
// diverges (other than known divergences), any backend fails or any script
// is invalid, and 2 for usage errors.
//
// With -record, the scripts are run on linux only and the results are
// written into the files as expectations (see conformance.Record).
//
// Known divergences are read from -known, by default the first
// known-divergences.txt found in the directory of the first PATH or one of
// its parents.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/guestpoll/guestpoll/conformance"
	"golang.org/x/sys/unix"
)

func main() {
	conformance.RunChildIfRequested()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(fs *flag.FlagSet) {
	out := fs.Output()
	fmt.Fprintf(out, "usage: epollconf [flags] PATH...\n\nRuns epoll conformance scripts (files, or directories of *.script) on backends.\nRegistered backends: %s\n\nflags:\n",
		strings.Join(conformance.Backends(), ", "))
	fs.PrintDefaults()
}

func run(args []string, stdout, stderr io.Writer) int {
	c, code := parseArgs(args, stderr)
	if c == nil {
		return code
	}
	base, _ := os.Getwd()
	progress := newProgress(stderr)
	c.opts.Progress = progress.update

	if c.record {
		outs, err := conformance.RecordFiles(c.opts)
		progress.finish()
		if err != nil {
			fmt.Fprintf(stderr, "epollconf: %v\n", err)
			return 2
		}
		return reportRecord(outs, base, stdout)
	}

	k, err := loadKnown(c.known, c.opts.Paths[0])
	if err != nil {
		fmt.Fprintf(stderr, "epollconf: %v\n", err)
		return 2
	}
	c.opts.Known = k
	res, err := conformance.RunSuite(c.opts)
	progress.finish()
	if err != nil {
		fmt.Fprintf(stderr, "epollconf: %v\n", err)
		return 2
	}
	if c.jsonOut {
		if err := conformance.WriteJSON(stdout, res); err != nil {
			fmt.Fprintf(stderr, "epollconf: %v\n", err)
			return 2
		}
	} else {
		conformance.WriteText(stdout, res, base, c.verbose)
	}
	if res.Failed() {
		return 1
	}
	return 0
}

// cli is epollconf's parsed command line.
type cli struct {
	opts                     conformance.SuiteOptions
	record, jsonOut, verbose bool
	known                    string // -known
}

// parseArgs parses the command line; on nil, the command exits with code.
func parseArgs(args []string, stderr io.Writer) (*cli, int) {
	fs := flag.NewFlagSet("epollconf", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &cli{}
	backends := fs.String("backends", "", "comma-separated backends to run (default: all registered)")
	fs.BoolVar(&c.record, "record", false, "run on linux and write the results into the scripts as expectations")
	fs.BoolVar(&c.jsonOut, "json", false, "print a machine-readable JSON report on stdout")
	fs.BoolVar(&c.verbose, "v", false, "report every divergent step, passing scripts, and the traces of failures")
	runRE := fs.String("run", "", "only run scripts whose path matches this regular expression")
	jobs := fs.Int("j", 4, "number of script runs at once (timing-sensitive scripts always run alone)")
	fs.StringVar(&c.known, "known", "", "known-divergences list (default: search upwards from the first PATH; 'none' for no list)")
	retries := fs.Int("retries", 1, "re-runs of a failing timing-sensitive script before it counts as failed")
	noOracle := fs.Bool("no-oracle", false, "do not run linux as the oracle when it is not in -backends")
	fs.Usage = func() { usage(fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, 0
		}
		return nil, 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "epollconf: no PATH given")
		usage(fs)
		return nil, 2
	}
	c.opts = conformance.SuiteOptions{Paths: fs.Args(), Jobs: *jobs, Retries: *retries, NoOracle: *noOracle}
	if *jobs < 1 {
		fmt.Fprintln(stderr, "epollconf: -j must be at least 1")
		return nil, 2
	}
	if *backends != "" {
		for _, b := range strings.Split(*backends, ",") {
			b = strings.TrimSpace(b)
			if _, err := conformance.LookupBackend(b); err != nil {
				fmt.Fprintf(stderr, "epollconf: %v\n", err)
				return nil, 2
			}
			c.opts.Backends = append(c.opts.Backends, b)
		}
	}
	if *runRE != "" {
		re, err := regexp.Compile(*runRE)
		if err != nil {
			fmt.Fprintf(stderr, "epollconf: bad -run: %v\n", err)
			return nil, 2
		}
		c.opts.Run = re
	}
	return c, 0
}

// loadKnown loads the known-divergences list -known names: none for
// "none", by default the first one found from firstPath's directory up.
func loadKnown(known, firstPath string) (*conformance.KnownDivergences, error) {
	switch known {
	case "none":
		return nil, nil
	case "":
		dir := firstPath
		if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
			dir = filepath.Dir(dir)
		}
		if known = conformance.FindKnownFile(dir); known == "" {
			return nil, nil
		}
	}
	return conformance.LoadKnown(known)
}

func reportRecord(outs []conformance.RecordOutcome, base string, w io.Writer) int {
	failed, changed := 0, 0
	for _, o := range outs {
		p := conformance.DisplayPath(o.Path, base)
		switch {
		case o.Error != "":
			failed++
			fmt.Fprintf(w, "FAILED   %s: %s\n", p, strings.ReplaceAll(o.Error, "\n", "\n         "))
		case len(o.Changes) > 0:
			changed++
			fmt.Fprintf(w, "recorded %s: %d line(s) changed\n", p, len(o.Changes))
		}
	}
	fmt.Fprintf(w, "\n%d script(s): %d changed, %d unchanged, %d failed\n", len(outs), changed, len(outs)-changed-failed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}

// progress shows what is running on stderr: a line rewritten in place on a
// terminal, otherwise a line every few seconds.
type progress struct {
	w     io.Writer
	tty   bool
	last  time.Time
	shown bool
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, last: time.Now()}
	if f, ok := w.(*os.File); ok {
		if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			p.tty = true
		}
	}
	return p
}

func (p *progress) update(pr conformance.Progress) {
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K[%d/%d] %s %s", pr.Done, pr.Total, pr.Backend, pr.Path)
		p.shown = true
		return
	}
	if time.Since(p.last) >= 5*time.Second || pr.Done == pr.Total {
		p.last = time.Now()
		fmt.Fprintf(p.w, "epollconf: %d/%d runs done\n", pr.Done, pr.Total)
	}
}

func (p *progress) finish() {
	if p.tty && p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
