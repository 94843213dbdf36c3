"""Fires N identical concurrent GETs (one wave); prints JSON latencies (ms) and roles."""
import http.client, json, sys, threading, time
port, n, key, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
out, lock, barrier = [], threading.Lock(), threading.Barrier(n)
def one():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.connect()
    barrier.wait()
    t = time.monotonic()
    c.request("GET", path, headers={"Authorization": f"Bearer {key}"})
    r = c.getresponse(); r.read()
    ms = (time.monotonic() - t) * 1000
    with lock: out.append({"ms": ms, "status": r.status, "role": r.getheader("X-Gateway-Coalesced") or r.getheader("X-Cache-Status") or "-"})
ts = [threading.Thread(target=one) for _ in range(n)]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps(out))
