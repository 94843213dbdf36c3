# Shared by bench/pacing.sh and bench/queue-memory.sh (sourced, run from the repository root):
# start the built-in Astro simulator and a gateway in front of it on free loopback ports, and stop
# them again. Every port is picked by the kernel (port 0) and read back from the process's banner:
# other sessions on this machine run gateways too, and libmicrohttpd binds with address reuse, so
# a fixed port could silently be shared with someone else's listener.
#
# Secrets (the org token, the audit HMAC key, local keys) travel in environment variables and
# files under $WORK only; nothing prints them and none appears in a command line.

BIN=.build/release/astro-gateway
STARTED_PIDS=()

bench_init() {
  WORK=$(mktemp -d "/tmp/agw-${1}.XXXXXX")
  ASTRO_API_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  GATEWAY_AUDIT_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  export ASTRO_API_TOKEN GATEWAY_AUDIT_KEY
  trap bench_cleanup EXIT
  # The simulator accepts the tokens of a config's pools (resolved from env), so the org token
  # never goes on its command line.
  cat >"$WORK/simulator.yaml" <<'EOF'
upstream:
  pools:
    default:
      tokens:
        - { id: org-main, env: ASTRO_API_TOKEN }
EOF
}

bench_cleanup() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${STARTED_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [[ -n "${KEEP_WORK:-}" ]] || rm -rf "$WORK"
}

# wait_for_banner LOG REGEX SECONDS: prints the first line of LOG matching REGEX, or fails.
wait_for_banner() {
  local log=$1 regex=$2 deadline=$((SECONDS + $3)) line
  while ((SECONDS < deadline)); do
    line=$(grep -m1 -E "$regex" "$log" 2>/dev/null || true)
    if [[ -n "$line" ]]; then
      echo "$line"
      return 0
    fi
    sleep 0.05
  done
  echo "no banner in $log after $3 s:" >&2
  cat "$log" >&2
  return 1
}

# start_simulator NAME [simulate options...]: sets SIM_PID and SIM_PORT.
start_simulator() {
  local name=$1
  shift
  stdbuf -oL "$BIN" simulate --config "$WORK/simulator.yaml" --port 0 "$@" >"$WORK/$name.log" 2>&1 &
  SIM_PID=$!
  STARTED_PIDS+=("$SIM_PID")
  SIM_PORT=$(wait_for_banner "$WORK/$name.log" 'listening on http://127.0.0.1:[0-9]+' 20 |
    sed -E 's#.*http://127.0.0.1:([0-9]+).*#\1#')
}

# write_gateway_config DIR SIM_PORT MAX_DEPTH MAX_WAIT_SECONDS CONNECTION_LIMIT
write_gateway_config() {
  local dir=$1
  mkdir -p "$dir"
  cat >"$dir/gateway.yaml" <<EOF
listen: { address: 127.0.0.1, port: 0, connectionLimit: $5 }
admin: { address: 127.0.0.1, port: 0 }
upstream:
  simulate: false
  baseURL: http://127.0.0.1:$2/v1
  timeoutSeconds: 120
${WINDOW_MARGIN:+  windowMarginSeconds: $WINDOW_MARGIN
}  pools:
    default:
      tokens:
        - { id: org-main, env: ASTRO_API_TOKEN }
      limits: { GET: 25, POST: 10, DELETE: 5 }
queue: { maxWaitSeconds: $4, maxDepth: $3 }
keys: keys.yaml
policies: policies.yaml
audit: { directory: audit, hmacKey: { env: GATEWAY_AUDIT_KEY } }
EOF
  cat >"$dir/policies.yaml" <<'EOF'
policies:
  all:
    allow:
      - methods: [GET, POST, DELETE]
EOF
}

# create_key DIR NAME: prints a new local key for policy `all` (into a variable, never a terminal).
create_key() {
  "$BIN" keys create --config "$1/gateway.yaml" --name "$2" --policy all --json |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])'
}

# start_gateway DIR: sets GW_PID, GW_PORT and ADMIN_PORT, and waits until /readyz says ready.
start_gateway() {
  local dir=$1 banner deadline
  "$BIN" serve --config "$dir/gateway.yaml" >"$dir/gateway.log" 2>&1 &
  GW_PID=$!
  STARTED_PIDS+=("$GW_PID")
  banner=$(wait_for_banner "$dir/gateway.log" 'admin on http://127.0.0.1:[0-9]+' 20)
  GW_PORT=$(sed -E 's#.*listening on http://127.0.0.1:([0-9]+).*#\1#' <<<"$banner")
  ADMIN_PORT=$(sed -E 's#.*admin on http://127.0.0.1:([0-9]+).*#\1#' <<<"$banner")
  deadline=$((SECONDS + 20))
  until curl -sf "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null; do
    ((SECONDS < deadline)) || {
      echo "gateway not ready" >&2
      return 1
    }
    sleep 0.05
  done
}

# stop_process PID: SIGTERM, then waits (the gateway drains and flushes its audit log).
stop_process() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# rss_kib PID: the resident set size from /proc (VmRSS, KiB).
rss_kib() {
  awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}
