# sockshim: `make demo` shows it, `make test` proves it.
GO      ?= go
BIN     := bin/sockshim
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

# The kernel tests need root; they make their own cgroups and bpffs and clean
# up after themselves.
TEST_TIMEOUT ?= 20m
# A count of executions, not a duration: with a duration Go 1.26's fuzz
# coordinator can fail a target with "context deadline exceeded" at the
# deadline on a loaded machine (go.dev/issue/75804, fixed in Go 1.27).
FUZZ_TIME    ?= 300000x

.PHONY: all build generate test fuzz demo demo-cri bench stress clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/sockshim
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)-nri ./cmd/sockshim-nri

# Recreates the bpf2go bindings and objects from bpf/c (committed).
generate:
	scripts/deps.sh generate
	cd bpf && $(GO) generate ./...

# SOCKSHIM_CRI=1: the CRI tests fail, rather than skip, without the
# containerd and crictl that scripts/deps.sh cri builds.
test: build
	scripts/deps.sh test
	scripts/deps.sh cri >/dev/null
	$(GO) vet ./...
	SOCKSHIM_CRI=1 $(GO) test -p 1 -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(MAKE) fuzz

# Each fuzz target for a short run (longer: make fuzz FUZZ_TIME=5m).
fuzz:
	$(GO) test ./oci -run '^$$' -fuzz '^FuzzParsePorts$$' -fuzztime $(FUZZ_TIME)
	$(GO) test ./oci -run '^$$' -fuzz '^FuzzReadState$$' -fuzztime $(FUZZ_TIME)
	$(GO) test ./oci -run '^$$' -fuzz '^FuzzParseBypass$$' -fuzztime $(FUZZ_TIME)

demo: build
	scripts/deps.sh demo
	scripts/demo.sh

# The NRI plugin under a private containerd 2.4.2, driven with crictl.
demo-cri: build
	scripts/deps.sh cri >/dev/null
	scripts/demo-cri.sh

# The long runs (about 5 minutes): 200 bypassed connections for 60 s, 10
# rounds of 64 connections whose clients turn blocking mid-stream, faults
# during 30 s of traffic, a million bind/close cycles, 100,000 connections,
# 1,000 container lifecycles. Each test logs its figures.
stress: build
	scripts/deps.sh test
	SOCKSHIM_STRESS=1 $(GO) test -count=1 -timeout 60m -v \
		-run 'UnderLoad|FaultsDuringTraffic|KillMidStream|NoLeaks|Lifecycles|ConcurrentFirstUse' \
		./internal/group ./cmd/sockshim 2>&1 | grep -vE '^=== |level=' 

# The figures: every experiment and the real alternatives in interleaved
# rounds; writes bench/results.md and bench/results.svg (a few minutes).
bench: build
	scripts/deps.sh bench
	$(GO) run ./cmd/benchreport -bin $(BIN) -out bench

clean:
	rm -rf bin
