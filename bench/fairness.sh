#!/usr/bin/env bash
# Fair share (issue 4): how long one key's single write waits behind another key's burst.
# Key A queues a burst of BENCH_FAIRNESS_WRITES (default 300) POSTs at Astro's 10/s; 2 s in, key B
# sends one POST. Fair round robin means B gets the next slot that opens (at most one window away),
# not the burst's tail; the audit log shows how many of A's writes went ahead of it (none).
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
# Dispatch order from the audit log: each outcome record has its time, the total and the queue
# wait, so send = arrival + queue wait. Count A's writes sent after B arrived and before B's own
# batch of grants (5 ms apart, to allow for the log's millisecond timestamps): round robin means
# none ahead of B's first queued write, and one of A's between B's own queued writes.
order=$("$BIN" audit query --config "$WORK/gw/gateway.yaml" --json | python3 -c '
import json, sys
from datetime import datetime
def t(s): return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
recs = [json.loads(l) for l in sys.stdin if l.strip()]
outs = [r for r in recs if r.get("phase") == "outcome" and r.get("queueMs") is not None]
def arrival(r): return t(r["ts"]) - r["totalMs"] / 1000
def sent(r): return arrival(r) + r["queueMs"] / 1000
ahead = []
for b in sorted([r for r in outs if r.get("keyName") == "light"], key=arrival):
    ahead.append(len([r for r in outs if r.get("keyName") == "bursty" and arrival(b) < sent(r) < sent(b) - 0.005]))
print(json.dumps({"a_sent_ahead_of_b": ahead}))')
result=$(python3 -c 'import json,sys; a=json.loads(sys.argv[1]); a.update(json.loads(sys.argv[2])); print(json.dumps(a))' "$result" "$order")
echo "$result" > bench/results/fairness-latest.txt
python3 - "$result" > bench/results/fairness.md <<'PY'
import json, sys
r = json.loads(sys.argv[1])
window = 1.01  # one POST window (1 s + the 10 ms margin): 10 slots open together at its start
print("## Fair share: a light key's write behind another key's burst\n")
print(f"**What is measured.** Key A (bursty) sends {r['burst']} POSTs from 50 connections at once; the pool")
print("allows 10 POST/s per token (one token). From two seconds in, key B (light) sends four single POSTs,")
print("a quarter window apart. The gateway")
print("serves keys round robin, so B should get the next slot that opens, not wait behind A's whole queue.")
print("The limiter lets 10 writes go together when a window opens (that is what keeps a burst at the")
print("ideal pace), so \"the next slot\" is up to one window away: B's wall-clock wait is between 0 and")
print("one window whatever the burst's length (it depends on where in a window B arrives). The dispatch")
print("order, from the audit log's outcome records (send time = arrival + queue wait), shows how many of A's")
print("writes went after B arrived and before it: none for B's first queued write; when B itself has several")
print("writes waiting for the same window, round robin interleaves them with A's (one of A's per B's).\n")
print("| | value |\n|---|---:|")
print(f"| A's burst | {r['burst']} writes, {r['a_ok']} answered 200, done in {r['a_seconds']:.1f} s |")
for b, ahead in zip(r["b"], r["a_sent_ahead_of_b"]):
    print(f"| B's write at {b['offset']:.2f} s | status {b['status']}, answered in {b['seconds']*1000:.0f} ms "
          f"({b['seconds']/window:.2f} window), A's writes sent ahead of it: **{ahead}** |")
waits = [b["seconds"] for b in r["b"]]
print(f"| B's mean wait / one window ({window*1000:.0f} ms) | **{sum(waits)/len(waits)/window:.2f}×** |")
print(f"| B's longest wait / A's burst | **{max(waits)/r['a_seconds']:.3f}×** |\n")
print("Reproduce: `bench/run fairness` (`BENCH_FAIRNESS_WRITES=1000` for the full 1,000-write burst, about 100 s).")
PY
cat bench/results/fairness.md
