#!/usr/bin/env bash
# Forwarding floor: how fast the gateway could forward if its own stages cost nothing.
#
# Runs bench/forwarding.sh twice, back to back, on the same machine: once with the gateway as
# built, once with a build of the same sources plus bench/floor/floor.patch, in which every
# request skips the gateway's stages (key, policy, pacing, coalescing, audit, metrics, request
# ids, header filtering) and goes straight from libmicrohttpd to the transport lane's client with
# a fixed pool token. That build exists only here (in .build-floor/, never installed): it shows
# what the parts the pipeline runs on cost by themselves, and so how far the stages can be made
# cheaper before the stack itself is the limit. About 4 minutes plus the patched build.
#
# Writes bench/results/floor.md (the section for docs/benchmarks.md) and floor-latest.txt.
# Knobs: those of bench/forwarding.sh (BENCH_DURATION, BENCH_ROUNDS, ...).
set -euo pipefail
source "$(dirname "$0")/lib/common.bash"

RESULTS="${BENCH_RESULTS:-$BENCH_ROOT/bench/results}"
PATCH="$BENCH_ROOT/bench/floor/floor.patch"
SOURCE="$BENCH_ROOT/.build-floor/package"

bench_require patch:patch
[ -x "$BENCH_BIN" ] || bench_die "no release build at $BENCH_BIN: run 'swift build -c release' (or bench/run)"
bench_tmpdir
mkdir -p "$RESULTS"

# --- The floor build: the working tree's package, patched, in a fixed place so reruns are
# incremental (cp -p keeps unchanged files' times; only the patched file is rebuilt).
bench_log "building the floor variant (bench/floor/floor.patch) in .build-floor/"
# Every directory Package.swift names (its bench and fuzz executables too), copied afresh.
rm -rf "$SOURCE"
mkdir -p "$SOURCE/bench"
cp -p "$BENCH_ROOT/Package.swift" "$SOURCE/"
cp -rp "$BENCH_ROOT/Sources" "$BENCH_ROOT/Tests" "$BENCH_ROOT/Fuzz" "$SOURCE/"
cp -rp "$BENCH_ROOT/bench/policy" "$BENCH_ROOT/bench/audit" "$BENCH_ROOT/bench/slots" "$SOURCE/bench/"
patch -s -p1 -d "$SOURCE" <"$PATCH" ||
    bench_die "bench/floor/floor.patch no longer applies to the sources: refresh it (see its hunk)"
swift build -c release --product astro-gateway --package-path "$SOURCE" \
    --scratch-path "$BENCH_ROOT/.build-floor/build" 2>&1 | tail -1 >&2
FLOOR_BIN="$BENCH_ROOT/.build-floor/build/release/astro-gateway"
[ -x "$FLOOR_BIN" ] || bench_die "the floor build failed"

bench_log "forwarding, the gateway as built"
BENCH_RESULTS="$BENCH_TMP/full" "$BENCH_ROOT/bench/forwarding.sh"
bench_log "forwarding, the floor build"
BENCH_RESULTS="$BENCH_TMP/floor" BENCH_GATEWAY_BIN="$FLOOR_BIN" "$BENCH_ROOT/bench/forwarding.sh"

# A row of a forwarding.md table, by its first cell: the cells after it, space-separated, without
# bold marks and units.
row() {
    sed -e 's/\*\*//g' -e 's/×//g' -e 's/ ms//g' "$1" | grep -F "| $2 |" | head -1 |
        awk -F'|' '{ for (i = 3; i < NF; i++) { gsub(/ /, "", $i); printf "%s ", $i } print "" }'
}
# A missing row leaves its values empty; the check below says so.
read -r F_RATIO F_P50D F_P99D F_CPUR < <(row "$BENCH_TMP/full/forwarding.md" "gateway vs nginx") || true
read -r _ _ _ F_NGINX_CPU < <(row "$BENCH_TMP/full/forwarding.md" "nginx reverse proxy") || true
read -r _ _ _ F_GW_CPU < <(row "$BENCH_TMP/full/forwarding.md" "astro-gateway") || true
read -r L_RATIO L_P50D L_P99D L_CPUR < <(row "$BENCH_TMP/floor/forwarding.md" "gateway vs nginx") || true
read -r _ _ _ L_NGINX_CPU < <(row "$BENCH_TMP/floor/forwarding.md" "nginx reverse proxy") || true
read -r _ _ _ L_GW_CPU < <(row "$BENCH_TMP/floor/forwarding.md" "astro-gateway") || true
read -r C_RATIO _ C_P99D C_CPUR < <(row "$BENCH_TMP/floor/forwarding.md" "gateway with libcurl vs nginx") || true
for value in "$F_RATIO" "$F_GW_CPU" "$L_RATIO" "$L_GW_CPU" "$C_RATIO"; do
    [ -n "$value" ] || bench_die "could not read the forwarding results"
done
STAGES=$(bench_calc "$F_GW_CPU - $L_GW_CPU" %.1f)

{
    echo "# floor.sh, $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "## the gateway as built"; cat "$BENCH_TMP/full/forwarding-latest.txt"
    echo "## the floor build"; cat "$BENCH_TMP/floor/forwarding-latest.txt"
} >"$RESULTS/floor-latest.txt"

cat >"$RESULTS/floor.md" <<MD
## Forwarding floor: the stack without the gateway's stages

**What is measured.** \`bench/forwarding.sh\` twice, back to back: the gateway as built, then a
build of the same sources with \`bench/floor/floor.patch\`, in which a request skips every stage
(key, policy, pacing, coalescing, audit, metrics, request ids, header filtering) and goes straight
from libmicrohttpd through the transport lane's built-in client to the upstream with a fixed pool
token. That build is never installed; it shows what the parts the pipeline runs on cost by
themselves. Each ratio is to nginx measured in the same run.

| $(date -u +%Y-%m-%d) | req/s vs nginx | p99 vs nginx | CPU/request vs nginx | proxy CPU µs/request | nginx CPU µs/request |
|---|---:|---:|---:|---:|---:|
| gateway as built | ${F_RATIO}× | ${F_P99D} ms | ${F_CPUR}× | ${F_GW_CPU} | ${F_NGINX_CPU} |
| floor: libmicrohttpd + lanes + built-in client | ${L_RATIO}× | ${L_P99D} ms | ${L_CPUR}× | ${L_GW_CPU} | ${L_NGINX_CPU} |
| floor with libcurl as the client | ${C_RATIO}× | ${C_P99D} ms | ${C_CPUR}× | | |

The stages cost about **${STAGES} µs** of CPU per forwarded read here (as built minus floor).
Even with stages that cost nothing, forwarding would run at ${L_RATIO}× nginx's requests/s: the
floor's own CPU per request is ${L_CPUR}× nginx's. What the floor spends beyond nginx is listed
in docs/performance.md (libmicrohttpd's suspend/resume \`epoll_ctl\` pair and its extra read per
keep-alive request, the lane's poll, the Swift glue around each exchange).

Reproduce: \`bench/run floor\`. Raw output: [\`bench/results/floor-latest.txt\`](../bench/results/floor-latest.txt).
MD
bench_log "wrote $RESULTS/floor.md (as built ${F_RATIO}x, floor ${L_RATIO}x nginx's req/s)"
