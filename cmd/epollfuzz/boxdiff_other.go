//go:build !(linux && amd64)

package main

import (
	"fmt"
	"io"
)

// boxDiff needs the box (seccompbox), which runs on linux/amd64 only.
func boxDiff(_ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "epollfuzz boxdiff: the box runs on linux/amd64 only")
	return 2
}
