#!/usr/bin/env bash
# A burst of writes from several clients using the retry client Astro's docs recommend (Python
# requests + urllib3.Retry on 429), in one run: against the simulator directly (org token) and
# through the gateway (local keys) in front of an identical fresh simulator. Reports completion
# time against the ideal set by the limit, 429s seen by clients, and upstream 429s.
#
# Settings (environment): SHAPES ("5x20 20x5": clients x writes per client), LATENCIES ("0 0.05":
# the simulator's added latency per answer, in seconds; 50 ms stands in for a WAN round trip),
# REPS (1: repetitions of each direct/gateway pair; the report gives medians).
# Bounded: about 2 minutes with the defaults on 2 cores (each burst takes about 10 s).
set -euo pipefail
cd "$(dirname "$0")/.."
SHAPES=${SHAPES:-"5x20 20x5"}
REPS=${REPS:-1}
LATENCIES=${LATENCIES:-"0 0.05"}

swift build -c release --product astro-gateway >/dev/null
python3 -c 'import requests, urllib3' 2>/dev/null || python3 -m pip install --quiet requests
source bench/pacing/lib.sh
bench_init pacing
RUNS="$WORK/runs.jsonl"
: >"$RUNS"

repeat_csv() { # repeat_csv VALUE COUNT
  local out="$1" i
  for ((i = 1; i < $2; i++)); do out="$out,$1"; done
  echo "$out"
}

run_direct() { # run_direct LATENCY REP
  start_simulator "sim-direct-$CLIENTS-$1-$2" --latency "$1"
  PACING_CREDENTIALS=$(repeat_csv "$ASTRO_API_TOKEN" "$CLIENTS") \
    python3 bench/pacing/client.py --label "direct$2" --base "http://127.0.0.1:$SIM_PORT/v1" \
    --per-client "$PER_CLIENT" >"$WORK/direct-$CLIENTS-$1-$2.json"
  stop_process "$SIM_PID"
  python3 bench/pacing/report.py merge direct "$1" "$2" "$WORK/direct-$CLIENTS-$1-$2.json" >>"$RUNS"
}

run_gateway() { # run_gateway LATENCY REP
  local dir="$WORK/gateway-$CLIENTS-$1-$2" keys="" i
  start_simulator "sim-gateway-$CLIENTS-$1-$2" --latency "$1"
  write_gateway_config "$dir" "$SIM_PORT" 10000 120 12000
  for ((i = 1; i <= CLIENTS; i++)); do keys="$keys,$(create_key "$dir" "client$i")"; done
  start_gateway "$dir"
  PACING_CREDENTIALS=${keys#,} \
    python3 bench/pacing/client.py --label "gateway$2" --base "http://127.0.0.1:$GW_PORT/v1" \
    --per-client "$PER_CLIENT" >"$WORK/gateway-$CLIENTS-$1-$2.json"
  stop_process "$GW_PID"
  stop_process "$SIM_PID"
  "$BIN" audit query --config "$dir/gateway.yaml" --json | python3 bench/pacing/report.py audit >"$dir/audit.json"
  python3 bench/pacing/report.py merge gateway "$1" "$2" "$WORK/gateway-$CLIENTS-$1-$2.json" "$dir/audit.json" >>"$RUNS"
}

for shape in $SHAPES; do
  CLIENTS=${shape%x*}
  PER_CLIENT=${shape#*x}
  for latency in $LATENCIES; do
    for ((rep = 1; rep <= REPS; rep++)); do
      run_direct "$latency" "$rep"
      run_gateway "$latency" "$rep"
    done
  done
done

mkdir -p bench/results
{
  echo "# pacing: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(swift --version 2>&1 | head -1)"
  echo "# python $(python3 -c 'import platform, requests, urllib3; print(platform.python_version(), "requests", requests.__version__, "urllib3", urllib3.__version__)')"
  echo "command: SHAPES=\"$SHAPES\" LATENCIES=\"$LATENCIES\" REPS=$REPS bench/pacing.sh"
  python3 bench/pacing/report.py summarize "$RUNS" bench/results/pacing.md
} | tee bench/results/pacing-latest.txt
