# watcherbridge: the two commands are `make demo` and `make test`.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
GOFLAGS_BUILD := -trimpath -ldflags '$(LDFLAGS)'
export CGO_ENABLED ?= 0
# The testcontainers reaper (Ryuk) is an image pulled from a registry, and
# nothing can be pulled here: the container tests remove what they start.
export TESTCONTAINERS_RYUK_DISABLED = true

.PHONY: all build demo test test-short test-container test-container-if-engine fuzz vet fmt clean images up down soak bench

all: build

## build: static binaries bin/watcherbridge and bin/fakewatcher
build:
	$(GO) build $(GOFLAGS_BUILD) -o bin/watcherbridge ./cmd/watcherbridge
	$(GO) build $(GOFLAGS_BUILD) -o bin/fakewatcher ./cmd/fakewatcher

## demo: the main job end to end on embedded defaults (exit 0 only if every camera ends as expected)
demo: build
	./bin/watcherbridge demo --examples deploy/examples

## test: the whole suite (unit, integration with embedded NATS and the fake Watcher, fuzz seed corpora),
## then the container suite when a Docker engine answers (`docker info`)
test: vet
	CGO_ENABLED=1 $(GO) test -race -count=1 $(TESTFLAGS) ./...
	@$(MAKE) --no-print-directory test-container-if-engine

## test-container: the container scenarios (build tag container, testcontainers-go) on the images of `make images`
CONTAINER_TIMEOUT ?= 15m
test-container: images
	$(GO) vet -tags container ./cmd/watcherbridge/
	$(GO) test -tags container -count=1 -timeout $(CONTAINER_TIMEOUT) -run '^TestContainer' $(TESTFLAGS) ./cmd/watcherbridge/

# Without an engine the container suite is skipped, loudly; with
# WATCHERBRIDGE_REQUIRE_DOCKER=1 (set by .ci/run) that is a failure.
test-container-if-engine:
	@if docker info >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory test-container; \
	elif [ "$(WATCHERBRIDGE_REQUIRE_DOCKER)" = 1 ]; then \
		echo "FAIL: container tests: no Docker engine answers \`docker info\`, and WATCHERBRIDGE_REQUIRE_DOCKER=1 requires one" >&2; \
		exit 1; \
	else \
		echo; \
		echo "######################################################################"; \
		echo "##  CONTAINER TESTS NOT RUN: no Docker engine answers \`docker info\`."; \
		echo "##  Everything above passed, but the images, the NATS cluster and the"; \
		echo "##  kill/restart scenarios were not tested. Start Docker and run"; \
		echo "##  \`make test-container\` (or \`make test\` again)."; \
		echo "######################################################################"; \
		echo; \
	fi

## test-short: unit tests only
test-short:
	$(GO) test -short -count=1 ./...

## fuzz: each fuzzer for FUZZTIME (default 30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParseCSV$$' -fuzztime=$(FUZZTIME) ./events/activation/
	$(GO) test -run='^$$' -fuzz='^FuzzParseJSON$$' -fuzztime=$(FUZZTIME) ./events/activation/
	$(GO) test -run='^$$' -fuzz='^FuzzFlatValuesAgreesWithTokenValues$$' -fuzztime=$(FUZZTIME) ./events/activation/
	$(GO) test -run='^$$' -fuzz='^FuzzValidElementsAgreesWithDecoder$$' -fuzztime=$(FUZZTIME) ./events/activation/
	$(GO) test -run='^$$' -fuzz='^FuzzLoadPlans$$' -fuzztime=$(FUZZTIME) ./handlers/plans/
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeEnvelope$$' -fuzztime=$(FUZZTIME) ./events/
	$(GO) test -run='^$$' -fuzz='^FuzzPeekIDAgreesWithDecode$$' -fuzztime=$(FUZZTIME) ./events/
	$(GO) test -run='^$$' -fuzz='^FuzzCameraJSON$$' -fuzztime=$(FUZZTIME) ./watcherclient/
	$(GO) test -run='^$$' -fuzz='^FuzzValidAgreesWithEncodingJSON$$' -fuzztime=$(FUZZTIME) ./events/jsonscan/

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

## soak: the kill -9 test at a larger scale (SOAK_CAMERAS, SOAK_KILLS)
SOAK_CAMERAS ?= 20000
SOAK_KILLS ?= 30
soak:
	SOAK_CAMERAS=$(SOAK_CAMERAS) SOAK_KILLS=$(SOAK_KILLS) $(GO) test -count=1 -timeout 30m -run 'TestKillNineConverges' -v ./cmd/watcherbridge/

## bench: ceiling, ingest, end to end, replay and naive baseline in one run (issue 7); prints a table, writes bench/results.json.
## BENCHFLAGS passes options, e.g. BENCHFLAGS='--cpuprofile e2e.pprof' to profile the bridge's end-to-end run
bench: build
	$(GO) run ./bench --bin bin/watcherbridge --out bench/results.json $(BENCHFLAGS)
