#!/usr/bin/env bash
# Fair share (issue 4): how long one key's single write waits behind another key's burst.
# Key A queues a burst of BENCH_FAIRNESS_WRITES (default 300) POSTs at Astro's 10/s; 2 s in, key B
# sends one POST. Fair round robin means B waits about one slot (0.1 s), not the burst's tail.
# Writes bench/results/fairness.md and fairness-latest.txt. Loopback only, about 35 s by default.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/pacing/lib.sh
writes="${BENCH_FAIRNESS_WRITES:-300}"
[ -x "$BIN" ] || swift build -c release --product astro-gateway >/dev/null
bench_init fairness
start_simulator sim --no-limits
write_gateway_config "$WORK/gw" "$SIM_PORT" 5000 600 2000
key_a=$(create_key "$WORK/gw" bursty)
key_b=$(create_key "$WORK/gw" light)
start_gateway "$WORK/gw"
result=$(python3 bench/fairness/burst.py "$GW_PORT" "$key_a" "$key_b" "$writes" 50)
echo "$result" > bench/results/fairness-latest.txt
python3 - "$result" > bench/results/fairness.md <<'PY'
import json, sys
r = json.loads(sys.argv[1])
slot = 0.105   # one POST slot at 10/s, with the 50 ms window margin
print("## Fair share: a light key's write behind another key's burst\n")
print(f"**What is measured.** Key A (bursty) sends {r['burst']} POSTs from 50 connections at once; the pool")
print("allows 10 POST/s per token (one token). Two seconds in, key B (light) sends one POST. The gateway")
print("serves keys round robin, so B should wait about one slot, not behind A's whole queue.\n")
print("| | value |\n|---|---:|")
print(f"| A's burst | {r['burst']} writes, {r['a_ok']} answered 200, done in {r['a_seconds']:.1f} s |")
print(f"| B's write | status {r['b_status']}, answered in {r['b_seconds']*1000:.0f} ms (queue {r['b_queue_ms']} ms) |")
print(f"| B's wait / one slot ({slot*1000:.0f} ms) | **{r['b_seconds']/slot:.1f}×** |")
print(f"| B's wait / A's burst | **{r['b_seconds']/r['a_seconds']:.3f}×** |\n")
print("Reproduce: `bench/run fairness` (`BENCH_FAIRNESS_WRITES=1000` for the full 1,000-write burst, about 100 s).")
PY
cat bench/results/fairness.md
