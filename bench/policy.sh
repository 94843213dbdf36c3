#!/usr/bin/env bash
# Decisions per second against key count (10 / 1,000 / 100,000) and rule count (10 / 100 / 1,000).
# Decision cost must be flat in the number of keys. Bounded: about a minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product PolicyBench >/dev/null
mkdir -p bench/results
{
  echo "# policy decisions: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(swift --version 2>&1 | head -1)"
  echo "command: .build/release/PolicyBench ${1:-10000}"
  .build/release/PolicyBench "${1:-10000}"
} | tee bench/results/policy-latest.txt
