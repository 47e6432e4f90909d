# The two commands a newcomer needs are `make demo` and `make test`; everything they need is installed by the
# targets below from the project's own files (go.mod/go.sum, package.json/package-lock.json).

GO       ?= go
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/entra-di/edi/internal/version.Version=$(VERSION)
# -race doubles build time of msgraph-sdk-go; it still fits, so the whole suite runs with it.
TESTFLAGS ?= -race -count=1 -timeout 30m

.PHONY: all tools build test vet unit demo fuzz clean

all: build

# Node tools (Azurite) go into ./node_modules from the lockfile. The check compares the lockfile's content with
# the one installed (not timestamps, which a fresh checkout resets), and never runs `npm ci` through a symlinked
# node_modules: npm would empty the folder it points to.
tools:
	@if [ -L node_modules ]; then \
		test -x node_modules/.bin/azurite || { echo "node_modules is a link without Azurite" >&2; exit 1; }; \
	elif [ -x node_modules/.bin/azurite ] && cmp -s package-lock.json node_modules/.installed-lock; then \
		:; \
	else \
		npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.installed-lock; \
	fi

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/handler ./handlers

vet:
	$(GO) vet ./...

test: tools vet
	$(GO) test $(TESTFLAGS) ./...

demo: tools
	$(GO) run ./tests/cmd/demo

# Short runs of every fuzz target (the committed seed corpora always run as part of `make test`).
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 60s ./internal/envelope

clean:
	rm -rf bin dist
