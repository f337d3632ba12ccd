# GOEXPERIMENT=simd turns on the Go backend's AVX2/AVX-512 matmul (about 1.3x faster training).
export GOEXPERIMENT := simd
GO ?= go

.PHONY: all build test test-xla vet fmt quickstart bench bench-pipelines fuzz race clean docs verify

all: build

build:
	$(GO) build -o biopipe ./cmd/biopipe

vet:
	$(GO) vet ./...
	@sh third_party/check.sh
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

# The whole test suite: unit tests, golden files, real-file cross-checks (skipped when a peer
# tool is absent) and every configs/*.yaml run end to end.
# FUZZ_SMOKE=3s (.ci/run sets it) then runs every fuzz target for that long, so CI fuzzes a
# little on each push beyond the seeds.
FUZZ_SMOKE ?=
test: vet
	$(GO) test -timeout 20m ./...
	$(MAKE) test-xla
ifneq ($(FUZZ_SMOKE),)
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZ_SMOKE)
endif

# The XLA variant (GPU path): it must build (go-xla's PJRT binding uses cgo: needs gcc), and
# backend xla:cuda without an installed PJRT plugin must fail with a message naming
# PJRT_PLUGIN_LIBRARY_PATH and the JAX wheel to install (no plugin is ever downloaded).
test-xla:
	$(GO) build -tags xla ./...
	$(GO) test -tags xla -run 'XLA|PJRT' ./models/

# Every fuzz target (func Fuzz* in a _test.go file) for FUZZTIME each, one after another
# (go test -fuzz takes one target per run). `make test` runs only their seed corpora (the
# f.Add seeds and testdata/fuzz/<Target>/ regressions). FUZZPKG narrows it: FUZZPKG=./io/...
FUZZTIME ?= 30s
FUZZPKG ?= ./...
fuzz:
	@set -e; for dir in $$($(GO) list -f '{{.Dir}}' $(FUZZPKG)); do \
	  for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
	    echo "== $$dir $$t ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$dir; \
	  done; \
	done

# The race detector over the packages that run goroutines or the backend's unsafe kernels: the
# model families (parallel executor, predict workers), io readers, datasets, the pipeline
# executor, workflows, stages and the CLI, then the vendored Go backend and its kernels (-race
# also turns on checkptr, which checks their unsafe.Pointer arithmetic). -short, as in CI.
# Not part of `make test`: about 8 minutes on 2 cores (7.5 min measured on a shared machine).
# RACEPKG narrows it: RACEPKG=./models/...
RACEPKG ?= ./models/... ./dataset/... ./io/... ./pipelines/... ./workflows/... ./stages/... ./cmd/...
race:
	$(GO) test -race -short -timeout 60m $(RACEPKG)
	cd third_party/compute && $(GO) test -race -short ./internal/gobackend/...

quickstart:
	$(GO) run ./cmd/biopipe run configs/quickstart.yaml

# biopipe verify on a finished run of every example config (make test verifies the cheap ones).
verify:
	BIOPIPE_VERIFY_ALL=1 $(GO) test -timeout 20m -run TestConfigsRunEndToEnd ./configs/

# Every training benchmark (mlp, cnn, lstm, cnn1d, transformer, conv_autoencoder), prediction
# throughput and CSV ingest against PyTorch CPU / pandas in one run, same thread count,
# alternating rounds (best kept); ends with `model biopipe/s pytorch/s ratio` lines and writes
# bench/results.json. BENCH_THREADS, BENCH_ROUNDS, BENCH_STEPS override; see bench/README.md.
bench:
	$(GO) run ./bench/all

# The pipelines' Go benchmarks (cached re-run, executor overhead).
bench-pipelines:
	$(GO) test -run '^$$' -bench . -benchtime 20x ./pipelines/

clean:
	rm -rf biopipe configs/.biopipe

# The reference docs (a page per stage kind, model family and template tutorial) are generated
# from the declarations; internal/docgen's test fails when docs/ is stale.
docs:
	$(GO) run ./cmd/biopipe docs --out docs
