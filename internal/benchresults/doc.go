// Package benchresults reads `go test -bench` output (benchstat's input
// format, any number of packages and runs) into medians per benchmark,
// implementation and unit, and holds the performance targets of issue 17
// that cmd/benchtable prints and cmd/benchchart draws, so that the table
// and the chart judge the same figures the same way.
//
// Benchmark names follow benchstat's key=value convention; the impl=X
// element names the implementation and the rest of the name is the key:
// BenchmarkHarvest/impl=gvisor/n=1 is key "Harvest/n=1", impl "gvisor".
// Benchmarks without an impl element are ignored. The output of the
// peers module (bench/peers) is kept apart from the rest (Output.Peers and
// Output.Model), since both have benchmarks of the same names.
//
// There is no concurrency: a Results is built by Parse and then only read.
package benchresults
