// Command formatgen writes package checkpoint's format_gen.go and the
// format section of its doc.go from package format's description. Run it
// in package checkpoint's directory (go generate does).
package main

import (
	"fmt"
	"os"

	"github.com/guestpoll/guestpoll/checkpoint/internal/format"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "formatgen:", err)
		os.Exit(1)
	}
}

func run() error {
	code, err := format.Codec()
	if err != nil {
		return err
	}
	if err := os.WriteFile("format_gen.go", code, 0o644); err != nil {
		return err
	}
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		return err
	}
	doc, err = format.Doc(doc)
	if err != nil {
		return err
	}
	return os.WriteFile("doc.go", doc, 0o644)
}
