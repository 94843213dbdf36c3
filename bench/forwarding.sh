#!/usr/bin/env bash
# Forwarding benchmark: the gateway vs nginx configured as a plain reverse proxy, both in front of
# the same fast upstream (a private nginx answering a fixed ~500-byte JSON body), same load (wrk),
# run alternately. Loopback only; bounded (about 1.5 minutes with the defaults).
#
# Writes bench/results/forwarding-latest.txt (raw) and bench/results/forwarding.md (the section
# that bench/run puts into docs/benchmarks.md). Expects a release build (bench/run makes one).
#
# Knobs (environment): BENCH_DURATION (s, default 10), BENCH_WARMUP (s, 2), BENCH_CONNECTIONS (50),
# BENCH_WRK_THREADS (2), BENCH_WORKERS (nginx workers = gateway listen.threads, 2), BENCH_ROUNDS (2),
# BENCH_MAX_CONNS_PER_HOST (gateway upstream.maxConnectionsPerHost, 64), BENCH_GATEWAY_BIN (another
# gateway build), BENCH_RESULTS (write results elsewhere, e.g. when trying an experimental build).
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"

DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-50}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
WORKERS=${BENCH_WORKERS:-2}
ROUNDS=${BENCH_ROUNDS:-2}
MAX_CONNS_PER_HOST=${BENCH_MAX_CONNS_PER_HOST:-64}
RESULTS="${BENCH_RESULTS:-$BENCH_ROOT/bench/results}"
PATH_UNDER_TEST=/v1/organizations/clorg1/deployments

bench_require nginx:nginx-light wrk:wrk curl:curl python3:python3
[ -x "$BENCH_BIN" ] || bench_die "no release build at $BENCH_BIN: run 'swift build -c release' (or bench/run)"
bench_tmpdir
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p "$RESULTS"
T=$BENCH_TMP
read -r UP_PORT PEER_PORT GW_PORT GWC_PORT < <(bench_free_ports 4 | paste -sd' ')

# Throwaway secrets for this run only; never written to the results.
RAND=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
TOKEN_PREFIX="bench-org-token-$RAND"
TOKEN_COUNT=8

# --- The upstream: answers the one route with a fixed body, and 401 unless the proxy injected a
# pool token and X-API-Version 1.0 (so a misconfigured proxy shows up as non-2xx in wrk).
BODY='{"deployments":[{"id":"cldep1","name":"bench-deployment-one","organizationId":"clorg1","workspaceId":"clws1","runtimeVersion":"12.1.0","status":"HEALTHY","type":"STANDARD","executor":"CELERY","region":"us-east-1","cloudProvider":"AWS","createdAt":"2025-01-02T03:04:05Z"},{"id":"cldep2","name":"bench-deployment-two","organizationId":"clorg1","workspaceId":"clws1","runtimeVersion":"12.1.0","status":"HEALTHY","type":"STANDARD","executor":"ASTRO","region":"us-east-1","cloudProvider":"AWS","createdAt":"2025-01-02T03:04:06Z"}],"limit":20,"offset":0,"totalCount":2}'
mkdir -p "$T/upstream" "$T/peer"
cat >"$T/upstream/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $T/upstream/nginx.pid;
error_log $T/upstream/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $T/upstream/tmp;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    map "\$http_authorization|\$http_x_api_version" \$bench_ok {
        "~^Bearer ${TOKEN_PREFIX}-[0-9]+\\|1\\.0\$" 1;
        default 0;
    }
    server {
        listen 127.0.0.1:$UP_PORT;
        location = $PATH_UNDER_TEST {
            default_type application/json;
            add_header X-Request-Id \$request_id;
            if (\$bench_ok = 0) { return 401 '{"statusCode":401,"message":"bad token or version","requestId":"x"}'; }
            return 200 '$BODY';
        }
        location / { return 404 '{"statusCode":404,"message":"not found","requestId":"x"}'; }
    }
}
CONF

