# certcustody: `make run` starts the embedded default, `make test` runs the
# whole suite. Both install missing system packages first.
GO        ?= go
BIN       := bin/certcustody
DATA_DIR  ?= ./certcustody-data
STATICCHECK_VERSION := v0.8.2
GOBIN_DIR := $(shell $(GO) env GOPATH)/bin

.PHONY: all deps build run test lint bench fuzz clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	$(GO) build -o $(BIN) ./cmd/certcustody

run: build
	$(BIN) --data-dir $(DATA_DIR) serve

test: deps lint
	$(GO) test -race -count=1 -timeout 20m ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@test -x $(GOBIN_DIR)/staticcheck || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(GOBIN_DIR)/staticcheck ./...

# One measurement at a time (2 cores): the token's own sign rate, a 1M-entry
# CRL rebuild, issuance through the whole HTTP stack, then the load command
# against a throwaway server (rate, p50/p99, server CPU per operation).
# The side-by-side comparison with cfssl and step-ca is ../shared/bench/peers.sh.
bench: build
	$(GO) test -run '^$$' -bench . -benchtime 2s ./keystore
	$(GO) test -run '^$$' -bench CRL1M -benchtime 1x ./certmgr
	$(GO) test -run '^$$' -bench CSRIssuanceHTTP -benchtime 5s ./server
	bash scripts/loadtest.sh $(BIN) --clients 16 --duration 10s --scenario issue-csr-ec,issue-csr-rsa,get
	bash scripts/loadtest.sh $(BIN) --clients 4 --duration 10s --scenario sign-rsa,sign-ec,create-ec,create-rsa

clean:
	rm -rf bin
