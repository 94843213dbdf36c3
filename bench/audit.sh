#!/usr/bin/env bash
# Audit log throughput with fsync batching, and the latency a durable (fsynced) intent adds to a
# write, on this machine's disk (the directory is under /tmp unless BENCH_AUDIT_DIR says otherwise).
# Bounded: well under a minute. Writes bench/results/audit.md for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product AuditBench >/dev/null
mkdir -p bench/results
dir="${BENCH_AUDIT_DIR:-$(mktemp -d)/audit}"
table=$(.build/release/AuditBench "$dir")
fs=$(df -T "$(dirname "$dir")" | awk 'NR==2 {print $2}')
{
  echo "## Audit log: records/s with group commit, and the cost of a durable intent"
  echo
  echo "**What is measured.** \`AuditWriter\` appending chained, HMAC'd records (one writer thread, one"
  echo "\`write\` per batch). *written*: returns once the record is in the file (reads' records)."
  echo "*durable*: returns once it is fsynced (a write's intent, before the write is sent); concurrent"
  echo "durable appends share one fsync (group commit). Filesystem: $fs, $(nproc) cores, $(date -u +%Y-%m-%d)."
  echo
  echo "$table"
  echo
  echo "The p50/p99 of a durable append is the latency a write pays before it is sent upstream;"
  echo "compare it with the written row of the same run, not with other machines."
  echo
  echo "Reproduce: \`bench/run audit\`."
} > bench/results/audit.md
echo "$table" > bench/results/audit-latest.txt
cat bench/results/audit.md
