package fuzzgen_test

import (
	"fmt"

	"github.com/guestpoll/guestpoll/conformance"
	"github.com/guestpoll/guestpoll/conformance/fuzzgen"
)

// Encode turns a hand-written script into fuzzer bytes (one opcode byte and a
// few argument bytes per step), Generate decodes bytes into the closest script
// it can make (its own names; a write size from its table of sizes, so 3 bytes
// become 2), and RunModel runs that on a fresh model machine. Decoding is
// deterministic: the same bytes always give the same script.
func Example() {
	sc, err := conformance.Parse("seed.script", `
r, w = pipe2 NONBLOCK
ep = epoll_create1 0
epoll_ctl ep ADD r IN 7
write w 3
epoll_wait ep 8 0
`)
	if err != nil {
		fmt.Println(err)
		return
	}
	in := fuzzgen.Encode(sc)
	fmt.Printf("bytes: % x\n", in)
	text := fuzzgen.Generate(in)
	fmt.Print(text)

	gen, err := conformance.Parse("generated.script", text)
	if err != nil {
		fmt.Println(err)
		return
	}
	tr, err := fuzzgen.RunModel(gen, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("---")
	fmt.Print(conformance.FormatTrace(gen, tr, conformance.TraceFormat{}))
	// Output:
	// bytes: 05 00 00 00 1a 00 00 00 00 00 07 35 01 01 26 00 03 00 00
	// r1, w1 = pipe2 NONBLOCK
	// ep2 = epoll_create1 0
	// epoll_ctl ep2 ADD r1 IN 0x7
	// write w1 2
	// epoll_wait ep2 8 0
	// ---
	// r1, w1 = pipe2 NONBLOCK     => fd fd
	// ep2 = epoll_create1 0       => fd
	// epoll_ctl ep2 ADD r1 IN 0x7 => 0
	// write w1 2                  => 2
	// epoll_wait ep2 8 0          => 1 [IN 0x7]
}
