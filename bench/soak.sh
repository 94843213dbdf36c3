#!/usr/bin/env bash
# Bounded soak (issue 7): mixed traffic through the gateway in front of the built-in simulator,
# sampling the gateway's RSS and open file descriptors over time; fails when, after warm-up, RSS
# grows by more than BENCH_SOAK_RSS_SLACK_MIB (default 32) or descriptors by more than 64.
#   BENCH_SOAK_SECONDS (default 600; CI may use 60), loopback only, stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${BENCH_SOAK_SECONDS:-600}"
slack="${BENCH_SOAK_RSS_SLACK_MIB:-32}"
command -v wrk >/dev/null || { make -s deps; sudo=$([ "$(id -u)" = 0 ] || echo sudo); $sudo apt-get install -y -qq wrk >/dev/null; }
swift build -c release --product astro-gateway >/dev/null
bin=.build/release/astro-gateway
work=$(mktemp -d)
trap 'kill $(cat "$work/pid" "$work/simpid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
simport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
admin=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/gateway.yaml" <<YAML
listen: { address: 127.0.0.1, port: $port }
admin: { address: 127.0.0.1, port: $admin }
upstream:
  baseURL: http://127.0.0.1:$simport/v1
  maxConnectionsPerHost: 32
  pools: { default: { tokens: [ { id: org-main, env: SOAK_ORG_TOKEN } ], limits: { GET: 2000, POST: 500, DELETE: 500 } } }
queue: { maxWaitSeconds: 5 }
keys: keys.yaml
policies: policies.yaml
audit: { directory: audit, hmacKey: { env: SOAK_AUDIT_KEY }, segmentMaxBytes: 8388608, retainSegments: 4 }
YAML
printf 'policies:\n  all:\n    allow:\n      - methods: [GET, POST, DELETE]\n  reader:\n    allow:\n      - methods: [GET]\n' >"$work/policies.yaml"
export SOAK_ORG_TOKEN="soak-$(openssl rand -hex 16)" SOAK_AUDIT_KEY="$(openssl rand -hex 32)"
key=$("$bin" keys create --config "$work/gateway.yaml" --name soak --policy all --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
reader=$("$bin" keys create --config "$work/gateway.yaml" --name soak-reader --policy reader --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
# The simulator runs in its own process: its state grows with every create, and that is not
# the gateway's memory.
"$bin" simulate --port "$simport" --no-limits --token "org-main=$SOAK_ORG_TOKEN" >"$work/sim.log" 2>&1 &
echo $! >"$work/simpid"
"$bin" serve --config "$work/gateway.yaml" >"$work/serve.log" 2>&1 &
echo $! >"$work/pid"
pid=$(cat "$work/pid")
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$admin/healthz" >/dev/null && break; sleep 0.1; done
# Mixed traffic: reads (coalesced and not), writes, denials, 401s, 400s.
cat >"$work/mix.lua" <<LUA
local n = 0
request = function()
  n = n + 1
  local k = n % 10
  if k < 4 then return wrk.format("GET", "/v1/organizations/clorg1/deployments?offset=" .. (n % 50), {["Authorization"] = "Bearer $key"})
  elseif k < 6 then return wrk.format("GET", "/v1/organizations/clorg1/workspaces", {["Authorization"] = "Bearer $key"})
  elseif k == 6 then return wrk.format("POST", "/v1/organizations/clorg1/workspaces", {["Authorization"] = "Bearer $key", ["Content-Type"] = "application/json"}, '{"name":"s' .. n .. '","description":"d","cicdEnforcedDefault":false}')
  elseif k == 7 then return wrk.format("DELETE", "/v1/organizations/clorg1/workspaces/nope" .. n, {["Authorization"] = "Bearer $reader"})
  elseif k == 8 then return wrk.format("GET", "/v1/organizations", {["Authorization"] = "Bearer agw_nokey000000_x"})
  else return wrk.format("GET", "/v1/organizations/clorg1/%2e%2e/tokens", {["Authorization"] = "Bearer $key"}) end
end
LUA
wrk -t2 -c20 -d"${seconds}s" -s "$work/mix.lua" "http://127.0.0.1:$port" >"$work/wrk.txt" 2>&1 &
wrkpid=$!
samples="$work/samples.tsv"
echo -e "t\trss_kib\tfds" >"$samples"
start=$(date +%s)
while kill -0 $wrkpid 2>/dev/null; do
  t=$(( $(date +%s) - start ))
  rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  fds=$(ls /proc/$pid/fd | wc -l)
  echo -e "$t\t$rss\t$fds" >>"$samples"
  sleep $(( seconds >= 120 ? 10 : 2 ))
done
wait $wrkpid || true
mkdir -p bench/results
python3 - "$samples" "$slack" "$seconds" "$work/wrk.txt" <<'PY' | tee bench/results/soak-latest.txt
import sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n")[1:] if l]
rows = [(int(a), int(b), int(c)) for a, b, c in rows]
slack, seconds = int(sys.argv[2]), int(sys.argv[3])
warm = [r for r in rows if r[0] >= max(10, seconds // 5)] or rows
base_rss, base_fds = warm[0][1], warm[0][2]
peak_rss, peak_fds = max(r[1] for r in warm), max(r[2] for r in warm)
wrk = open(sys.argv[4]).read()
req = [l for l in wrk.splitlines() if "requests in" in l or "Requests/sec" in l or "Non-2xx" in l or "Socket errors" in l]
print(f"soak {seconds}s: samples {len(rows)}; after warm-up RSS {base_rss/1024:.1f} -> peak {peak_rss/1024:.1f} MiB (slack {slack} MiB), fds {base_fds} -> peak {peak_fds}")
for l in req: print("wrk:", l.strip())
for t, rss, fds in rows: print(f"{t}\t{rss/1024:.1f} MiB\t{fds} fds")
ok = peak_rss - base_rss <= slack * 1024 and peak_fds - base_fds <= 64
print("PASS" if ok else "FAIL: growth beyond the bound")
sys.exit(0 if ok else 1)
PY
status=${PIPESTATUS[0]}
{
  echo "## Soak: memory and descriptors under mixed traffic"
  echo
  echo "**What is measured.** \`bench/soak.sh\`: wrk (2 threads, 20 connections) sends a mix through the gateway"
  echo "for ${seconds}s: reads (some identical, coalesced), creates, denied deletes, 401s and 400s; the"
  echo "simulator runs in its own process. The gateway's RSS and open descriptors are sampled; after"
  echo "warm-up neither may grow beyond a small bound (RSS ${slack} MiB, 64 descriptors)."
  echo
  echo '```'
  head -4 bench/results/soak-latest.txt
  tail -1 bench/results/soak-latest.txt
  echo '```'
  echo
  echo "Reproduce: \`bench/run soak\` (10 minutes by default; \`BENCH_SOAK_SECONDS=60 bench/soak.sh\` for a short run)."
} > bench/results/soak.md
exit "${status:-0}"
