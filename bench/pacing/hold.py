#!/usr/bin/env python3
"""Opens COUNT concurrent connections to the gateway, each sending one POST (a workspace create),
and keeps them all open while the gateway queues them. Used by bench/queue-memory.sh.

Prints `SENT {json}` once every request is written (the gateway then holds them), `SNAPSHOT {json}`
on SIGUSR1 (how many answers arrived so far, by status), and `FINAL {json}` when every connection
has been answered or closed (or --timeout passed). The local key comes from QUEUE_KEY (never argv).
"""

import argparse
import asyncio
import hashlib
import json
import os
import signal
import sys
import time


class Tally:
    def __init__(self):
        self.statuses = {}
        self.closed_without_answer = 0
        self.connect_errors = 0
        self.errors = {}
        # Body digests (the audit log's bodySha256) of requests whose connection closed unanswered.
        self.unanswered_digests = []

    def snapshot(self):
        return {
            "answered": sum(self.statuses.values()),
            "statuses": dict(sorted(self.statuses.items())),
            "closed_without_answer": self.closed_without_answer,
            "connect_errors": self.connect_errors,
            "errors": self.errors,
            "unanswered_digests": self.unanswered_digests,
        }


async def one(number, port, key, tally, connect_gate, sent, all_sent):
    body = json.dumps({"name": f"queued-{number}", "description": "queue memory bench",
                       "cicdEnforcedDefault": False}).encode()
    request = (
        f"POST /v1/organizations/clorg1/workspaces HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    async with connect_gate:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            await writer.drain()
        except OSError as e:
            tally.connect_errors += 1
            name = type(e).__name__
            tally.errors[name] = tally.errors.get(name, 0) + 1
            sent()
            return
    sent()
    await all_sent.wait()
    try:
        line = await reader.readline()
        if line.startswith(b"HTTP/1."):
            status = line.split()[1].decode()
            tally.statuses[status] = tally.statuses.get(status, 0) + 1
        else:
            tally.closed_without_answer += 1
            tally.unanswered_digests.append(hashlib.sha256(body).hexdigest())
    except OSError as e:
        tally.closed_without_answer += 1
        tally.unanswered_digests.append(hashlib.sha256(body).hexdigest())
        name = type(e).__name__
        tally.errors[name] = tally.errors.get(name, 0) + 1
    finally:
        writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--connect-concurrency", type=int, default=500)
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()
    key = os.environ["QUEUE_KEY"]

    tally = Tally()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, lambda: print("SNAPSHOT " + json.dumps(tally.snapshot()), flush=True))
    all_sent = asyncio.Event()
    remaining = [args.count]
    started = time.monotonic()

    def sent():
        remaining[0] -= 1
        if remaining[0] == 0:
            all_sent.set()
            print("SENT " + json.dumps({"requests": args.count, "seconds": round(time.monotonic() - started, 3),
                                        "connect_errors": tally.connect_errors}), flush=True)

    gate = asyncio.Semaphore(args.connect_concurrency)
    tasks = [asyncio.create_task(one(i, args.port, key, tally, gate, sent, all_sent)) for i in range(args.count)]
    done, pending = await asyncio.wait(tasks, timeout=args.timeout)
    for task in pending:
        task.cancel()
    final = tally.snapshot()
    final["unanswered_at_timeout"] = len(pending)
    print("FINAL " + json.dumps(final), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
