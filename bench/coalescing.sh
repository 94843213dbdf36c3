#!/usr/bin/env bash
# Coalescing (issue 7): N identical concurrent GETs against a 200 ms upstream, through the gateway
# (coalescing on) and through nginx with proxy_cache + proxy_cache_lock. Reports upstream calls per
# wave and the latency of the caller that went upstream (leader) vs the ones that waited
# (followers). Loopback only, about 20 s. Writes bench/results/coalescing.md.
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"
cd "$BENCH_ROOT"
n="${BENCH_COALESCING_CLIENTS:-100}"
waves="${BENCH_COALESCING_WAVES:-3}"
bench_require nginx:nginx-light curl:curl
[ -x "$BENCH_BIN" ] || swift build -c release --product astro-gateway >/dev/null
bench_tmpdir
read -r up_port nginx_port gw_port admin_port <<<"$(bench_free_ports 4 | tr '\n' ' ')"
export COAL_ORG_TOKEN="coal-$(openssl rand -hex 16)" COAL_AUDIT_KEY="$(openssl rand -hex 32)"
python3 bench/coalescing/upstream.py "$up_port" &
bench_track $!
mkdir -p "$BENCH_TMP/nginx/logs" "$BENCH_TMP/nginx/cache"
cat >"$BENCH_TMP/nginx/nginx.conf" <<NGINX
worker_processes 2;
pid $BENCH_TMP/nginx/nginx.pid;
error_log $BENCH_TMP/nginx/logs/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  proxy_cache_path $BENCH_TMP/nginx/cache keys_zone=c:10m;
  server {
    listen 127.0.0.1:$nginx_port;
    location /v1/ {
      proxy_pass http://127.0.0.1:$up_port;
      proxy_cache c;
      proxy_cache_key \$request_uri;
      proxy_cache_lock on;
      proxy_cache_lock_timeout 5s;
      proxy_cache_valid 200 1s;
      add_header X-Cache-Status \$upstream_cache_status;
    }
  }
}
NGINX
nginx -c "$BENCH_TMP/nginx/nginx.conf" -p "$BENCH_TMP/nginx" -g 'daemon off;' &
bench_track $!
cat >"$BENCH_TMP/gateway.yaml" <<YAML
listen: { address: 127.0.0.1, port: $gw_port, threads: 2 }
admin: { address: 127.0.0.1, port: $admin_port }
upstream:
  baseURL: http://127.0.0.1:$up_port/v1
  pools: { default: { tokens: [ { id: org-main, env: COAL_ORG_TOKEN } ], limits: { GET: 1000, POST: 10, DELETE: 5 } } }
coalescing: { enabled: true }
keys: keys.yaml
policies: policies.yaml
audit: { directory: audit, hmacKey: { env: COAL_AUDIT_KEY } }
YAML
printf 'policies:\n  all:\n    allow:\n      - methods: [GET]\n' >"$BENCH_TMP/policies.yaml"
key=$(bench_gateway_key all)
bench_start_gateway "$admin_port"
bench_wait_http "http://127.0.0.1:$up_port/_count" || bench_die "upstream did not start"
bench_wait_http "http://127.0.0.1:$nginx_port/v1/x" || bench_die "nginx did not start"
count() { curl -s "http://127.0.0.1:$up_port/_count"; }
lines=()
for wave in $(seq "$waves"); do
  for system in gateway nginx; do
    port=$gw_port; [ $system = nginx ] && port=$nginx_port
    before=$(count)
    json=$(bash bench/coalescing/wave.sh "$port" "$n" "$key" "/v1/organizations/clorg1/deployments?wave=$wave")
    calls=$(( $(count) - before ))
    lines+=("$system $wave $calls $json")
    sleep 1.2   # let nginx's 1 s cache entry expire so every wave starts cold
  done
