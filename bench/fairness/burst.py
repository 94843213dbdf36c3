"""Key A sends a burst of writes; key B sends one write while A's burst is queued.
Prints JSON: B's latency and queue wait, A's completion, statuses. Loopback only, bounded."""
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
time.sleep(2.0)
b_start = time.monotonic()
b_status, b_queue = post(key_b, "b=1")
b_latency = time.monotonic() - b_start
for w in ws: w.join()
print(json.dumps({"burst": per * threads, "a_seconds": time.monotonic() - start, "a_ok": statuses.count(200),
                  "b_status": b_status, "b_seconds": b_latency, "b_queue_ms": int(b_queue or 0)}))
