# The two commands of the README, and helpers.
.PHONY: run test events schema fuzz bench

run:  ## Emulators up, every channel's function served, samples sent, queues and table shown
	bash scripts/run-local.sh

test: ## Everything CI runs
	bash scripts/test.sh

events: ## Re-sign the committed samples in events/ and the fuzz seeds (after changing tests/src/fixtures.rs)
	bash -c 'source scripts/env.sh && source scripts/lib.sh && cargo build --quiet --workspace --all-targets && gateway_local events && gateway_local fuzz-seeds'

schema: ## Regenerate schema/message.v1.json from the Rust types
	bash -c 'source scripts/env.sh && cargo run --quiet -p gateway-shared --bin schema > schema/message.v1.json'

fuzz: ## Every fuzz target for 10 minutes (scripts/fuzz.sh SECONDS [TARGET...] for others)
	bash scripts/fuzz.sh 600

bench: ## The figures of BENCHMARKS.md: criterion per provider, cold start, memory, load, sizes
	bash scripts/bench.sh
