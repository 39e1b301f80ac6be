# The two commands of the README, and helpers.
.PHONY: run test generate fuzz bench

run:  ## Emulators up, every channel's function served, samples sent, queues and table shown
	bash scripts/run-local.sh

test: ## Everything CI runs
	bash scripts/test.sh

generate: ## Every file derived from the code: the JSON Schema, events/, the fuzz seeds, the SAM template and the CDK channel file (CI fails when one is stale)
	bash -c 'source scripts/env.sh && cargo build --quiet --workspace --all-targets && "$$CARGO_TARGET_DIR/debug/schema" > schema/message.v1.json && for c in events fuzz-seeds infra; do "$$CARGO_TARGET_DIR/debug/gateway-local" $$c || exit 1; done'

fuzz: ## Every fuzz target for 10 minutes (scripts/fuzz.sh SECONDS [TARGET...] for others)
	bash scripts/fuzz.sh 600

bench: ## The figures of BENCHMARKS.md: criterion per provider, cold start, memory, load, sizes
	bash scripts/bench.sh
