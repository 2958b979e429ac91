# guestpoll: the two commands are `make conformance` (the main job) and
# `make test` (every test). See README.md.

GO ?= go
CORPUS ?= conformance/testdata
BACKENDS ?= linux,model,model-cr,hostfd,boxed
FUZZTIME ?= 30s

.PHONY: all test conformance record bench fuzz realprograms lint vet checklocks

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

# The model-versus-host benchmarks (issue 7, docs/performance.md): every
# benchmark BENCHCOUNT times, then the table of medians. The raw output stays
# in BENCHOUT for benchstat.
BENCHCOUNT ?= 5
BENCHOUT ?= /tmp/guestpoll-bench.txt
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./kernel/... ./syscalls/... ./checkpoint/... > $(BENCHOUT) || { cat $(BENCHOUT); exit 1; }
	$(GO) run ./cmd/benchtable < $(BENCHOUT)

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
