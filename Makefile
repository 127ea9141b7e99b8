# Triplane — the two commands: `make up` and `make test`.
# Everything runs with a pinned Node 24 LTS fetched from the npm registry into .toolchain/.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
NODE_VERSION := $(shell cat .nvmrc)
TOOLCHAIN := $(CURDIR)/.toolchain
NODE_HOME := $(TOOLCHAIN)/node-v$(NODE_VERSION)
NODE := $(NODE_HOME)/bin/node
export PATH := $(NODE_HOME)/bin:$(CURDIR)/node_modules/.bin:$(PATH)
# Native addons (better-sqlite3) build against the toolchain's own headers.
export npm_config_nodedir := $(NODE_HOME)
export npm_config_update_notifier := false
export npm_config_fund := false
export npm_config_audit := false
DATA_DIR ?= $(CURDIR)/.data

.PHONY: up test toolchain deps system images typecheck lint test-only bench clean dashboard

up: deps system typecheck dashboard
	node apps/triplane/src/main.ts up --data-dir $(DATA_DIR)

test: deps system typecheck lint dashboard test-only

# The dashboard's production build (served by `triplane control` at /), rebuilt every time:
# a few seconds, and a stale build would be what the browser tests see.
dashboard: deps
	npm run build -w @triplane/dashboard

test-only:
	node scripts/test.ts

toolchain: $(NODE)

$(NODE):
	scripts/fetch-node.sh $(NODE_VERSION) $(TOOLCHAIN)

deps: node_modules/.install-stamp

node_modules/.install-stamp: $(NODE) package-lock.json package.json $(wildcard packages/*/package.json apps/*/package.json)
	npm ci --no-audit --no-fund
	touch $@

# Debian packages for the control plane's tests, then (as root) the container host:
# podman + runc, containers.conf/storage.conf, uid ranges (`triplane host prepare`, idempotent).
system: deps
	scripts/install-system-deps.sh
	@if [ "$$(id -u)" = 0 ]; then node apps/triplane/src/main.ts host prepare; else echo "host prepare skipped (not root)"; fi

# Site images (debootstrap + podman build, cached by content hash under /var/cache/triplane).
images: system
	node apps/triplane/src/main.ts images build

typecheck: deps
	tsc -b
	tsc -p bench

lint: deps
	biome check .

bench: deps system
	node bench/run.ts

clean:
	rm -rf node_modules packages/*/node_modules apps/*/node_modules packages/*/build apps/*/build
