// Package fuzzcodec is the byte codec of the differential fuzzer's
// programs (package fuzzgen): a Decoder turns fuzzer bytes into script
// calls while simulating the fd table, an Encoder writes the bytes that
// decode to a given call. It knows nothing of any one operation: each
// script operation's entry in package conformance's operations table
// decodes and encodes its own arguments with these primitives, and
// conformance.FuzzDecodeOp / FuzzEncodeCall dispatch on the opcode.
//
// # Encoding
//
// An operation is an opcode byte and a few argument bytes: fd references
// (a byte below RawFDBase picks a bound name modulo their number, the
// bytes from RawFDBase pick RawFDs), table selectors (a byte modulo the
// table's length), masks (a byte below 0x80 picks a table entry, 0x80
// escapes to the raw bits) and epoll data (a byte below 0x80 is that
// number, 0x80 escapes to 8 raw bytes). A missing byte reads as 0, so
// every input decodes.
//
// # Simulation
//
// The Decoder tracks which kind of file each fd number holds, allocated
// lowest-first as every kernel does, so operations bind fresh names only
// when they cannot fail and shape the few arguments that must not block.
// With format version 3 (process.go, v3files.go) it keeps one table per
// process (a fork copies its parent's, exit empties it) and picks, in a
// fork, only names whose number is certain to hold the same file on
// every backend; it tracks each process's signal mask and whether
// SIGUSR2 was sent to it, each listener's accept queue, backlog and
// shutdown, and which FIFO ends are open, so that connect, accept4 and
// fifo_open bind names only when they succeed. Which version 3
// operations to make is the Decoder's filter (SetServes).
//
// # Invariants and locks
//
// A Decoder or Encoder belongs to one goroutine; the package has no
// mutable global state.
package fuzzcodec
