# watcherbridge: the two commands are `make demo` and `make test`.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
GOFLAGS_BUILD := -trimpath -ldflags '$(LDFLAGS)'
export CGO_ENABLED ?= 0

.PHONY: all build demo test test-short fuzz vet fmt clean

all: build

## build: static binaries bin/watcherbridge and bin/fakewatcher
build:
	$(GO) build $(GOFLAGS_BUILD) -o bin/watcherbridge ./cmd/watcherbridge
	$(GO) build $(GOFLAGS_BUILD) -o bin/fakewatcher ./cmd/fakewatcher

## demo: the main job end to end on embedded defaults (exit 0 only if every camera ends as expected)
demo: build
	./bin/watcherbridge demo --examples deploy/examples

## test: the whole suite (unit, integration with embedded NATS and the fake Watcher, fuzz seed corpora)
test: vet
	CGO_ENABLED=1 $(GO) test -race -count=1 $(TESTFLAGS) ./...

## test-short: unit tests only
test-short:
	$(GO) test -short -count=1 ./...

## fuzz: each fuzzer for FUZZTIME (default 30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParseCSV$$' -fuzztime=$(FUZZTIME) ./events/activation/
	$(GO) test -run='^$$' -fuzz='^FuzzParseJSON$$' -fuzztime=$(FUZZTIME) ./events/activation/

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin data
