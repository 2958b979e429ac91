package kerneltest

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// MustPanic runs fn and fails t unless fn panics with a message containing
// want. fn runs on its own goroutine so that a livelock (the misuse the
// panic replaces) fails the test after a few seconds instead of hanging it;
// the spinning goroutine is then left behind.
func MustPanic(t testing.TB, want string, fn func()) {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		defer func() {
			r := recover()
			if r == nil {
				got <- "<no panic>"
				return
			}
			got <- fmt.Sprint(r)
		}()
		fn()
	}()
	select {
	case msg := <-got:
		if !strings.Contains(msg, want) {
			t.Fatalf("panic %q; want one containing %q", msg, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("still running after 5s; want a panic containing %q", want)
	}
}
