# TMA — the one entry point. `make run` and `make test` work from a clean clone.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

GO        ?= go
VAR       := $(CURDIR)/var
BIN       := $(VAR)/bin/tma
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Shared fixtures beside the checkout, or beside the local repository it was
# cloned from (a clean clone in /tmp), if present; tests that need them skip
# otherwise.
ORIGIN    := $(shell git config --get remote.origin.url 2>/dev/null)
FIXTURES  := $(firstword $(wildcard $(abspath $(CURDIR)/../shared/fixtures) $(if $(filter /%,$(ORIGIN)),$(abspath $(ORIGIN)/../shared/fixtures))))
export TMA_FIXTURES_DIR ?= $(FIXTURES)

RUN   ?=
BENCH ?=
BENCHTIME ?= 3x
TESTFLAGS ?= -race -count=1 -timeout 20m

.PHONY: run stop build test lint bench e2e clean

build:
	$(GO) build -o $(BIN) ./server/cmd/tma

## run: private PostgreSQL under ./var, local key, blobs, migrations, first admin, pdftotext; serves :8080
run: build
	@DBURL=$$(scripts/pg.sh start $(VAR)/pg); \
	PDFTOTEXT=$${TMA_PDFTOTEXT:-$$(scripts/pdftotext.sh || true)}; \
	export TMA_DATABASE_URL="$$DBURL" TMA_DATA_DIR="$(VAR)" TMA_PDFTOTEXT="$$PDFTOTEXT"; \
	$(BIN) init && exec $(BIN) serve

## stop: stop the private PostgreSQL cluster of `make run`
stop:
	scripts/pg.sh stop $(VAR)/pg

## test: every test against a throw-away cluster (or TMA_TEST_DATABASE_URL); RUN=<regex> for some
test:
	@scripts/test.sh $(if $(RUN),-v -run '$(value RUN)',) $(TESTFLAGS) ./...

## e2e: only the browser tests
e2e:
	@scripts/test.sh -v -run 'Browser' $(TESTFLAGS) ./server/...

## lint: vet, gofmt, staticcheck and the layering rules
lint:
	$(GO) vet ./...
	@out=$$(gofmt -l server docs-engine policies assets migrations 2>/dev/null); \
	if [ -n "$$out" ]; then echo "gofmt wants to change:"; echo "$$out"; exit 1; fi
	$(GO) run $(STATICCHECK) ./...
	@scripts/layering.sh

## bench: benchmarks as key=value lines; BENCH=<group> (crypt, upload, wiki, search) for one group
bench:
	@mkdir -p $(VAR)
	@case "$(BENCH)" in ""|[wW]iki*) scripts/cmark.sh >/dev/null;; esac
	@TMA_CHROMIUM=none TMA_LOCAL_KMS=none scripts/test.sh -run '^$$' -bench '(?i)^Benchmark$(BENCH)' -benchtime $(BENCHTIME) -count 1 -timeout 30m ./... \
		| tee $(VAR)/bench.log | awk -f scripts/benchfmt.awk

clean: stop
	rm -rf $(VAR)
