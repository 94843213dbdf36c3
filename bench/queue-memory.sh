#!/usr/bin/env bash
# Memory of the gateway with 10,000 requests queued at once (a slow-POST burst): RSS idle, RSS
# while it holds them, and bytes per queued request. The simulator answers after 60 s, so nothing
# completes: the gateway grants 10 POST/s per token, whose calls then hang upstream, and every
# other request waits in its queue (the last would wait ~17 min; queue.maxWaitSeconds is 3600, so
# none is refused).
# Then the gateway is stopped: each queued request must be answered (503 "not sent" after the
# drain period), none silently dropped.
#
# Settings (environment): COUNT (10000). Bounded: about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-10000}
# The client holds COUNT sockets and so does the gateway; both inherit this limit.
ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < COUNT + 1000)); then
  echo "need at least $((COUNT + 1000)) open files (ulimit -Hn is $(ulimit -Hn))" >&2
  exit 1
fi

swift build -c release --product astro-gateway >/dev/null
source bench/pacing/lib.sh
bench_init queue-memory

start_simulator simulator --latency 60
dir="$WORK/gateway"
write_gateway_config "$dir" "$SIM_PORT" $((COUNT * 2)) 3600 $((COUNT + 2000))
echo "shutdown: { drainSeconds: 2 }" >>"$dir/gateway.yaml"
QUEUE_KEY=$(create_key "$dir" bulk)
export QUEUE_KEY
start_gateway "$dir"
sleep 1
idle_kib=$(rss_kib "$GW_PID")
idle_anon_kib=$(awk '/^RssAnon:/ { print $2 }' "/proc/$GW_PID/status")

started=$SECONDS
python3 bench/pacing/hold.py --port "$GW_PORT" --count "$COUNT" --timeout 240 >"$WORK/hold.out" 2>"$WORK/hold.err" &
HOLD_PID=$!
STARTED_PIDS+=("$HOLD_PID")
sent=$(wait_for_banner "$WORK/hold.out" '^SENT ' 180)

