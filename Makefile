# RemoteMedia Hybrid. Quick start: `make run` (demo server), `make test` (everything).
GO      ?= go
GOROOT  := $(shell $(GO) env GOROOT)
JSEXEC  := $(GOROOT)/lib/wasm/go_js_wasm_exec
LISTEN  ?= 127.0.0.1:8080
FUZZTIME ?= 8s
BIN     := bin/remotemedia

.PHONY: all deps bench-deps modules browser build run test test-go test-js test-fuzz test-python test-e2e lint bench docs clean

all: build

deps:
	scripts/deps.sh

modules:
	$(MAKE) -C wasm-modules

browser:
	$(MAKE) -C web

build: modules browser
	$(GO) build -trimpath -o $(BIN) ./target/server/cmd/remotemedia

run: deps build
	$(BIN) serve --listen $(LISTEN)

test: deps build lint test-go test-js test-fuzz test-python test-e2e
	@echo "make test: all suites passed"

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./core/... ./target/browser/...
	cd e2e && $(GO) vet ./...

test-go:
	$(GO) test -race ./core/sched/...
	$(GO) test ./...

test-js:
	PATH="$$PATH:$(GOROOT)/lib/wasm" GOOS=js GOARCH=wasm $(GO) test -exec="$(JSEXEC)" ./core/... ./target/browser/...

test-fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=$(FUZZTIME) ./core/def
	$(GO) test -run='^$$' -fuzz=FuzzUnmarshal -fuzztime=$(FUZZTIME) ./core/frame
	$(GO) test -run='^$$' -fuzz=FuzzReader -fuzztime=$(FUZZTIME) ./core/wavio

test-python:
	.venv/bin/python -m pytest -q pyproxy/python/tests

test-e2e:
	cd e2e && $(GO) test -count=1 ./...

bench-deps:
	scripts/deps.sh bench

bench: bench-deps build
	$(GO) run ./tools/benchtable

docs: build
	$(BIN) nodes --markdown > docs/nodes.md
	$(BIN) nodes --schema > docs/definition.schema.json

clean:
	$(MAKE) -C wasm-modules clean
	rm -rf bin web/dist/*.wasm web/dist/wasm_exec.js
