# servicehall — see README.md. Every target works on a fresh Debian machine
# once `bash .ci/run` (or the packages it names) has been installed.
GO       ?= go
BIN      ?= bin
PKGS     ?= ./...
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
SHARED   ?= ../shared

.PHONY: all build run test test-arm bench cross lint screenshots clean fuzz package

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./hallctl ./firmware-agent

## run: the demo hall — controller, embedded broker, emulated devices, web apps.
run: build
	$(BIN)/hallctl demo --config configs/demo/hall.yaml --agent-bin $(BIN)/firmware-agent configs/demo/agents/*.yaml

## test: every test, with the race detector.
test:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

## fuzz: the security fuzzers, FUZZTIME each (CI: 10s): every write route,
## every MQTT topic kind, the signed pushes, tokens and the wire decoders.
FUZZTIME ?= 10s
FUZZ_TARGETS ?= \
	./hallctl/web:FuzzWriteRoutes \
	./hallctl/web:FuzzDeviceMessages \
	./hallctl/web:FuzzParseToken \
	./hallctl/ctl:FuzzDecodeAppointmentPush \
	./hallctl/ctl:FuzzTicketCheck \
	./hallctl/casesys:FuzzDecodeStatusPush \
	./hallctl/broker:FuzzACL \
	./wire:FuzzParseTopic \
	./wire:FuzzDecodeEvent \
	./wire:FuzzDecodeCommand \
	./wire:FuzzDecodeOthers
# A run that ends with Go's own "context deadline exceeded" and no failing
# input (the engine stopping its workers at -fuzztime) is run once more;
# a real failure writes its input under testdata/fuzz and fails at once.
fuzz:
	@set -e; mkdir -p $(BIN); for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "fuzz $$fn ($$pkg, $(FUZZTIME))"; \
	  if ! $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg 2>&1 | tee $(BIN)/fuzz.log; then exit 1; fi; \
	  if grep -q 'FAIL' $(BIN)/fuzz.log; then \
	    if grep -q 'context deadline exceeded' $(BIN)/fuzz.log && ! grep -q 'Failing input written' $(BIN)/fuzz.log; then \
	      echo "fuzz $$fn: the engine's shutdown timed out (no failing input); once more"; \
	      $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg; \
	    else exit 1; fi; \
	  fi; done

## bench: Go benchmarks, the simulator table and the controller's load runs.
## The 50-halls line runs on a private PostgreSQL (initdb, fsync on, sized
## for 50 halls) unless BENCH_PG=postgres://… names a server; without one it
## prints SKIPPED and goes on.
BENCH_PG ?=
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./wire/... ./hallctl/queue/... ./hallctl/store/... | tee $(BIN)/bench-go.txt
	$(GO) test -run '^$$' -bench . -benchtime 3x ./hallctl/web
	$(GO) test -run '^$$' -bench OutboxDelivery -benchtime 20000x ./hallctl/casesys/
	$(BIN)/hallctl sim bench --scenarios $(SHARED)/bench/scenarios
	$(BIN)/hallctl loadtest --mqtt both --http 1,10,50,100
	$(BIN)/hallctl loadtest --mqtt none --history 1000000 --restarts 4 --http 1,10,50,100
	$(BIN)/hallctl loadtest --abuse all
	$(BIN)/hallctl loadtest --halls 50 --multiples 10 --seconds 60 --mqtt embedded --pg-optional $(if $(BENCH_PG),--store '$(BENCH_PG)',--pg-private)
	$(GO) test -run '^$$' -bench IssueConcurrent -benchtime 4000x ./hallctl/ctl/
	$(GO) test -run '^$$' -bench 'CitySummary|CityFold' -benchtime 7x -timeout 30m ./hallctl/city/ | tee $(BIN)/bench-city.txt

## screenshots: regenerate docs/screenshots/*.png of every app (needs chromium).
screenshots:
	SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run 'TestBrowser|TestKioskBrowser|TestScreen' ./hallctl/web

## cross: firmware-agent and hallctl for linux/arm64 and linux/arm (GOARM=7), no cgo.
cross:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/linux-arm64/ ./hallctl ./firmware-agent
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/linux-armv7/ ./hallctl ./firmware-agent
	@ls -l $(BIN)/linux-arm64 $(BIN)/linux-armv7

## package: .deb packages of hallctl and firmware-agent for amd64, arm64 and
## armhf (GOARM=7) in $(BIN)/pkg/ (internal/cmd/mkdeb; docs in configs/package).
PKG_ARCHES ?= amd64 arm64 armhf
package:
	@set -e; for a in $(PKG_ARCHES); do \
	  case $$a in armhf) ga=arm; gm=7;; *) ga=$$a; gm=;; esac; \
	  echo "package $$a"; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$ga GOARM=$$gm $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/pkg/$$a/ ./hallctl ./firmware-agent; \
	  $(GO) run ./internal/cmd/mkdeb --arch $$a --version '$(VERSION)' --bin $(BIN)/pkg/$$a --out $(BIN)/pkg; \
	done; ls -l $(BIN)/pkg/*.deb

## test-arm: the agent's tests for linux/arm GOARM=7 under qemu-arm-static.
test-arm:
	CGO_ENABLED=0 GOARCH=arm GOARM=7 $(GO) test -short -count=1 -exec qemu-arm-static ./firmware-agent/... ./wire/... ./displays/...

## lint: gofmt and go vet.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

clean:
	rm -rf $(BIN) state