# --- The peer: nginx as a plain reverse proxy doing the gateway's header work: pooled token in,
# client credentials out, version pinned, keep-alive upstream connections, a request id header.
cat >"$T/peer/nginx.conf" <<CONF
worker_processes $WORKERS;
daemon off;
pid $T/peer/nginx.pid;
error_log $T/peer/error.log warn;
events { worker_connections 4096; }
http {
    access_log $T/peer/access.log combined buffer=64k flush=1s;
    client_body_temp_path $T/peer/tmp;
    proxy_temp_path $T/peer/proxy-tmp;
    keepalive_requests 1000000;
    upstream astro {
        server 127.0.0.1:$UP_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$PEER_PORT;
        location /v1/ {
            proxy_pass http://astro;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "Bearer ${TOKEN_PREFIX}-1";
            proxy_set_header X-API-Version "1.0";
            proxy_set_header Cookie "";
            add_header X-Gateway-Request-Id \$request_id always;
        }
        location / { return 404; }
    }
}
CONF

# --- The gateway, release build, same upstream. Pacing limits are set to the maximum over
# TOKEN_COUNT tokens and coalescing is off, so the forwarding path is what is measured. Two
# instances: the default (the upstream is plain http at an IP, so the lanes' own client carries
# it) and one with `upstream.plainHTTPClient: libcurl` (the client that carries https:// Astro).
gateway_yaml() { # port client
    echo "listen: { address: 127.0.0.1, port: $1, threads: $WORKERS }"
    echo "admin: { enabled: false }"
    echo "upstream:"
    echo "  baseURL: http://127.0.0.1:$UP_PORT/v1"
    echo "  simulate: false"
    echo "  apiVersion: \"1.0\""
    echo "  maxConnectionsPerHost: $MAX_CONNS_PER_HOST"
    [ "$2" = builtin ] || echo "  plainHTTPClient: $2"
    echo "  pools:"
    echo "    default:"
    echo "      tokens:"
    for i in $(seq "$TOKEN_COUNT"); do echo "        - { id: bench-$i, env: BENCH_ASTRO_TOKEN_$i }"; done
    echo "      limits: { GET: 10000, POST: 10000, DELETE: 10000 }"
    echo "coalescing: { enabled: false }"
    echo "keys: keys.yaml"
    echo "policies: policies.yaml"
    echo "audit: { directory: audit, integrity: none }"
    echo "logging: { level: warning }"
}
mkdir -p "$T/gateway/audit" "$T/gateway-curl/audit"
gateway_yaml "$GW_PORT" builtin >"$T/gateway/gateway.yaml"
gateway_yaml "$GWC_PORT" libcurl >"$T/gateway-curl/gateway.yaml"
echo 'policies: { bench: { allow: [ { methods: [GET, POST, DELETE] } ] } }' >"$T/gateway/policies.yaml"
for i in $(seq "$TOKEN_COUNT"); do export "BENCH_ASTRO_TOKEN_$i=$TOKEN_PREFIX-$i"; done

KEY_MODE="any bearer (the gateway has no 'keys' command yet)"
CLIENT_KEY="bench-any-bearer-$RAND"
# `keys --help` exits 0 even without a keys command (the root help is printed), so look for its usage.
if "$BENCH_BIN" keys --help 2>&1 | grep -q 'USAGE: astro-gateway keys'; then
    CLIENT_KEY=$("$BENCH_BIN" keys create --config "$T/gateway/gateway.yaml" --name bench --policy bench --json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])')
    KEY_MODE="a local key from 'keys create' with an allow-everything policy"
fi
cp "$T/gateway/policies.yaml" "$T/gateway-curl/"
[ ! -f "$T/gateway/keys.yaml" ] || cp "$T/gateway/keys.yaml" "$T/gateway-curl/"

