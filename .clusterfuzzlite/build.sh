#!/bin/bash -eu
# Builds every native Go fuzz target of guestpoll for libFuzzer
# (docs/fuzzing.md). cmd/epollfuzz's TestClusterFuzzLiteBuild checks that
# the targets below are exactly the repository's Fuzz functions, each in
# its own package, and that every seed corpus belongs to a target.

# compile_native_go_fuzzer PACKAGE FUNCTION FUZZER
compile_native_go_fuzzer github.com/guestpoll/guestpoll/conformance/fuzzgen FuzzEpollSequence fuzz_epoll_sequence
compile_native_go_fuzzer github.com/guestpoll/guestpoll/conformance/fuzzgen FuzzEpollSequenceCheckpointed fuzz_epoll_sequence_checkpointed
compile_native_go_fuzzer github.com/guestpoll/guestpoll/conformance/fuzzgen FuzzModelInvariants fuzz_model_invariants
compile_native_go_fuzzer github.com/guestpoll/guestpoll/conformance/boxfuzz FuzzBoxedSequence fuzz_boxed_sequence
compile_native_go_fuzzer github.com/guestpoll/guestpoll/conformance FuzzParse fuzz_parse
compile_native_go_fuzzer github.com/guestpoll/guestpoll/checkpoint FuzzDecode fuzz_decode
compile_native_go_fuzzer github.com/guestpoll/guestpoll/syscalls FuzzSyscall fuzz_syscall

# Seed corpora: libFuzzer does not run the f.Add seeds, so the conformance
# corpus is written out as raw generator inputs, once plain and once with
# the box fuzzer's two configuration bytes in front.
seeds=$(mktemp -d)
go run ./cmd/epollfuzz seeds -o "$seeds/gen" conformance/testdata
go run ./cmd/epollfuzz seeds -boxed -o "$seeds/boxed" conformance/testdata
(cd "$seeds/gen" && zip -q "$OUT/fuzz_epoll_sequence_seed_corpus.zip" ./*)
cp "$OUT/fuzz_epoll_sequence_seed_corpus.zip" "$OUT/fuzz_epoll_sequence_checkpointed_seed_corpus.zip"
cp "$OUT/fuzz_epoll_sequence_seed_corpus.zip" "$OUT/fuzz_model_invariants_seed_corpus.zip"
(cd "$seeds/boxed" && zip -q "$OUT/fuzz_boxed_sequence_seed_corpus.zip" ./*)
