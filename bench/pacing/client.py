#!/usr/bin/env python3
"""A burst of writes from several clients, each using the retry pattern Astro's docs recommend:
`requests` with `urllib3.Retry(status_forcelist=[429], backoff_factor=1)`, POST included, honouring
`Retry-After`. Prints one JSON object: completion time of the whole burst, the 429s the clients
saw (every retry the Retry object took on a 429), final statuses and per-request latencies.

Each client is a thread with its own `requests.Session` (its own connection pool), sending its
writes one after another, as a service doing a batch of creates would. All clients start together
on a barrier; the burst completes when the last response arrives.
"""

import argparse
import json
import os
import sys
import threading
import time

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

lock = threading.Lock()
seen_429 = 0


class CountingRetry(Retry):
    """The recommended Retry, counting each 429 it retries or gives up on (the clients' view)."""

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        global seen_429
        if response is not None and response.status == 429:
            with lock:
                seen_429 += 1
        return super().increment(method, url, response, error, _pool, _stacktrace)


def recommended_retry():
    # Astro's recommendation, with POST allowed (allowed_methods=None: retry every method) so the
    # writes themselves are retried; raise_on_status=False so a give-up shows as a final 429.
    return CountingRetry(
        total=10,
        status_forcelist=[429],
        backoff_factor=1,
        allowed_methods=None,
        respect_retry_after_header=True,
        raise_on_status=False,
    )


def main():
    ap = argparse.ArgumentParser(description="PACING_CREDENTIALS: comma-separated bearer credentials, one per client")
    ap.add_argument("--label", required=True)
    ap.add_argument("--base", required=True, help="e.g. http://127.0.0.1:4010/v1")
    ap.add_argument("--org", default="clorg1")
    ap.add_argument("--per-client", type=int, default=20)
    args = ap.parse_args()

    # From the environment, not argv, so no token or key shows in `ps`.
    credentials = os.environ["PACING_CREDENTIALS"].split(",")
    clients = len(credentials)
    url = f"{args.base}/organizations/{args.org}/workspaces"
    barrier = threading.Barrier(clients + 1)
    results = []  # (client, index, status, seconds_from_start, latency, queue_ms)
    errors = []
    start = [0.0]

    def client(number, credential):
        session = requests.Session()
        session.mount("http://", HTTPAdapter(max_retries=recommended_retry()))
        session.headers.update({"Authorization": f"Bearer {credential}", "Content-Type": "application/json"})
        barrier.wait()
        for i in range(args.per_client):
            body = {"name": f"{args.label}-c{number}-w{i}", "description": "pacing bench", "cicdEnforcedDefault": False}
            t0 = time.monotonic()
            try:
                r = session.post(url, json=body, timeout=120)
                t1 = time.monotonic()
                queue_ms = r.headers.get("X-Gateway-Queue-Ms")
                with lock:
                    results.append((number, i, r.status_code, t1 - start[0], t1 - t0,
                                    float(queue_ms) if queue_ms else None))
            except Exception as e:  # a give-up after retries, or a transport error
                with lock:
                    errors.append(f"client {number} write {i}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=client, args=(n, c)) for n, c in enumerate(credentials)]
    for t in threads:
        t.start()
    barrier.wait()
    start[0] = time.monotonic()
    for t in threads:
        t.join()
    completion = time.monotonic() - start[0]

    statuses = {}
    for r in results:
        statuses[str(r[2])] = statuses.get(str(r[2]), 0) + 1
    latencies = sorted(r[4] for r in results)
    queue = sorted(r[5] for r in results if r[5] is not None)

    def pct(values, p):
        return round(values[min(len(values) - 1, int(p * len(values)))], 3) if values else None

    json.dump({
        "label": args.label,
        "clients": clients,
        "writes": clients * args.per_client,
        "completion_s": round(completion, 3),
        "client_429s": seen_429,
        "statuses": statuses,
        "errors": errors,
        "latency_p50_s": pct(latencies, 0.5),
        "latency_max_s": pct(latencies, 1.0),
        "queue_ms_max": pct(queue, 1.0),
    }, sys.stdout)
    print()


if __name__ == "__main__":
    main()