done
mkdir -p bench/results
printf '%s\n' "${lines[@]}" >bench/results/coalescing-latest.txt
# The gateway's own view: each GET's time from request line to answer, from its audit records.
"$BENCH_BIN" audit query --config "$BENCH_TMP/gateway.yaml" --json >"$BENCH_TMP/audit.jsonl"
python3 - "$n" bench/results/coalescing-latest.txt "$BENCH_TMP/audit.jsonl" >bench/results/coalescing.md <<'PY'
import json, sys
n = int(sys.argv[1])
rows = {"gateway": [], "nginx": []}
for line in open(sys.argv[2]):
    system, wave, calls, data = line.split(" ", 3)
    rows[system].append((int(calls), json.loads(data)))
def pct(values, q):
    v = sorted(values); return v[min(len(v) - 1, int(q * (len(v) - 1)))]
print("## Coalescing: identical concurrent GETs against a 200 ms upstream\n")
print(f"**What is measured.** {n} identical GETs at once (one wave, sent by `curl --parallel`), {len(rows['gateway'])} waves each, against an upstream")
print("that answers after 200 ms and counts calls. Gateway: coalescing on. nginx: `proxy_cache` with")
print("`proxy_cache_lock on` (1 s validity; waves are 1.2 s apart, so every wave starts cold).")
print("The leader is the request the proxy sent upstream (labelled `X-Gateway-Coalesced: leader` or")
print("`X-Cache-Status: MISS`); followers are the rest. Each latency runs from that request being sent")
print("to its first answer byte, so a follower sent after the leader can be faster than it.\n")
print("| | upstream calls per wave | leader ms | follower p50 ms | follower p99 ms | follower p99 − leader |")
print("|---|---:|---:|---:|---:|---:|")
summary = {}
for system in ("gateway", "nginx"):
    calls = [c for c, _ in rows[system]]
    leaders, followers = [], []
    for _, data in rows[system]:
        ok = [x for x in data if x["status"] == 200]
        # The leader is the request that went upstream, as the proxy labels it (gateway:
        # X-Gateway-Coalesced: leader; nginx: X-Cache-Status: MISS); the fastest answer only
        # when no label came back.
        lead = [x for x in ok if x["role"] in ("leader", "MISS")]
        leader = lead[0] if lead else min(ok, key=lambda x: x["ms"])
        leaders.append(leader["ms"]); followers += [x["ms"] for x in ok if x is not leader]
    lead = sum(leaders) / len(leaders)
    summary[system] = (lead, pct(followers, 0.5), pct(followers, 0.99))
    print(f"| {system} | {sum(calls)/len(calls):.1f} | {lead:.1f} | {pct(followers,0.5):.1f} | {pct(followers,0.99):.1f} | {pct(followers,0.99)-lead:+.1f} ms |")
g, ng = summary["gateway"], summary["nginx"]
print(f"\nIssue 7's target: follower latency within 5 ms of the leader's. Gateway follower p50 − leader:")
print(f"{g[1]-g[0]:+.1f} ms; p99 − leader: {g[2]-g[0]:+.1f} ms (nginx: {ng[1]-ng[0]:+.1f} / {ng[2]-ng[0]:+.1f} ms).")
print("nginx's lock releases followers by polling (every 500 ms by default), the gateway resumes them")
print("when the leader's answer arrives.\n")
# Gateway side: per wave (query wave=K), the leader's and the followers' time inside the gateway.
waves = {}
for line in open(sys.argv[3]):
    r = json.loads(line)
    target = r.get("target") or r.get("path") or ""
    if "wave=" not in target or r.get("status") != 200 or r.get("totalMs") is None:
        continue
    waves.setdefault(target, []).append((r.get("coalesced"), float(r["totalMs"])))
gaps = []
for records in waves.values():
    leader = [ms for role, ms in records if role == "leader"]
    followers = [ms for role, ms in records if role == "follower"]
    if leader and followers:
        gaps += [ms - leader[0] for ms in followers]
if gaps:
    print(f"Inside the gateway (audit records' `totalMs`, request line to answer): follower − leader p50")
    print(f"{pct(gaps, 0.5):+.1f} ms, p99 {pct(gaps, 0.99):+.1f} ms, over {len(gaps)} followers. The client-side figures")
    print("above also hold the client's own scheduling of 100 simultaneous connections.\n")
print("Reproduce: `bench/run coalescing`.")
PY
cat bench/results/coalescing.md
