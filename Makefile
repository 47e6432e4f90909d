# The two commands a newcomer needs are `make demo` and `make test`; everything they need is installed by the
# targets below from the project's own files (go.mod/go.sum, package.json/package-lock.json).

GO       ?= go
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/entra-di/edi/internal/version.Version=$(VERSION)
# -race doubles build time of msgraph-sdk-go; it still fits, so the whole suite runs with it. Every scenario test
# of tests/e2e and tests/reliability is t.Parallel, so each package runs GOMAXPROCS of them at a time (two on CI)
# instead of one serial test after another: serially, tests/reliability alone took 35 minutes. Four at a time
# starved two cores (tests ran past their deadlines), so -parallel stays at its default.
TESTFLAGS ?= -race -count=1 -timeout 45m

.PHONY: all tools system-tools build test vet unit demo fuzz clean package generate

all: build

# Node tools (Azurite; tree-sitter-bicep and ajv for the offline template checks) go into ./node_modules from the
# lockfile; shellcheck and jq (the deployment scripts and their tests) and chromium (the Status page's browser test,
# headless) come from apt-get when missing. The check compares the lockfile's content with
# the one installed (not timestamps, which a fresh checkout resets), and never runs `npm ci` through a symlinked
# node_modules: npm would empty the folder it points to.
tools: system-tools
	@if [ -L node_modules ]; then \
		test -x node_modules/.bin/azurite || { echo "node_modules is a link without Azurite" >&2; exit 1; }; \
	elif [ -x node_modules/.bin/azurite ] && cmp -s package-lock.json node_modules/.installed-lock; then \
		:; \
	else \
		npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.installed-lock; \
	fi

SYSTEM_TOOLS := shellcheck jq chromium
system-tools:
	@missing=""; for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
		command -v apt-get >/dev/null || { echo "please install$$missing" >&2; exit 1; }; \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		echo "installing$$missing with apt-get"; \
		$$sudo apt-get update -qq && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The deployable zip (host.json, linux/amd64 handler, function folders) in dist/.
package:
	scripts/package.sh --version $(VERSION)

# Files derived from internal/catalog and the deployment script (infra/app-registration); tests fail while stale.
generate:
	$(GO) run ./tests/cmd/gentemplates

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/handler ./handlers

vet:
	$(GO) vet -race ./...

test: tools vet
	$(GO) test $(TESTFLAGS) ./...

# `make demo SERVE=1` keeps the simulated deployment running and serves the Status page (ADDR, default
# 127.0.0.1:7071) until Ctrl-C.
demo: tools
	$(GO) run ./tests/cmd/demo $(if $(SERVE),-serve) $(if $(ADDR),-addr $(ADDR))

# Every fuzz target as package:Target. Their committed seed corpora (testdata/fuzz) run in `make test`; `make fuzz`
# explores each for FUZZTIME and writes any failing input into that corpus.
FUZZ_TARGETS = ./internal/envelope:FuzzParse ./internal/collect:FuzzParseWorkItem ./internal/rawjson:FuzzReadPage \
	./internal/graph:FuzzClassify ./internal/graph:FuzzCredentialError ./internal/archive:FuzzParsePart \
	./internal/config:FuzzLoad ./internal/access:FuzzCheck ./handlers:FuzzInvoke ./tests/entrasim:FuzzAppendJSONString \
	./internal/remediate:FuzzRemediate ./handlers:FuzzRemediateInvoke ./internal/integrations:FuzzRequests \
	./internal/stream:FuzzSplit ./internal/stream:FuzzParseTime ./internal/envelope:FuzzStringArray
FUZZTIME ?= 30s

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} in $${t%%:*} for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) "$${t%%:*}"; \
	done

clean:
	rm -rf bin dist
