package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/guestpoll/guestpoll/conformance"
	"github.com/guestpoll/guestpoll/conformance/boxfuzz"
	"github.com/guestpoll/guestpoll/conformance/fuzzgen"
)

// readFuzzInput reads a file written by go test -fuzz ("go test fuzz v1"
// and one []byte argument).
func readFuzzInput(text string) ([]byte, error) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<26)
	if !sc.Scan() || strings.TrimSpace(sc.Text()) != "go test fuzz v1" {
		return nil, fmt.Errorf("not a go fuzz input (no 'go test fuzz v1' line)")
	}
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "[]byte(") || !strings.HasSuffix(line, ")") {
			return nil, fmt.Errorf("expected one []byte(...) argument, got %.40q", line)
		}
		s, err := strconv.Unquote(line[len("[]byte(") : len(line)-1])
		if err != nil {
			return nil, fmt.Errorf("bad []byte literal: %v", err)
		}
		return []byte(s), nil
	}
	return nil, fmt.Errorf("no argument")
}

// loadScript reads a script file, or a fuzz input decoded to a script.
func loadScript(path string) (*conformance.Script, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	text := string(data)
	if strings.HasPrefix(text, "go test fuzz v1") {
		in, err := readFuzzInput(text)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		text = fuzzgen.Generate(in)
	}
	return conformance.Parse(path, text)
}

func printScripts(paths []string, stdout, stderr io.Writer) int {
	status := 0
	for _, p := range paths {
		sc, err := loadScript(p)
		if err != nil {
			fmt.Fprintf(stderr, "epollfuzz: %v\n", err)
			status = 1
			continue
		}
		if len(paths) > 1 {
			fmt.Fprintf(stdout, "# %s\n", p)
		}
		fmt.Fprint(stdout, conformance.FormatScript(sc))
	}
	return status
}

func diffScripts(paths []string, stdout, stderr io.Writer) int {
	status := 0
	for _, p := range paths {
		sc, err := loadScript(p)
		if err != nil {
			fmt.Fprintf(stderr, "epollfuzz: %v\n", err)
			status = 1
			continue
		}
		start := time.Now()
		diff, err := fuzzgen.Diff(sc)
		took := time.Since(start).Round(time.Microsecond)
		switch {
		case err != nil:
			fmt.Fprintf(stdout, "ERROR %s: %v\n", p, err)
			status = 1
		case diff != "":
			fmt.Fprintf(stdout, "DIVERGED %s\n%s\n", p, diff)
			status = 1
		default:
			fmt.Fprintf(stdout, "ok %s (%v)\n", p, took)
		}
	}
	return status
}

func writeSeeds(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("epollfuzz seeds", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "directory to write the seeds to (created if needed)")
	boxed := fs.Bool("boxed", false, "write seeds for conformance/boxfuzz's FuzzBoxedSequence (its configuration bytes, boxfuzz.SeedConfig, in front)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" {
		fmt.Fprintln(stderr, "epollfuzz seeds: -o DIR is required")
		return 2
	}
	paths := fs.Args()
	if len(paths) == 0 {
		paths = []string{"conformance/testdata"}
	}
	files, err := conformance.FindScripts(paths)
	if err == nil {
		err = os.MkdirAll(*out, 0o755)
	}
	if err != nil {
		fmt.Fprintf(stderr, "epollfuzz: %v\n", err)
		return 1
	}
	n := 0
	for _, p := range files {
		sc, err := loadScript(p)
		if err != nil {
			fmt.Fprintf(stderr, "epollfuzz: %v\n", err)
			return 1
		}
		in := fuzzgen.Encode(sc)
		if *boxed {
			in = boxfuzz.Encode(boxfuzz.SeedConfig, sc)
		}
		name := strings.NewReplacer("/", "_", string(filepath.Separator), "_").Replace(strings.TrimSuffix(p, conformance.ScriptExt))
		if err := os.WriteFile(filepath.Join(*out, name), in, 0o644); err != nil {
			fmt.Fprintf(stderr, "epollfuzz: %v\n", err)
			return 1
		}
		n++
	}
	fmt.Fprintf(stdout, "%d seeds written to %s\n", n, *out)
	return 0
}
