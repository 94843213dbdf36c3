#!/usr/bin/env bash
# Cost per rate-slot grant with slots shared through Redis (loopback) against the single-process
# scheduler, in one run. Starts its own redis-server (Debian's package) on a free loopback port
# without persistence. Bounded: a few seconds. Writes bench/results/slots.md for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product SlotBench >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --loglevel warning >/dev/null &
redis_pid=$!
trap 'kill $redis_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
mkdir -p bench/results
table=$(.build/release/SlotBench "$port")
{
  echo "## Rate-slot grants: Redis (cluster) vs local"
  echo
  echo "**What is measured.** \`RateScheduler.admit\` with limits far above the request count, so no"
  echo "request waits for a slot: the cost of the decision alone. *local*: the single-process"
  echo "scheduler's own limiter. *Redis*: \`cluster:\` mode, each grant taken by the slot script in a"
  echo "\`redis-server\` $(redis-server --version | awk '{print $3}' | tr -d 'v=') on loopback (one round trip;"
  echo "callers waiting together share one script call). $(nproc) cores, $(date -u +%Y-%m-%d)."
  echo
  echo "$table"
  echo
  echo "Either way a grant costs far less than the slot it grants (40 ms at 25/s)."
  echo
  echo "Reproduce: \`bench/run slots\`."
} > bench/results/slots.md
cat bench/results/slots.md
