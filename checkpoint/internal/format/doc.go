// Package format is the one description of the checkpoint format: every
// record, its fields in wire order, and each field's Go type and wire
// encoding. Package checkpoint's encoder and decoder (format_gen.go) and
// the format section of its doc.go are generated from it (go generate in
// package checkpoint, which runs ./internal/format/formatgen), and a test
// there fails if either differs from what this description generates.
//
// Changing the byte format means changing Records (and Version), then
// running go generate in package checkpoint.
//
// What it owns: format.go (Version and Records, the description) and
// gen.go (Codec, which renders the encoder and decoder, and Doc and
// DocBlock, which render the doc's listing). Invariant: every record a
// field names exists, and the description covers every field of each
// record's Go type (package checkpoint's TestFormatCoversTheTypes checks
// it against the types). No state, no locks: everything here is a pure
// function of the description.
package format
