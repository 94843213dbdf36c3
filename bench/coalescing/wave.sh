#!/usr/bin/env bash
# Fires N identical concurrent GETs (one wave) with curl's parallel mode (one event loop in C:
# the Python thread client this replaces added ~10 ms of GIL hand-offs to the later answers).
# Prints one JSON array: latency (ms, from the transfer's start), status, and role per request.
# usage: wave.sh PORT N KEY PATH
set -euo pipefail
port=$1 n=$2 key=$3 path=$4
cfg=$(mktemp)
trap 'rm -f "$cfg"' EXIT
for _ in $(seq "$n"); do
    printf 'url = "http://127.0.0.1:%s%s"\noutput = "/dev/null"\n' "$port" "$path"
done >"$cfg"
curl -s -Z --parallel-immediate --parallel-max "$n" -H "Authorization: Bearer $key" -K "$cfg" \
    -w '%{http_code} %{time_starttransfer} %{time_connect} %header{x-gateway-coalesced}%header{x-cache-status}\n' |
    python3 -c '
import json, sys
out = []
for line in sys.stdin:
    parts = line.split()
    if len(parts) < 3:
        continue
    status, first_byte, connect = int(parts[0]), float(parts[1]), float(parts[2])
    # From the request being written (after connect) to the first byte of the answer.
    out.append({"ms": (first_byte - connect) * 1000, "status": status, "role": parts[3] if len(parts) > 3 else "-"})
print(json.dumps(out))'
