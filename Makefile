# watcherbridge: the two commands are `make demo` and `make test`.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
GOFLAGS_BUILD := -trimpath -ldflags '$(LDFLAGS)'
export CGO_ENABLED ?= 0

.PHONY: all build demo test test-short fuzz vet fmt clean images up down

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

## images: FROM-scratch images watcherbridge, watcherbridge-fakewatcher, watcherbridge-nats (:dev and :$(VERSION))
NATS_SERVER_VERSION ?= v2.15.3
CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
images: build
	$(GO) build $(GOFLAGS_BUILD) -o bin/healthcheck ./deploy/healthcheck
	GOBIN=$(CURDIR)/bin $(GO) install -trimpath -ldflags '-s -w' github.com/nats-io/nats-server/v2@$(NATS_SERVER_VERSION)
	rm -rf bin/image && mkdir -p bin/image/data && cp $(CA_BUNDLE) bin/image/ca-certificates.crt
	docker build -f deploy/Dockerfile -t watcherbridge:dev -t watcherbridge:$(VERSION) .
	docker build -f deploy/fakewatcher.Dockerfile -t watcherbridge-fakewatcher:dev -t watcherbridge-fakewatcher:$(VERSION) .
	docker build -f deploy/nats/Dockerfile -t watcherbridge-nats:dev -t watcherbridge-nats:$(VERSION) .

## up / down: the compose stack (3-node JetStream cluster, fake Watcher, bridge on 127.0.0.1:8080); run `make images` first
COMPOSE ?= docker-compose
up:
	$(COMPOSE) -f deploy/compose.yaml up -d
down:
	$(COMPOSE) -f deploy/compose.yaml down -v
