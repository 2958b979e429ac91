package seccompbox

import "testing"

// TestParseSyscallSP: the stack pointer of a /proc/TID/syscall line, and
// no answer for a thread running or outside a system call, or a malformed
// line.
func TestParseSyscallSP(t *testing.T) {
	for _, c := range []struct {
		line string
		sp   uint64
		ok   bool
	}{
		{"7 0x7ffd1c2e0a10 0x0 0x0 0x0 0x0 0x0 0x7ffd1c2e09f8 0x4a1f2b\n", 0x7ffd1c2e09f8, true},
		{"232 0x3 0xc000123000 0x80 0xffffffffffffffff 0x0 0x0 0xc0000a9e28 0x46b3a3", 0xc0000a9e28, true},
		{"running\n", 0, false},
		{"-1 0x7ffc8c1e7a58 0x401136\n", 0, false},
		{"7 0x0 0x0 0x0 0x0 0x0 0x0 7ffd 0x1\n", 0, false},
		{"7 0x0 0x0 0x0 0x0 0x0 0x0 0xzz 0x1\n", 0, false},
		{"7 0x0 0x0 0x0 0x0 0x0 0x0 0x11111111111111111 0x1\n", 0, false},
		{"", 0, false},
	} {
		sp, ok := parseSyscallSP([]byte(c.line))
		if sp != c.sp || ok != c.ok {
			t.Errorf("%q: %#x %v, want %#x %v", c.line, sp, ok, c.sp, c.ok)
		}
	}
	if n := testing.AllocsPerRun(100, func() { parseSyscallSP([]byte("7 0x0 0x0 0x0 0x0 0x0 0x0 0x7ffd 0x1")) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
