package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/guestpoll/guestpoll/conformance"
	"github.com/guestpoll/guestpoll/conformance/boxfuzz"
)

// loadBoxInput reads a FuzzBoxedSequence input file (its configuration
// and script decoded), or a script file, which runs with c.
func loadBoxInput(path string, c boxfuzz.Config) (boxfuzz.Config, *conformance.Script, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return c, nil, err
	}
	if !strings.HasPrefix(string(data), "go test fuzz v1") {
		if c.Storm < 0 || c.Storm >= len(boxfuzz.StormIntervals) {
			return c, nil, fmt.Errorf("no storm level %d", c.Storm)
		}
		sc, err := conformance.Parse(path, string(data))
		return c, sc, err
	}
	in, err := readFuzzInput(string(data))
	if err != nil {
		return c, nil, fmt.Errorf("%s: %v", path, err)
	}
	return boxfuzz.Decode(in)
}
