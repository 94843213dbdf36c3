"""Key A sends a burst of writes; key B sends four single writes while A's burst is queued, at
2.0, 2.25, 2.5 and 2.75 s (different points of a rate window, since slots open a window at a time).
Prints JSON: each of B's latencies and queue waits, A's completion, statuses. Loopback only."""
import json, sys, threading, time, http.client

port, key_a, key_b, burst, threads = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
body = json.dumps({"name": "w", "description": "d", "cicdEnforcedDefault": False})
statuses, lock = [], threading.Lock()

def post(key, tag):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("POST", f"/v1/organizations/clorg1/workspaces?{tag}", body,
              {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    return r.status, r.getheader("X-Gateway-Queue-Ms")

def worker(n):
    for i in range(n):
        s, _ = post(key_a, f"a={i}")
        with lock: statuses.append(s)

start = time.monotonic()
per = burst // threads
ws = [threading.Thread(target=worker, args=(per,)) for _ in range(threads)]
for w in ws: w.start()
b_results = {}
def light(offset):
    time.sleep(max(0.0, start + offset - time.monotonic()))
    t = time.monotonic()
    status, queue = post(key_b, f"b={offset}")
    b_results[offset] = {"status": status, "seconds": time.monotonic() - t, "queue_ms": int(queue or 0)}

bs = [threading.Thread(target=light, args=(o,)) for o in (2.0, 2.25, 2.5, 2.75)]
for b in bs: b.start()
for b in bs: b.join()
for w in ws: w.join()
print(json.dumps({"burst": per * threads, "a_seconds": time.monotonic() - start, "a_ok": statuses.count(200),
                  "b": [b_results[o] | {"offset": o} for o in sorted(b_results)]}))
