#!/usr/bin/env python3
"""Helpers for bench/pacing.sh.

  report.py audit            < audit-query JSON lines   → one JSON summary of the outcome records
  report.py merge SETUP LAT REP CLIENT.json [AUDIT.json] → one run record (JSON line)
  report.py summarize RUNS.jsonl MARKDOWN_OUT            → the text report (stdout) and a markdown section

The ideal completion time is set by the limit alone: Astro admits at most L writes per token in
any one-second window, so N writes need at least ceil(N / L) - 1 seconds between the first batch
and the last, plus the last write's own round trip (the simulator's added latency).
"""

import json
import math
import statistics
import sys

POST_LIMIT = 10


def audit_summary(lines):
    outcomes, upstream429s, statuses, queue = 0, 0, {}, []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        record = json.loads(line)
        if record.get("phase") != "outcome":
            continue
        outcomes += 1
        upstream429s += record.get("upstream429s") or 0
        status = str(record.get("status"))
        statuses[status] = statuses.get(status, 0) + 1
        if record.get("queueMs") is not None:
            queue.append(record["queueMs"])
    return {
        "outcomes": outcomes,
        "upstream_429s": upstream429s,
        "statuses": statuses,
        "queue_ms_max": round(max(queue), 1) if queue else None,
    }


def ideal_seconds(writes, latency):
    return (math.ceil(writes / POST_LIMIT) - 1) + latency


def merge(setup, latency, rep, client_path, audit_path=None):
    with open(client_path) as f:
        run = json.load(f)
    run.update({"setup": setup, "latency_s": float(latency), "rep": int(rep)})
    run["ideal_s"] = round(ideal_seconds(run["writes"], run["latency_s"]), 3)
    if audit_path:
        with open(audit_path) as f:
            run["audit"] = json.load(f)
        run["upstream_429s"] = run["audit"]["upstream_429s"]
    else:
        # Direct clients talk to Astro itself: every 429 they see is an upstream 429.
        run["upstream_429s"] = run["client_429s"]
    return run


def fmt_statuses(statuses):
    return " ".join(f"{k}×{v}" for k, v in sorted(statuses.items()))


