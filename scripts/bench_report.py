"""Prints BENCHMARKS.md's per-provider table from criterion's estimates
(`cargo bench -p gateway-bench --bench providers` writes them under $CARGO_TARGET_DIR/criterion)."""

import json
import os
import pathlib
import sys


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else os.environ["CARGO_TARGET_DIR"]) / "criterion"
    groups: dict[str, dict] = {}
    for bench in root.glob("*/*/new/benchmark.json"):
        meta = json.loads(bench.read_text())
        estimates = json.loads((bench.parent / "estimates.json").read_text())
        group = groups.setdefault(meta["group_id"], {})
        group[meta["function_id"]] = estimates["median"]["point_estimate"]
        group["bytes"] = (meta.get("throughput") or {}).get("Bytes")
    if not groups:
        print(f"no criterion estimates under {root}", file=sys.stderr)
        return 1
    print("| channel/provider | body (bytes) | verify + normalise + serialise (µs) | floor: HMAC + parse (µs) | ratio |")
    print("|---|---:|---:|---:|---:|")
    for name in sorted(groups):
        g = groups[name]
        if "gateway" not in g or "floor" not in g:
            continue
        gateway, floor = g["gateway"] / 1000, g["floor"] / 1000
        print(f"| {name} | {g['bytes'] or ''} | {gateway:.1f} | {floor:.1f} | {gateway / floor:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
