# oubli — see README.md. Two commands from a fresh clone: `make demo`, `make test`.
GO       ?= go
BIN      := bin/oubli
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X github.com/oubli/oubli/cmd/cli.Version=$(VERSION)
DEMO_DIR ?= .demo
PKGS     := ./...

.PHONY: all build test test-race test-long test-browser demo bench bench-scale lint fuzz clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/oubli

## test: every unit, store (SQLite + PostgreSQL), policy and end-to-end test.
test: build
	$(GO) test -count=1 -timeout 20m $(PKGS)

## test-race: the packages that run goroutines of their own, under the race detector.
test-race:
	$(GO) test -race -count=1 -timeout 20m ./retention ./scheduler ./ingest ./store ./dsr ./policies ./integrity

## test-long: the slow proof suite (crash loops, large inputs).
## OUBLI_CRASH_ITERS (default 40 here) and OUBLI_CRASH_SEED make the crash loops longer or reproducible.
test-long: build
	OUBLI_LONG=1 OUBLI_CRASH_ITERS=$${OUBLI_CRASH_ITERS:-40} $(GO) test -count=1 -timeout 40m -run 'Long|BadInputCatalogue' ./...

## test-browser: render an export's index.html in headless Chromium.
test-browser: build
	OUBLI_BROWSER=1 $(GO) test -count=1 -timeout 10m -run 'Browser' ./...

## demo: build, seed the demo data into an embedded store, show what it holds and what retention would do.
demo: build
	rm -rf $(DEMO_DIR)
	$(BIN) --db sqlite:$(DEMO_DIR)/oubli.db seed --demo
	$(BIN) --db sqlite:$(DEMO_DIR)/oubli.db inventory
	$(BIN) --db sqlite:$(DEMO_DIR)/oubli.db retention plan
	@echo "--- legal approves the policy revision that will run (from now on an unapproved revision is refused):"
	$(BIN) --db sqlite:$(DEMO_DIR)/oubli.db policy approve --by "Demo legal team" --note "make demo"
	@echo "--- the nightly purge; six years of backlog trip the 25% safety valve (exit 3, nothing deleted):"
	-$(BIN) --db sqlite:$(DEMO_DIR)/oubli.db retention run
	@echo "--- so the first run on a backlog is allowed explicitly:"
	$(BIN) --db sqlite:$(DEMO_DIR)/oubli.db retention run --allow-large
	$(BIN) --db sqlite:$(DEMO_DIR)/oubli.db inventory
	$(BIN) --db sqlite:$(DEMO_DIR)/oubli.db check
	$(BIN) --db sqlite:$(DEMO_DIR)/oubli.db audit verify

## bench: Go benchmarks, the retention purge against a hand-written SQL baseline, and the blob stores (S3 / directory; BENCH_S3_FULL=1 for the issue's sizes).
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 60m $(PKGS)
	OUBLI_BENCH=1 $(GO) test -count=1 -timeout 40m -run TestRetentionBench -v ./bench/ | grep -v '"level"'
	OUBLI_BENCH=1 $(GO) test -count=1 -timeout 120m -run TestBlobStoreBench -v ./bench/ | grep -v '"level"'  # BENCH_S3_FULL=1: the issue's sizes
	$(MAKE) bench-scale

## bench-scale: the per-subject rights and nightly jobs at scale (README, "Benchmarks at scale"):
## PostgreSQL at BENCH_SIZES tickets (default 1000000; e.g. 1000000,3000000), SQLite at
## BENCH_SQLITE_SIZES (default 100000; 0: none), against OUBLI_BENCH_BASE (an older oubli binary)
## or hand-written SQL, in the same run. Stores cached in OUBLI_BENCH_CACHE; table in BENCH_OUT.
BENCH_OUT ?= bench-scale.md
bench-scale: build
	OUBLI_BENCH_SCALE=1 BENCH_OUT=$(abspath $(BENCH_OUT)) $(GO) test -count=1 -timeout 12h -run TestScaleBench -v ./bench/

## lint: gofmt, go vet, staticcheck (pinned), and the policies compiled strictly and formatted as opa fmt would.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint: build
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)
	$(BIN) --policies policies policy check

## fuzz: run every fuzzer for FUZZTIME (default 30s) each; crashers land in PKG/testdata/fuzz/ (commit them).
FUZZTIME ?= 30s
FUZZERS  := ingest:FuzzParseLine ingest:FuzzValidate dsr:FuzzParseSet store:FuzzSubjectKey policies:FuzzBuildInput policies:FuzzDecide
fuzz:
	@set -e; for f in $(FUZZERS); do \
		pkg=$${f%%:*}; fn=$${f##*:}; \
		echo "== $$fn ($$pkg, $(FUZZTIME))"; \
		out=$$(mktemp); \
		if ! $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) ./$$pkg/ >$$out 2>&1; then cat $$out; rm -f $$out; exit 1; fi; \
		grep -E 'elapsed|^ok' $$out | tail -n 2; rm -f $$out; \
	done

clean:
	rm -rf bin $(DEMO_DIR)
