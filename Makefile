# guestpoll: the two commands are `make conformance` (the main job) and
# `make test` (every test). See README.md.

GO ?= go
CORPUS ?= conformance/testdata
BACKENDS ?= linux,model,model-cr,hostfd,hostfd-epoll,boxed
FUZZTIME ?= 30s

.PHONY: all test conformance record bench benchchart fuzz realprograms lint vet checklocks

all: lint test

# Every test, with the race detector, including the conformance corpus on
# every backend (go test ./conformance/...).
test: vet
	$(GO) test -race -timeout 20m ./...

# The whole script corpus on every backend, with a readable report.
conformance:
	$(GO) run ./cmd/epollconf -backends $(BACKENDS) $(CORPUS)

# Re-record the corpus's expectations from the linux backend.
record:
	$(GO) run ./cmd/epollconf -backends linux -record $(CORPUS)

# The benchmarks (docs/performance.md). First the peers (issue 17): the
# nested module bench/peers (its own go.mod, the only place gVisor is
# required) runs host epoll, gVisor's epoll, the model and the syscall
# layer side by side; its test binary is built once and run BENCHCOUNT
# times, so the implementations alternate in every round (each benchmark
# runs PEERSBENCHTIME per round: shorter, with more rounds, is steadier
# under load). Then every benchmark of the model's packages (issue 7),
# BENCHCOUNT times. The raw output of both stays in BENCHOUT for benchstat;
# cmd/benchtable prints the tables of medians. Not part of `make test`.
BENCHCOUNT ?= 5
BENCHOUT ?= /tmp/guestpoll-bench.txt
PEERSBIN ?= /tmp/guestpoll-peers.test
PEERSBENCHTIME ?= 1s
bench:
	cd bench/peers && $(GO) test -c -o $(PEERSBIN) .
	: > $(BENCHOUT)
	for i in $$(seq $(BENCHCOUNT)); do \
		$(PEERSBIN) -test.run '^$$' -test.bench . -test.benchmem -test.benchtime $(PEERSBENCHTIME) >> $(BENCHOUT) || { cat $(BENCHOUT); exit 1; }; \
	done
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./kernel/... ./syscalls/... ./checkpoint/... >> $(BENCHOUT) || { cat $(BENCHOUT); exit 1; }
	$(GO) run ./cmd/benchtable < $(BENCHOUT)

# The chart of docs/performance.md (docs/performance.svg), drawn by
# cmd/benchchart from the output `make bench` left in BENCHOUT.
benchchart:
	$(GO) run ./cmd/benchchart -o docs/performance.svg < $(BENCHOUT)

# Each fuzz target for FUZZTIME, one after another (seed corpora already run
# in `make test`), then a table of executions per second and findings; fails
# if any target found something. See docs/fuzzing.md.
fuzz:
	$(GO) run ./cmd/epollfuzz run -fuzztime $(FUZZTIME) ./...

# Real programs (a Go net/http server, redis-server, nginx) natively and
# under cmd/epollbox, driven by their usual clients; prints requests per
# second both ways. Installs the programs from Debian packages if missing.
realprograms:
	$(GO) test -tags realprograms -count=1 -v -timeout 10m -run TestRealPrograms ./cmd/epollbox

vet:
	$(GO) vet ./...

# gVisor's checklocks analyzer checks the +checklocks annotations (see
# docs/locking.md). It lives in the nested module tools/, so the library's
# users never import it; `go build` fetches it through the module proxy the
# first time and caches it after that.
CHECKLOCKS ?= $(CURDIR)/bin/checklocks

checklocks:
	$(GO) -C tools build -o $(CHECKLOCKS) gvisor.dev/gvisor/tools/checklocks/cmd/checklocks
	$(GO) vet -vettool=$(CHECKLOCKS) ./...

lint: vet checklocks
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