bench_log "starting upstream (:$UP_PORT), nginx peer (:$PEER_PORT), gateway (:$GW_PORT), gateway with libcurl (:$GWC_PORT)"
nginx -p "$T/upstream" -e "$T/upstream/error.log" -c "$T/upstream/nginx.conf" &
UP_PID=$!
bench_track $UP_PID
nginx -p "$T/peer" -e "$T/peer/error.log" -c "$T/peer/nginx.conf" &
PEER_PID=$!
bench_track $PEER_PID
"$BENCH_BIN" serve --config "$T/gateway/gateway.yaml" >"$T/gateway/stdout.log" 2>"$T/gateway/stderr.log" &
GW_PID=$!
bench_track $GW_PID
"$BENCH_BIN" serve --config "$T/gateway-curl/gateway.yaml" >"$T/gateway-curl/stdout.log" 2>"$T/gateway-curl/stderr.log" &
GWC_PID=$!
bench_track $GWC_PID
for url in "http://127.0.0.1:$UP_PORT/" "http://127.0.0.1:$PEER_PORT/" "http://127.0.0.1:$GW_PORT/" "http://127.0.0.1:$GWC_PORT/"; do
    bench_wait_http "$url" || { cat "$T"/*/error.log "$T/gateway/stderr.log" >&2 2>/dev/null; bench_die "$url did not come up"; }
done

# Both must answer the route with the upstream's exact body before anything is measured.
for target in "peer:$PEER_PORT" "gateway:$GW_PORT" "gateway-libcurl:$GWC_PORT"; do
    got=$(curl -s --max-time 5 -H "Authorization: Bearer $CLIENT_KEY" -D "$T/headers" \
        "http://127.0.0.1:${target#*:}$PATH_UNDER_TEST")
    [ "$got" = "$BODY" ] || bench_die "${target%%:*} did not return the upstream body: $(head -c 300 <<<"$got")"
    grep -qi '^X-Gateway-Request-Id:' "$T/headers" || bench_die "${target%%:*} sent no X-Gateway-Request-Id"
done

CLK_TCK=$(getconf CLK_TCK)
# name port server-pid header... -> raw wrk output appended to $T/raw; prints
# "rps p50ms p99ms non2xx socketErrors cpuMicrosecondsPerRequest" (CPU of the server under test).
run_wrk() {
    local name=$1 port=$2 pid=$3 out before after
    shift 3
    local args=(-t"$WRK_THREADS" -c"$CONNECTIONS") header
    for header in "$@"; do args+=(-H "$header"); done
    wrk "${args[@]}" -d"${WARMUP}s" "http://127.0.0.1:$port$PATH_UNDER_TEST" >/dev/null
    before=$(bench_cpu_ticks "$pid")
    read -r busy0 total0 < <(bench_machine_ticks)
    out=$(wrk "${args[@]}" -d"${DURATION}s" --latency "http://127.0.0.1:$port$PATH_UNDER_TEST")
    read -r busy1 total1 < <(bench_machine_ticks)
    after=$(bench_cpu_ticks "$pid")
    local busy
    busy=$(bench_calc "100 * ($busy1 - $busy0) / ($total1 - $total0 > 0 ? $total1 - $total0 : 1)" %.0f)
    {
        echo "### $name"; echo "$out"; echo "server CPU: $((after - before)) ticks of 1/$CLK_TCK s"
        echo "machine busy: $busy% of all CPUs"; echo
    } >>"$T/raw"
    read -r rps p50 p99 bad err requests < <(bench_parse_wrk <<<"$out")
    echo "$rps $p50 $p99 $bad $err $(bench_calc "($after - $before) * 1000000 / $CLK_TCK / ($requests > 0 ? $requests : 1)" %.1f) $busy"
}

: >"$T/raw"
bench_log "direct to the upstream (reference, ${DURATION}s)"
# The direct run carries what a proxy would inject, so the upstream answers 200.
read -r D_RPS D_P50 D_P99 D_BAD D_ERR D_CPU _ < <(run_wrk "upstream-direct" "$UP_PORT" "$UP_PID" \
    "Authorization: Bearer $TOKEN_PREFIX-1" "X-API-Version: 1.0")
declare -a P_RPS P_P50 P_P99 P_CPU P_BUSY G_RPS G_P50 G_P99 G_CPU G_BUSY C_RPS C_P50 C_P99 C_CPU
BAD=$((D_BAD + D_ERR))
for r in $(seq "$ROUNDS"); do
    bench_log "round $r/$ROUNDS: nginx peer (${DURATION}s)"
    read -r rps p50 p99 bad err cpu busy < <(run_wrk "nginx-peer round $r" "$PEER_PORT" "$PEER_PID" "Authorization: Bearer $CLIENT_KEY")
    P_RPS[r]=$rps P_P50[r]=$p50 P_P99[r]=$p99 P_CPU[r]=$cpu P_BUSY[r]=$busy BAD=$((BAD + bad + err))
    bench_log "round $r/$ROUNDS: gateway (${DURATION}s)"
    read -r rps p50 p99 bad err cpu busy < <(run_wrk "gateway round $r" "$GW_PORT" "$GW_PID" "Authorization: Bearer $CLIENT_KEY")
    G_RPS[r]=$rps G_P50[r]=$p50 G_P99[r]=$p99 G_CPU[r]=$cpu G_BUSY[r]=$busy BAD=$((BAD + bad + err))
    bench_log "round $r/$ROUNDS: gateway with libcurl (${DURATION}s)"
    read -r rps p50 p99 bad err cpu busy < <(run_wrk "gateway-libcurl round $r" "$GWC_PORT" "$GWC_PID" "Authorization: Bearer $CLIENT_KEY")
    C_RPS[r]=$rps C_P50[r]=$p50 C_P99[r]=$p99 C_CPU[r]=$cpu BAD=$((BAD + bad + err))
done

# --- Costs per request: counts, not times, so they do not depend on what else the machine runs.
# Needs perf with tracepoints (root); malloc and swift_retain counts also need uprobes. Skipped
# (and said so in the report) where perf cannot count.
COSTS_NOTE="not measured (perf with tracepoints not available here)"
declare -A COST
LIBC=$(ldd "$BENCH_BIN" | awk '$1 == "libc.so.6" { print $3 }')
SWIFTCORE=$(ldd "$BENCH_BIN" | awk '$1 == "libswiftCore.so" { print $3 }')
ADDED_PROBES=()
PROBE=""
add_probe() { # binary function -> sets PROBE to the event name, or "" (not in a subshell: it
    # records what it added, so that only those are removed afterwards)
    local lib=$1 fn=$2 group
    PROBE=""
    [ -n "$lib" ] || return 0
    group="probe_$(basename "$lib" | sed 's/\.so.*//; s/[^A-Za-z0-9_]/_/g')"
    if ! perf probe -l 2>/dev/null | grep -q "$group:$fn "; then
        perf probe -q -x "$lib" "$fn" >/dev/null 2>&1 || return 0
        ADDED_PROBES+=("$group:$fn")
    fi
    PROBE="$group:$fn"
}
if command -v perf >/dev/null && perf stat -e raw_syscalls:sys_enter -o /dev/null true 2>/dev/null; then
    EVENTS="raw_syscalls:sys_enter,context-switches"
    add_probe "$LIBC" malloc
    [ -n "$PROBE" ] && EVENTS+=",$PROBE"
    add_probe "$SWIFTCORE" swift_retain
    [ -n "$PROBE" ] && EVENTS+=",$PROBE"
    for who in nginx gateway; do
        if [ $who = nginx ]; then port=$PEER_PORT pids="$PEER_PID,$(pgrep -d, -P "$PEER_PID")"; else port=$GW_PORT pids=$GW_PID; fi
        perf stat -x, -e "$EVENTS" -p "$pids" -o "$T/costs.$who" -- \
            wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d5s -H "Authorization: Bearer $CLIENT_KEY" \
            "http://127.0.0.1:$port$PATH_UNDER_TEST" >"$T/costs-wrk.$who"
        requests=$(grep -oE '[0-9]+ requests in' "$T/costs-wrk.$who" | grep -oE '^[0-9]+')
        while IFS=, read -r value _ event _; do
            case "$value" in '' | *[!0-9.]*) continue ;; esac
            case "$event" in
            raw_syscalls:sys_enter) key=syscalls ;; context-switches) key=switches ;;
            *:malloc) key=malloc ;; *:swift_retain) key=retain ;; *) continue ;;
            esac
            COST[$who.$key]=$(bench_calc "$value / ($requests > 0 ? $requests : 1)" %.1f)
        done <"$T/costs.$who"
    done
    for probe in "${ADDED_PROBES[@]+"${ADDED_PROBES[@]}"}"; do perf probe -q -d "$probe" >/dev/null 2>&1 || true; done
    COSTS_NOTE="measured"