def summarize(runs_path, markdown_path):
    runs = [json.loads(line) for line in open(runs_path) if line.strip()]
    out = []
    out.append("per run:")
    out.append(f"  {'setup':8} {'lat s':>5} {'rep':>3} {'writes':>6} {'done s':>7} {'ideal s':>7} "
               f"{'/ideal':>6} {'client 429s':>11} {'upstream 429s':>13} {'p50 s':>6} {'max s':>6}  statuses")
    for r in runs:
        out.append(
            f"  {r['setup']:8} {r['latency_s']:5.2f} {r['rep']:3d} {r['writes']:6d} {r['completion_s']:7.3f} "
            f"{r['ideal_s']:7.3f} {r['completion_s'] / r['ideal_s']:6.3f} {r['client_429s']:11d} "
            f"{r['upstream_429s']:13d} {r['latency_p50_s']:6.3f} {r['latency_max_s']:6.3f}  "
            f"{fmt_statuses(r['statuses'])}"
            + (f"  errors: {len(r['errors'])}" if r["errors"] else "")
            + (f"  audit outcomes: {r['audit']['outcomes']} ({fmt_statuses(r['audit']['statuses'])}),"
               f" max queue {r['audit']['queue_ms_max']} ms" if "audit" in r else ""))

    rows = []
    shapes = sorted({(r["clients"], r["writes"], r["latency_s"]) for r in runs})
    for clients, writes, latency in shapes:
        def pick(setup):
            return [r for r in runs if r["setup"] == setup and r["clients"] == clients
                    and r["writes"] == writes and r["latency_s"] == latency]
        direct, gateway = pick("direct"), pick("gateway")
        if not direct or not gateway:
            continue

        def med(rs, field):
            return statistics.median(r[field] for r in rs)

        def mean(rs, field):
            return sum(r[field] for r in rs) / len(rs)

        def non200(rs):
            return sum(sum(v for k, v in r["statuses"].items() if k != "200") + len(r["errors"]) for r in rs)

        rows.append({
            "latency": latency, "reps": min(len(direct), len(gateway)), "writes": writes, "clients": clients,
            "ideal": gateway[0]["ideal_s"], "direct": med(direct, "completion_s"), "gateway": med(gateway, "completion_s"),
            "direct_max": med(direct, "latency_max_s"), "gateway_max": med(gateway, "latency_max_s"),
            "direct_429_client": mean(direct, "client_429s"), "gateway_429_client": mean(gateway, "client_429s"),
            "gateway_429_upstream": mean(gateway, "upstream_429s"),
            "direct_non200": non200(direct), "gateway_non200": non200(gateway),
        })

    out.append("")
    out.append("medians per shape and simulator latency (completion of the whole burst):")
    for x in rows:
        out.append(
            f"  {x['writes']} writes from {x['clients']} clients, latency {x['latency']:.2f} s, {x['reps']} reps: "
            f"ideal {x['ideal']:.3f} s | direct {x['direct']:.3f} s ({x['direct'] / x['ideal']:.3f}× ideal), "
            f"{x['direct_429_client']:.1f} 429s per run, slowest write {x['direct_max']:.2f} s | gateway {x['gateway']:.3f} s "
            f"({x['gateway'] / x['ideal']:.3f}× ideal, {x['gateway'] / x['direct']:.3f}× direct), "
            f"client-visible 429s {x['gateway_429_client']:.1f}, upstream 429s {x['gateway_429_upstream']:.1f} per run, "
            f"slowest write {x['gateway_max']:.2f} s | non-200 answers: direct {x['direct_non200']}, gateway {x['gateway_non200']}")
    print("\n".join(out))

    md = []
    md.append("## Pacing: Astro's recommended retry client, direct vs through the gateway")
    md.append("")
    md.append(
        "`bench/pacing.sh`: several clients, each a `requests.Session` with the retry Astro's docs recommend "
        "(`urllib3.Retry(total=10, status_forcelist=[429], backoff_factor=1, allowed_methods=None, "
        "respect_retry_after_header=True)`), send their creates one after another, all starting together. "
        "**Direct**: the clients use the org token against the built-in simulator (POST 10/s per token, "
        "429 with `Retry-After` past it). **Gateway**: the clients use one local key each against the gateway, "
        "in front of an identical fresh simulator. Ideal = ceil(N/10) − 1 s + the simulator's latency "
        "(the least time the limit allows). Upstream 429s through the gateway come from the audit log "
        "(`upstream429s`); direct, every 429 a client sees is an upstream 429. Medians of the repetitions; "
        "\"slowest write\" is the longest single create as its client saw it.")
    md.append("")
    md.append("| writes (clients) | simulator latency | ideal | direct | gateway | gateway / direct | gateway / ideal "
              "| 429s seen by clients: direct / gateway | upstream 429s via gateway | slowest write: direct / gateway |")
    md.append("|---|---|---|---|---|---|---|---|---|---|")
    for x in rows:
        md.append(
            f"| {x['writes']} ({x['clients']}) | {x['latency'] * 1000:.0f} ms | {x['ideal']:.2f} s | {x['direct']:.2f} s "
            f"| {x['gateway']:.2f} s | {x['gateway'] / x['direct']:.3f}× | {x['gateway'] / x['ideal']:.3f}× "
            f"| {x['direct_429_client']:.0f} / {x['gateway_429_client']:.0f} | {x['gateway_429_upstream']:.0f} "
            f"| {x['direct_max']:.2f} s / {x['gateway_max']:.2f} s |")
    md.append("")
    md.append(
        "By construction the gateway's limiter spaces each token's windows by 1 s plus a safety margin "
        "(`upstream.windowMarginSeconds`, 10 ms by default, widened by 50 ms per upstream 429 up to a 1.25 s "
        "window), so a long burst through it takes at least 1.01× the ideal; the rest of the gap is scheduling. The "
        "simulator's limit is an exact sliding second and its `Retry-After` is whole seconds, so with no "
        "latency the recommended client's retries land just as the window frees. An upstream 429 through the "
        "gateway is never shown to the client: the request is re-queued at the front and the token's class "
        "paused for `Retry-After`, which costs about a second of completion time.")
    with open(markdown_path, "w") as f:
        f.write("\n".join(md) + "\n")


def main():
    if sys.argv[1] == "audit":
        json.dump(audit_summary(sys.stdin), sys.stdout)
        print()
    elif sys.argv[1] == "merge":
        print(json.dumps(merge(*sys.argv[2:])))
    elif sys.argv[1] == "summarize":
        summarize(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown mode {sys.argv[1]}")


if __name__ == "__main__":
    main()
