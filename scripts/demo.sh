#!/usr/bin/env bash
# Starts the gateway on config/demo.yaml with the built-in Astro simulator and prints a demo key
# and curl lines to try. Demo secrets are random per run and live only in this process's env.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/debug/astro-gateway
mkdir -p var/demo
export ASTRO_API_TOKEN="${ASTRO_API_TOKEN:-demo-org-token-$(openssl rand -hex 16)}"
# The demo's audit HMAC key is kept in a file so `audit verify` works across runs.
[ -s var/demo/audit-hmac.key ] || (umask 077 && openssl rand -hex 32 > var/demo/audit-hmac.key)
DEMO_KEY="agw_demo_$(openssl rand -hex 24)"
if "$BIN" keys --help >/dev/null 2>&1; then
  DEMO_KEY=$("$BIN" keys create --config config/demo.yaml --name demo --policy demo-reader --expires 1d --json \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
fi
cat <<MSG

  Demo gateway on http://127.0.0.1:8080 (admin on http://127.0.0.1:9090), upstream: built-in simulator.
  Demo key (policy demo-reader, expires in 1 day): $DEMO_KEY

  Try:
    curl -s -H "Authorization: Bearer $DEMO_KEY" http://127.0.0.1:8080/v1/organizations
    curl -s -H "Authorization: Bearer $DEMO_KEY" http://127.0.0.1:8080/v1/organizations/clorg1/deployments
    curl -s -H "Authorization: Bearer $DEMO_KEY" http://127.0.0.1:8080/_gateway/whoami
    curl -s -X DELETE -H "Authorization: Bearer $DEMO_KEY" http://127.0.0.1:8080/v1/organizations/clorg1/deployments/cldep1
    curl -s http://127.0.0.1:9090/readyz
    curl -s http://127.0.0.1:9090/metrics | grep agw_requests_total

  Then: .build/debug/astro-gateway audit query --config config/demo.yaml --since 10m
        .build/debug/astro-gateway audit verify --config config/demo.yaml

  Ctrl-C stops it.

MSG
exec "$BIN" serve --config config/demo.yaml