fi
cost() { echo "${COST[$1]:-n/a}"; }

kill -0 "$GW_PID" 2>/dev/null || bench_die "the gateway exited during the run: $(tail -5 "$T/gateway/stderr.log")"
kill -0 "$GWC_PID" 2>/dev/null || bench_die "the libcurl gateway exited during the run: $(tail -5 "$T/gateway-curl/stderr.log")"
GW_RSS_KB=$(awk '/^VmHWM/ { print $2 }' "/proc/$GW_PID/status")
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

mean() { local s=0 v; for v in "$@"; do s=$(bench_calc "$s + $v" %.6f); done; bench_calc "$s / $#" "${MEAN_FMT:-%.3f}"; }
PM_RPS=$(MEAN_FMT=%.0f mean "${P_RPS[@]}") GM_RPS=$(MEAN_FMT=%.0f mean "${G_RPS[@]}")
PM_P50=$(mean "${P_P50[@]}") GM_P50=$(mean "${G_P50[@]}")
PM_P99=$(mean "${P_P99[@]}") GM_P99=$(mean "${G_P99[@]}")
PM_CPU=$(MEAN_FMT=%.1f mean "${P_CPU[@]}") GM_CPU=$(MEAN_FMT=%.1f mean "${G_CPU[@]}")
CM_RPS=$(MEAN_FMT=%.0f mean "${C_RPS[@]}") CM_P50=$(mean "${C_P50[@]}") CM_P99=$(mean "${C_P99[@]}")
CM_CPU=$(MEAN_FMT=%.1f mean "${C_CPU[@]}")
C_RATIO_RPS=$(bench_calc "$CM_RPS / $PM_RPS") C_DIFF_P99=$(bench_calc "$CM_P99 - $PM_P99" %+.2f)
C_DIFF_P50=$(bench_calc "$CM_P50 - $PM_P50" %+.2f) C_RATIO_CPU=$(bench_calc "$CM_CPU / $PM_CPU")
RATIO_CPU=$(bench_calc "$GM_CPU / $PM_CPU")
RATIO_RPS=$(bench_calc "$GM_RPS / $PM_RPS")
DIFF_P99=$(bench_calc "$GM_P99 - $PM_P99" %+.2f)
DIFF_P50=$(bench_calc "$GM_P50 - $PM_P50" %+.2f)
MEETS_RPS=$(bench_calc "$RATIO_RPS >= 0.5 ? 1 : 0" %d)
MEETS_P99=$(bench_calc "$DIFF_P99 <= 2 ? 1 : 0" %d)
verdict() { [ "$1" = 1 ] && echo "met" || echo "NOT met"; }

