# RemoteMedia Hybrid. Quick start: `make run` (demo server), `make test` (everything).
GO      ?= go
GOROOT  := $(shell $(GO) env GOROOT)
JSEXEC  := $(GOROOT)/lib/wasm/go_js_wasm_exec
LISTEN  ?= 127.0.0.1:8080
FUZZTIME ?= 8s
BIN     := bin/remotemedia
# What `remotemedia --version` prints: a release tag, else the commit.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)

.PHONY: all deps bench-deps modules browser build dist run test test-go test-js test-fuzz test-python test-e2e test-deploy test-bench lint bench docs clean

all: build

deps:
	scripts/deps.sh

modules:
	$(MAKE) -C wasm-modules

browser:
	$(MAKE) -C web

build: modules browser
	$(GO) build -trimpath -ldflags "-X github.com/remotemedia/hybrid/target/server/cli.version=$(VERSION)" -o $(BIN) ./target/server/cmd/remotemedia

# release binaries for four platforms, the Python sdist and platform wheels carrying the binary, SHA256SUMS: dist/
dist: modules browser
	VERSION=$(VERSION) scripts/dist.sh

run: deps build
	$(BIN) serve --listen $(LISTEN)

test: deps build lint test-go test-js test-fuzz test-python test-e2e test-deploy test-bench
	@echo "make test: all suites passed"

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./core/... ./target/browser/...
	GOOS=windows GOARCH=amd64 $(GO) vet ./core/... ./pyproxy/... ./target/... ./internal/...  # make dist ships a Windows binary: its packages and their tests build there
	cd e2e && $(GO) vet ./...
	cd deploy && $(GO) vet ./...

test-go:
	$(GO) test -race ./core/sched/...
	$(GO) test ./...

# The browser's tests build as core.wasm does: with expr patched (tools/exproverlay).
test-js:
	$(MAKE) -C web overlay
	PATH="$$PATH:$(GOROOT)/lib/wasm" GOOS=js GOARCH=wasm $(GO) test -modfile web/dist/.expr-overlay/go.mod -exec="$(JSEXEC)" ./core/... ./target/wasmhost/... ./target/browser/...

test-fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=$(FUZZTIME) ./core/def
	$(GO) test -run='^$$' -fuzz=FuzzUnmarshal -fuzztime=$(FUZZTIME) ./core/frame
	$(GO) test -run='^$$' -fuzz=FuzzReader -fuzztime=$(FUZZTIME) ./core/wavio
	$(GO) test -run='^$$' -fuzz=FuzzMultipartParts -fuzztime=$(FUZZTIME) ./core/client
	$(GO) test -run='^$$' -fuzz=FuzzInstrument -fuzztime=$(FUZZTIME) -fuzzminimizetime=1s ./target/wasmhost
	$(GO) test -run='^$$' -fuzz=FuzzDeclaredModule -fuzztime=$(FUZZTIME) ./core/wasmnode

test-python:
	cd pyproxy/python && ../../.venv/bin/python -m mypy
	.venv/bin/python -m pytest -q pyproxy/python/tests

test-e2e:
	cd e2e && $(GO) test -count=1 ./...

# the Kubernetes manifests, the container entry point, make dist's wheel in a fresh venv, HAProxy over two servers
test-deploy:
	cd deploy && $(GO) test -count=1 ./...

bench-deps:
	scripts/deps.sh bench

# writes docs/benchmarks.md and its plot from the run; bin/bench.json keeps the figures (benchtable -from re-renders them)
bench: bench-deps build
	$(GO) run ./tools/benchtable -bin $(BIN) -markdown docs/benchmarks.md -save bin/bench.json

# every benchmark's harness on tiny inputs (no timing asserted), the page written to a scratch folder
test-bench: build
	@dir=$$(mktemp -d); $(GO) run ./tools/benchtable -quick -bin $(BIN) -markdown $$dir/benchmarks.md >$$dir/out.txt \
		|| { cat $$dir/out.txt; rm -rf $$dir; exit 1; }; rm -rf $$dir

docs: build
	$(BIN) nodes --markdown > docs/nodes.md
	$(BIN) nodes --schema > docs/definition.schema.json

clean:
	$(MAKE) -C wasm-modules clean
	rm -rf bin web/dist/*.wasm web/dist/*.wasm.br web/dist/*.wasm.gz web/dist/*.wasm.sha256 web/dist/wasm_exec.js
