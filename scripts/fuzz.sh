#!/usr/bin/env bash
# Runs the cargo fuzz targets (fuzz/fuzz_targets) for SECONDS each, starting from the checked-in
# corpora; what a run finds new goes to a scratch folder, so the corpora stay small.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default: 600 s, every target)
# A crash stops the run with its input saved under fuzz/artifacts/<target>/: copy it to
# fuzz/regressions/<target>/ (tests/tests/fuzz_regressions.rs replays it) and fix the bug.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
source scripts/env.sh

seconds="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(providers decode)

# Installed by `gateway-local install test`.
export PATH="$GATEWAY_TOOLS/cargo/bin:$PATH"
# Without a sanitizer (the code is safe Rust; libFuzzer's coverage and Rust's panics and
# overflow checks find the bugs), cargo fuzz passes only stable -C flags, so the machine's one
# toolchain builds the targets.
fuzz_flags=(--sanitizer none --release --debug-assertions)

work="${GATEWAY_FUZZ_WORK:-$(mktemp -d)}"
mkdir -p "$work"
echo "== cargo fuzz build"
(cd fuzz && cargo fuzz build "${fuzz_flags[@]}")

printf '%-8s %10s %10s %8s %8s %s\n' target runs exec/s "new" rss_mb seconds
for target in "${targets[@]}"; do
  mkdir -p "$work/$target" "fuzz/regressions/$target"
  log="$work/$target.log"
  if ! (cd fuzz && cargo fuzz run "${fuzz_flags[@]}" "$target" "$work/$target" "corpus/$target" "regressions/$target" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1) >"$log" 2>&1; then
    echo "fuzz target $target failed; the input is in fuzz/artifacts/$target/, the log in $log:" >&2
    grep -E "panicked|ERROR|SUMMARY|Test unit written" "$log" | head -20 >&2
    exit 1
  fi
  stat() { awk -v k="$1" '$1 == "stat::"k":" { print $2 }' "$log" | tail -1; }
  printf '%-8s %10s %10s %8s %8s %s\n' "$target" "$(stat number_of_executed_units)" \
    "$(stat average_exec_per_sec)" "$(stat new_units_added)" "$(stat peak_rss_mb)" "$seconds"
done