FACTS=$(bench_machine_facts)
FACTS+=$'\n'"load average at start: $LOAD_START; at end: $LOAD_END"
PEER_CMD="nginx -p \$T/peer -e \$T/peer/error.log -c \$T/peer/nginx.conf   # worker_processes $WORKERS"
GW_CMD="BENCH_ASTRO_TOKEN_1..$TOKEN_COUNT=<throwaway> .build/release/astro-gateway serve --config \$T/gateway/gateway.yaml"
WRK_LINE="wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s --latency -H 'Authorization: Bearer \$KEY' http://127.0.0.1:\$PORT$PATH_UNDER_TEST"

# --- Raw results (small, committed).
{
    echo "# forwarding benchmark, raw results (bench/forwarding.sh)"
    echo "$FACTS"
    echo "settings: duration ${DURATION}s, warm-up ${WARMUP}s, $CONNECTIONS connections, wrk $WRK_THREADS threads," \
        "nginx peer worker_processes $WORKERS, gateway listen.threads $WORKERS, upstream nginx worker_processes 1," \
        "gateway upstream.maxConnectionsPerHost $MAX_CONNS_PER_HOST, rounds $ROUNDS, client auth: $KEY_MODE"
    echo "gateway peak RSS: $((GW_RSS_KB / 1024)) MiB"
    echo "errors (non-2xx + socket errors, all runs): $BAD"
    echo
    printf '%-22s %10s %9s %9s %12s\n' run "req/s" "p50 ms" "p99 ms" "CPU us/req"
    printf '%-22s %10s %9s %9s %12s\n' "upstream direct" "$D_RPS" "$D_P50" "$D_P99" "$D_CPU"
    for r in $(seq "$ROUNDS"); do
        printf '%-22s %10s %9s %9s %12s\n' "nginx peer round $r" "${P_RPS[r]}" "${P_P50[r]}" "${P_P99[r]}" "${P_CPU[r]}"
        printf '%-22s %10s %9s %9s %12s\n' "gateway round $r" "${G_RPS[r]}" "${G_P50[r]}" "${G_P99[r]}" "${G_CPU[r]}"
        printf '%-22s %10s %9s %9s %12s\n' "gw libcurl round $r" "${C_RPS[r]}" "${C_P50[r]}" "${C_P99[r]}" "${C_CPU[r]}"
    done
    echo "ratio gateway/nginx req/s (means): $RATIO_RPS; p99 difference: $DIFF_P99 ms; p50 difference: $DIFF_P50 ms;" \
        "CPU per request: ${RATIO_CPU}x"
    echo "with upstream.plainHTTPClient: libcurl: ratio $C_RATIO_RPS; p99 difference: $C_DIFF_P99 ms; CPU per request: ${C_RATIO_CPU}x"
    echo "per request (costs $COSTS_NOTE): syscalls nginx $(cost nginx.syscalls) gateway $(cost gateway.syscalls);" \
        "context switches nginx $(cost nginx.switches) gateway $(cost gateway.switches);" \
        "malloc calls nginx $(cost nginx.malloc) gateway $(cost gateway.malloc); swift_retain gateway $(cost gateway.retain)"
    echo
    echo "# wrk output (with --latency)"
    sed "s/$CLIENT_KEY/\$KEY/g" "$T/raw"
} >"$RESULTS/forwarding-latest.txt"

