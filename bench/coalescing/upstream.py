"""A slow upstream for the coalescing bench: answers every GET after 200 ms and counts calls.
GET /_count returns the count so far. Loopback only."""
import http.server, socketserver, sys, threading, time

count = 0
lock = threading.Lock()

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
    def do_GET(self):
        global count
        if self.path == "/_count":
            body = str(count).encode()
        else:
            with lock: count += 1
            time.sleep(0.2)
            body = b'{"deployments":[],"offset":0,"limit":20,"totalCount":0}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 1024

Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