# The gateway holds them once their connections are open and their intents are in the audit log
# (a write's durable intent is recorded before it is queued).
held_kib=0
open_fds=0
intents=0
deadline=$((SECONDS + 30))
while ((SECONDS < deadline)); do
  open_fds=$(find "/proc/$GW_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
  rss=$(rss_kib "$GW_PID")
  ((rss > held_kib)) && held_kib=$rss
  intents=$("$BIN" audit query --config "$dir/gateway.yaml" --json | grep -c '"phase":"intent"' || true)
  ((intents >= COUNT)) && break
  sleep 0.5
done
# A few more samples once all are queued: the steady state while holding.
for _ in 1 2 3 4 5 6; do
  rss=$(rss_kib "$GW_PID")
  ((rss > held_kib)) && held_kib=$rss
  sleep 0.5
done
# Anonymous memory (heap, task stacks, libmicrohttpd's per-connection pools) vs mapped code.
anon_kib=$(awk '/^RssAnon:/ { print $2 }' "/proc/$GW_PID/status")
file_kib=$(awk '/^RssFile:/ { print $2 }' "/proc/$GW_PID/status")
hwm_kib=$(awk '/^VmHWM:/ { print $2 }' "/proc/$GW_PID/status")
threads=$(awk '/^Threads:/ { print $2 }' "/proc/$GW_PID/status")
kill -USR1 "$HOLD_PID"
snapshot=$(wait_for_banner "$WORK/hold.out" '^SNAPSHOT ' 10)
alive_while_holding=yes
kill -0 "$GW_PID" 2>/dev/null || alive_while_holding=no

stop_started=$SECONDS
stop_process "$GW_PID"
stop_seconds=$((SECONDS - stop_started))
wait "$HOLD_PID" || true
final=$(grep -m1 '^FINAL ' "$WORK/hold.out" || echo 'FINAL {}')
stop_process "$SIM_PID"
# The audit's view, and which requests a connection closed on without an answer (matched by body
# digest): queued ones, or ones already handed to the transport?
outcomes=$("$BIN" audit query --config "$dir/gateway.yaml" --json |
  FINAL="${final#FINAL }" python3 -c '
import json, os, sys
unanswered = set(json.loads(os.environ["FINAL"]).get("unanswered_digests", []))
statuses, granted, lost = {}, 0, {}
for line in sys.stdin:
    r = json.loads(line)
    if r["phase"] == "outcome":
        statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
        granted += r["tokenId"] is not None
        if r["bodySha256"] in unanswered:
            kind = ("granted" if r["tokenId"] is not None else "queued") + ", audited " + str(r["status"])
            lost[kind] = lost.get(kind, 0) + 1
print(json.dumps({"statuses": dict(sorted(statuses.items())), "granted": granted, "unanswered": lost}))')

mkdir -p bench/results
{
  echo "# queue memory: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(swift --version 2>&1 | head -1)"
  echo "command: COUNT=$COUNT bench/queue-memory.sh"
  COUNT=$COUNT IDLE=$idle_kib HELD=$held_kib HWM=$hwm_kib FDS=$open_fds INTENTS=$intents THREADS=$threads \
    IDLE_ANON=$idle_anon_kib ANON=$anon_kib FILE=$file_kib SENT="${sent#SENT }" SNAPSHOT="${snapshot#SNAPSHOT }" FINAL="${final#FINAL }" OUTCOMES="$outcomes" \
    ALIVE=$alive_while_holding STOP=$stop_seconds ELAPSED=$((stop_started - started)) python3 - <<'EOF'
import json, os
e = os.environ
count, idle, held, hwm = int(e["COUNT"]), int(e["IDLE"]), int(e["HELD"]), int(e["HWM"])
sent, snap, final, outcomes = (json.loads(e[k]) for k in ("SENT", "SNAPSHOT", "FINAL", "OUTCOMES"))
per_request = (held - idle) * 1024 / count
all_answered = final.get("answered") == count and not final.get("closed_without_answer") and not snap["answered"]
verdict = ("every request was answered only at the stop, none dropped" if all_answered
           else "NOT every request was answered cleanly (see the table)")
idle_anon, anon, file_ = int(e["IDLE_ANON"]), int(e["ANON"]), int(e["FILE"])
lines = [
    f"requests sent: {count} on {count} connections in {sent['seconds']} s (connect errors: {sent['connect_errors']})",
    f"gateway while holding: {e['FDS']} open fds, {e['INTENTS']} write intents audited, {e['THREADS']} threads, "
    f"process alive: {e['ALIVE']}",
    f"answers before stop: {snap['answered']} {snap['statuses']} (expected 0: nothing can finish yet)",
    f"RSS idle: {idle / 1024:.1f} MiB; holding {count}: {held / 1024:.1f} MiB (peak VmHWM {hwm / 1024:.1f} MiB, "
    f"target <= 300 MiB: {'met' if hwm / 1024 <= 300 else 'MISSED'})",
    f"memory per queued request: {per_request:.0f} bytes ((RSS holding - RSS idle) / {count})",
    f"RSS by kind: anonymous {idle_anon / 1024:.1f} MiB idle -> {anon / 1024:.1f} MiB holding "
    f"({(anon - idle_anon) * 1024 / count:.0f} bytes per request); file-backed (code) {file_ / 1024:.1f} MiB",
    f"after SIGTERM (drain 2 s, stopped in {e['STOP']} s): client got {final.get('answered')} answers "
    f"{final.get('statuses')}, closed without answer: {final.get('closed_without_answer')}, "
    f"unanswered at timeout: {final.get('unanswered_at_timeout')}, errors: {final.get('errors')}",
    f"audit outcomes by status: {outcomes['statuses']}; granted a slot (handed to the transport, hanging "
    f"upstream) before the stop: {outcomes['granted']}, still queued at the stop: {count - outcomes['granted']}; "
    f"connections closed without an answer, by audit record: {outcomes['unanswered'] or 'none'}",
]
print("\n".join(lines))
md = f"""## Memory: {count:,} requests queued at once

`bench/queue-memory.sh`: the gateway in front of the simulator with 60 s latency, so nothing completes:
the gateway grants 10 POST/s (one token), those calls hang upstream, and all the others wait in its queue
(`queue.maxWaitSeconds: 3600`, `maxDepth: {count * 2}`, `listen.connectionLimit: {count + 2000}`). {count:,}
concurrent connections (Python asyncio), one POST each, all sent in {sent['seconds']} s. RSS from
`/proc/PID/status`. At the stop (SIGTERM, 2 s drain) {outcomes['granted']} had been granted a slot and handed to the transport (they hang upstream) and
{count - outcomes['granted']:,} were still queued; {verdict}.

| | value |
|---|---|
| RSS idle | {idle / 1024:.1f} MiB |
| RSS holding {count:,} requests | {held / 1024:.1f} MiB (peak {hwm / 1024:.1f} MiB; target ≤ 300 MiB) |
| memory per queued request | {per_request / 1024:.1f} KiB ({per_request:.0f} bytes) |
| anonymous memory (heap, tasks, connection pools) | {idle_anon / 1024:.1f} MiB idle → {anon / 1024:.1f} MiB holding ({(anon - idle_anon) * 1024 / count:.0f} bytes per request) |
| answers before stop (must be 0) | {snap['answered']} |
| connect errors | {sent['connect_errors']} |
| after stop: answered / closed without answer | {final.get('answered')} (status {', '.join(f"{k}×{v}" for k, v in final.get('statuses', {}).items())}) / {final.get('closed_without_answer')} |
| connections closed without an answer, by their audit record | {', '.join(f"{k}: {v}" for k, v in outcomes['unanswered'].items()) or 'none'} |
"""
with open("bench/results/queue-memory.md", "w") as f:
    f.write(md)
EOF
} | tee bench/results/queue-memory-latest.txt