# --- The docs/benchmarks.md section.
{
    cat <<MD
## Forwarding: gateway vs nginx reverse proxy

**What is measured.** Requests per second and latency of \`GET $PATH_UNDER_TEST\` through
(a) the gateway and (b) nginx configured as a plain reverse proxy doing the same header work
(\`Authorization: Bearer <pool token>\` set, \`X-API-Version: 1.0\` set, \`Cookie\` dropped,
keep-alive upstream connections, a request-id response header). Both sit in front of the same fast
upstream: a private nginx (1 worker, access log off) answering that route with a fixed
${#BODY}-byte JSON body, and 401 unless the proxy injected a pool token and the pinned version, so a
misbehaving proxy shows up as errors. Load: wrk, $CONNECTIONS connections, $WRK_THREADS threads,
${DURATION} s per run after a ${WARMUP} s warm-up, nginx and gateway alternately ($ROUNDS round(s) each),
all on 127.0.0.1.

**Fairness choices.** nginx gets \`worker_processes $WORKERS\`, the gateway \`listen.threads: $WORKERS\`
(that many threads, each running one libmicrohttpd daemon and its share of the upstream connections;
it also has an audit writer thread and the Swift concurrency pool). The upstream is plain \`http://\`
at 127.0.0.1, which the gateway's own HTTP/1.1 client carries by default (\`upstream.plainHTTPClient:
builtin\`), as nginx's own client does; \`https://\` Astro always goes through libcurl, so a second
gateway with \`plainHTTPClient: libcurl\` runs in the same rounds to show that client's cost (without
TLS, which both proxies would pay alike). Both keep client and upstream connections alive (nginx \`keepalive 64\`, per-connection request
limits lifted; gateway \`upstream.maxConnectionsPerHost: $MAX_CONNS_PER_HOST\`). nginx writes a buffered access
log; the gateway is configured to audit to a temp directory with \`integrity: none\`. Gateway features nginx does not
have are neutralised so forwarding is what is measured: coalescing is off and the pacing limits are
set to the maximum over $TOKEN_COUNT pool tokens. Client auth: $KEY_MODE.

**Result of one run** ($(date -u +%Y-%m-%d), means of $ROUNDS round(s) each; errors in all runs: $BAD):

| | req/s | p50 ms | p99 ms | server CPU µs/request |
|---|---:|---:|---:|---:|
| upstream direct (reference) | ${D_RPS%.*} | $D_P50 | $D_P99 | $D_CPU |
| nginx reverse proxy | $PM_RPS | $PM_P50 | $PM_P99 | $PM_CPU |
| astro-gateway | $GM_RPS | $GM_P50 | $GM_P99 | $GM_CPU |
| **gateway vs nginx** | **${RATIO_RPS}×** | **${DIFF_P50} ms** | **${DIFF_P99} ms** | **${RATIO_CPU}×** |
| astro-gateway, \`plainHTTPClient: libcurl\` | $CM_RPS | $CM_P50 | $CM_P99 | $CM_CPU |
| gateway with libcurl vs nginx | ${C_RATIO_RPS}× | ${C_DIFF_P50} ms | ${C_DIFF_P99} ms | ${C_RATIO_CPU}× |

Targets (issue 2): req/s ≥ 0.5× nginx's — **$(verdict "$MEETS_RPS")** (${RATIO_RPS}×); p99 within 2 ms of
nginx's — **$(verdict "$MEETS_P99")** (${DIFF_P99} ms). Per-round numbers and the full wrk output are in
[\`bench/results/forwarding-latest.txt\`](../bench/results/forwarding-latest.txt).

Absolute numbers on this machine mean little: it has $(nproc) cores shared with other work, and wrk,
nginx, the upstream and the gateway all compete for them (load average at start and end is in the
facts below). Only the ratios from one run, where both proxies saw the same conditions alternately,
count; compare ratios across runs, never raw req/s. The CPU column (user + system time of the
proxy's processes during the measured run, from \`/proc/<pid>/stat\`, divided by the requests wrk
completed) is the steadiest of the numbers under outside load: it is the cost of one forwarded request.
During the measured runs the machine was $(IFS=/; echo "${P_BUSY[*]}")% busy in the nginx rounds and $(IFS=/; echo "${G_BUSY[*]}")% in the
gateway rounds, all CPUs counted (\`/proc/stat\`): wrk, the upstream and the proxy share the cores, so a
proxy's requests/s here is bounded by its CPU per request.

**Costs per request** ($COSTS_NOTE; counted with \`perf stat\` over a separate 5 s wrk run
per proxy, same load; counts move far less with the machine's other load than times do, so they
are the numbers to track from run to run; context switches vary most):

| per forwarded request | nginx | astro-gateway |
|---|---:|---:|
| system calls | $(cost nginx.syscalls) | $(cost gateway.syscalls) |
| context switches | $(cost nginx.switches) | $(cost gateway.switches) |
| \`malloc\` calls | $(cost nginx.malloc) | $(cost gateway.malloc) |
| \`swift_retain\` calls | – | $(cost gateway.retain) |

**Machine facts.**

\`\`\`
$FACTS
\`\`\`

**Reproduce.** \`bench/run forwarding\` (or \`bench/forwarding.sh\` after \`swift build -c release\`).
It installs nginx-light and wrk if missing, writes the configs below into a temp directory \`\$T\`,
starts the three servers, checks both proxies return the upstream body, then runs:

\`\`\`
nginx -p \$T/upstream -e \$T/upstream/error.log -c \$T/upstream/nginx.conf   # worker_processes 1
$PEER_CMD
$GW_CMD
$WRK_LINE   # upstream, then nginx/gateway alternately, each after a ${WARMUP} s warm-up
\`\`\`

Gateway config used (\`\$T/gateway/gateway.yaml\`; ports are picked free per run; the libcurl
instance's differs only in its port and \`plainHTTPClient: libcurl\`):

\`\`\`yaml
$(sed -e "s/port: $GW_PORT/port: \$GW_PORT/" -e "s/:$UP_PORT/:\$UP_PORT/" "$T/gateway/gateway.yaml")
\`\`\`

nginx reverse-proxy config (\`\$T/peer/nginx.conf\`, token elided):

\`\`\`nginx
$(sed -e "s|$T|\$T|g" -e "s/$TOKEN_PREFIX/<pool-token>/g" -e "s/:$UP_PORT;/:\$UP_PORT;/" -e "s/:$PEER_PORT;/:\$PEER_PORT;/" "$T/peer/nginx.conf")
\`\`\`
MD
} >"$RESULTS/forwarding.md"

bench_log "nginx $PM_RPS req/s p99 $PM_P99 ms | gateway $GM_RPS req/s p99 $GM_P99 ms | ratio ${RATIO_RPS}x, p99 ${DIFF_P99} ms, CPU/request ${RATIO_CPU}x | with libcurl ${C_RATIO_RPS}x, p99 ${C_DIFF_P99} ms"
[ "$BAD" = 0 ] || bench_log "warning: $BAD errors during the runs (see bench/results/forwarding-latest.txt)"
