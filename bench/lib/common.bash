# Shared helpers for the bench/*.sh scripts. Sourced, never run. Loopback only; every process a
# script starts is recorded with `bench_track` and stopped by its pid in `bench_cleanup`.

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# BENCH_GATEWAY_BIN runs another build (e.g. an experiment) with the same harness.
BENCH_BIN="${BENCH_GATEWAY_BIN:-$BENCH_ROOT/.build/release/astro-gateway}"
BENCH_PIDS=()
BENCH_TMP=""

bench_log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
bench_die() { bench_log "error: $*"; exit 1; }

# Installs the Debian packages named (binary:package pairs) whose binary is missing.
bench_require() {
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    bench_log "installing: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
}

# A private scratch directory, removed (with every tracked process stopped) on exit.
bench_tmpdir() {
    BENCH_TMP=$(mktemp -d /tmp/agw-bench.XXXXXX)
    chmod 755 "$BENCH_TMP" # nginx workers may run as another user when started by root
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_track() { BENCH_PIDS+=("$1"); }

bench_cleanup() {
    local pid
    for pid in "${BENCH_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${BENCH_PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    [ -n "$BENCH_TMP" ] && rm -rf "$BENCH_TMP"
}

# Prints N free loopback TCP ports, one per line.
bench_free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
for s in socks: print(s.getsockname()[1])
PY
}

# Waits until URL answers (any HTTP status), at most 15 s.
bench_wait_http() {
    local url=$1 i
    for i in $(seq 150); do
        curl -s -o /dev/null --max-time 1 "$url" && return 0
        sleep 0.1
    done
    return 1
}

# Converts a wrk duration (e.g. 812.00us, 1.20ms, 1.05s) to milliseconds.
bench_to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n = n / 1000; else if (v ~ /ms$/) n = n; else if (v ~ /m$/) n = n * 60000; else if (v ~ /s$/) n = n * 1000
        printf "%.3f", n }'
}

# Reads wrk --latency output on stdin; prints "rps p50ms p99ms non2xx socketErrors requests".
bench_parse_wrk() {
    local out rps p50 p99 non2xx errors requests
    out=$(cat)
    requests=$(awk '/ requests in / { print $1 }' <<<"$out")
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
    p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")
    errors=$(awk '/Socket errors:/ { s = 0; for (i = 3; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) s += $i + 0; print s }' <<<"$out")
    echo "${rps:-0} $(bench_to_ms "${p50:-0}") $(bench_to_ms "${p99:-0}") ${non2xx:-0} ${errors:-0} ${requests:-0}"
}

# CPU time (user + system, in clock ticks) used so far by each pid given and its direct children
# (nginx workers), all threads included.
# Prints "busy total" jiffies of the whole machine (all CPUs) from /proc/stat: two readings give
# how busy the machine was in between (the load generator, the upstream and the proxy share it).
bench_machine_ticks() {
    awk '/^cpu / { total = 0; for (i = 2; i <= NF; i++) total += $i; print total - $5 - $6, total }' /proc/stat
}

bench_cpu_ticks() {
    local pid total=0 stat rest
    for pid in "$@" $(for p in "$@"; do pgrep -P "$p" || true; done); do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        rest=${stat##*) }
        total=$((total + $(awk '{ print $12 + $13 }' <<<"$rest")))
    done
    echo "$total"
}

# Floating-point arithmetic: bench_calc 'a / b' (awk syntax), printed with the given format.
bench_calc() { awk "BEGIN { printf \"${2:-%.2f}\", ($1) }"; }

# Machine facts, one "key: value" per line.
bench_machine_facts() {
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nproc: $(nproc)"
    echo "cpu: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "memory: $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "kernel: $(uname -sr)"
    echo "os: $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
    echo "nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //')"
    echo "wrk: $(wrk -v 2>&1 | head -1 | awk '{ print $1, $2, $3 }')"
    echo "swift: $(swift --version 2>/dev/null | head -1)"
    if [ -n "${BENCH_GATEWAY_BIN:-}" ]; then
        echo "gateway: $BENCH_GATEWAY_BIN"
    else
        echo "gateway: $(git -C "$BENCH_ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$BENCH_ROOT" diff --quiet HEAD -- Sources 2>/dev/null || echo ' (+ local changes)'), release build"
    fi
}

# Creates a key of POLICY for the gateway config in $BENCH_TMP/gateway.yaml (printed, never shown),
# starts `serve` on it, and waits for its admin port. Usage: key=$(bench_gateway_key POLICY);
# bench_start_gateway ADMIN_PORT
bench_gateway_key() {
    "$BENCH_BIN" keys create --config "$BENCH_TMP/gateway.yaml" --name bench --policy "$1" --json \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])'
}

bench_start_gateway() {
    "$BENCH_BIN" serve --config "$BENCH_TMP/gateway.yaml" >"$BENCH_TMP/serve.log" 2>&1 &
    bench_track $!
    bench_wait_http "http://127.0.0.1:$1/healthz" || bench_die "gateway did not start"
}
