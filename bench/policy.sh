#!/usr/bin/env bash
# Decisions per second against key count (10 / 1,000 / 100,000) and rule count (10 / 100 / 1,000):
# authenticate + normalize + decide for one request. Decision cost must be flat in the number of
# keys. Bounded: about a minute on 2 cores. Writes bench/results/policy.md for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
iterations="${BENCH_POLICY_ITERATIONS:-4000}"
swift build -c release --product PolicyBench >/dev/null
mkdir -p bench/results
table=$(.build/release/PolicyBench "$iterations")
{
  echo "# policy decisions: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(swift --version 2>&1 | head -1)"
  echo "command: .build/release/PolicyBench $iterations"
  echo "$table"
} > bench/results/policy-latest.txt
{
  echo "## Policy decisions against key count"
  echo
  echo "**What is measured.** One request authenticated (SHA-256 of the key, constant-time compare),"
  echo "normalized and decided as the request path does (no per-rule trace), $iterations times, with 10 / 1,000 / 100,000 keys in the store and a policy"
  echo "of 10 / 100 / 1,000 rules where the matching rule is the last (the worst case). Decision cost"
  echo "must not grow with the number of keys; it grows linearly with the rules of the one policy involved."
  echo "The nine setups run interleaved, five rounds, and the best round of each is kept, so drift in the"
  echo "machine's other load does not land on whichever setup runs last."
  echo
  echo "**Result of one run** ($(date -u +%Y-%m-%d), $(nproc) cores):"
  echo
  echo "$table" | grep '^|'
  echo
  echo "$table" | grep -v '^|' | sed 's/^/- /'
  echo
  echo "Reproduce: \`bench/run policy\` (or \`BENCH_POLICY_ITERATIONS=20000 bench/policy.sh\`)."
} > bench/results/policy.md
cat bench/results/policy.md
