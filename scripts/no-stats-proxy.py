"""A pass-through proxy on 127.0.0.1 that answers 404 to GET /api/platform/stats (a server
without the counters): for measuring `check`'s full-scan fallback. Streams bodies in 64 KiB chunks."""
import http.client, sys
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

UP_HOST, UP_PORT, PORT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def do_GET(self):
        if self.path.split("?")[0] == "/api/platform/stats":
            body = b'{"error":"not found"}'
            self.send_response(404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        up = http.client.HTTPConnection(UP_HOST, UP_PORT)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        up.request("GET", self.path, headers=headers)
        r = up.getresponse()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                self.send_header(k, v)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        while True:
            chunk = r.read1(65536)
            if not chunk:
                break
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")
        up.close()

ThreadingHTTPServer(("127.0.0.1", PORT), Proxy).serve_forever()
