#!/usr/bin/python3
"""httpd.py - a test HTTP server on 127.0.0.1 that misbehaves on purpose.

Standard library only, threaded, bounded: it exits by itself after
--max-seconds (default 300). The ephemeral port is written to --port-file
(atomically) once the server listens. One log line per request on stderr:
"METHOD PATH range=RANGE status=CODE".

Paths (files are read from --root):
  /files/<path>                 serve <root>/<path>; Range: bytes=N- and N-M -> 206
  /status/<code>                answer that status with a short body
  /stall                        headers (Content-Length 1000), then nothing
  /hang                         read the request, never answer
  /truncate/<path>              correct Content-Length, close after half the body
                                (of the requested range)
  /badlength/<path>             Content-Length larger than the body sent
  /flaky/<k>/<path>             first k requests for this URL path answer 500,
                                then behave like /files/<path>
  /redirect/<n>/<path>          n redirects (302), then /files/<path>
  /slow/<bytes_per_s>/<path>    trickle the file (Range supported)
  /big/<megabytes>              stream that many MiB of zeros with Content-Length;
                                /big/<megabytes>?nolength: no Content-Length,
                                the body ends when the connection closes
  /norange/<path>               like /files but ignores Range (always 200)
"""
import argparse
import os
import re
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = "."
LOG_LOCK = threading.Lock()
FLAKY_LOCK = threading.Lock()
FLAKY_COUNTS = {}
STOP = threading.Event()


def log(method, path, rng, status):
    with LOG_LOCK:
        sys.stderr.write("%s %s range=%s status=%s\n" % (method, path, rng or "-", status))
        sys.stderr.flush()


def parse_range(header, size):
    """Return (start, end_exclusive) for 'bytes=N-' or 'bytes=N-M', None if
    absent or unusable, 'unsatisfiable' when start >= size."""
    if not header:
        return None
    m = re.fullmatch(r"\s*bytes=(\d+)-(\d*)\s*", header)
    if not m:
        return None
    start = int(m.group(1))
    end = int(m.group(2)) + 1 if m.group(2) else size
    if start >= size:
        return "unsatisfiable"
    return start, min(end, size)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "aedtest-httpd/1"

    def log_message(self, fmt, *args):  # silence the default access log
        pass

    def finish_log(self, status):
        log(self.command, self.path, self.headers.get("Range"), status)

    def send_simple(self, code, body, extra=None):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.close_connection = True
        self.finish_log(code)

    def file_path(self, rel):
        rel = urllib.parse.unquote(rel)
        full = os.path.realpath(os.path.join(ROOT, rel))
        root = os.path.realpath(ROOT)
        if not (full == root or full.startswith(root + os.sep)) or not os.path.isfile(full):
            return None
        return full

    def wait_for_close(self):
        """Hold the connection open until the client closes it or we stop."""
        conn = self.connection
        conn.settimeout(0.2)
        while not STOP.is_set():
            try:
                if conn.recv(4096) == b"":
                    return
            except socket.timeout:
                continue
            except OSError:
                return

    def serve_file(self, rel, mode="files", rate=0.0):
        full = self.file_path(rel)
        if full is None:
            self.send_simple(404, "not found: %s\n" % rel)
            return
        with open(full, "rb") as f:
            data = f.read()
        size = len(data)
        rng = None if mode == "norange" else parse_range(self.headers.get("Range"), size)
        if rng == "unsatisfiable":
            self.send_simple(416, "range not satisfiable\n", {"Content-Range": "bytes */%d" % size})
            return
        if rng is None:
            code, start, end = 200, 0, size
        else:
            code, (start, end) = 206, rng
        body = data[start:end]
        self.send_response(code)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "none" if mode == "norange" else "bytes")
        if code == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end - 1, size))
        announced = len(body)
        if mode == "badlength":
            announced = len(body) + max(16, len(body))
        self.send_header("Content-Length", str(announced))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        self.finish_log(code)
        if self.command == "HEAD":
            return
        try:
            if mode == "truncate":
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
            elif mode == "badlength":
                self.wfile.write(body)
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
            elif rate > 0:
                chunk = max(1, int(rate / 10))
                for i in range(0, len(body), chunk):
                    if STOP.is_set():
                        return
                    self.wfile.write(body[i : i + chunk])
                    self.wfile.flush()
                    time.sleep(chunk / rate)
            else:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        parts = path.lstrip("/").split("/", 1)
        head, rest = parts[0], parts[1] if len(parts) > 1 else ""
        try:
            if head == "files":
                self.serve_file(rest)
            elif head == "norange":
                self.serve_file(rest, mode="norange")
            elif head == "status":
                code = int(rest.split("/")[0])
                self.send_simple(code, "status %d\n" % code)
            elif head == "stall":
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", "1000")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.flush()
                self.close_connection = True
                self.finish_log("200-stall")
                self.wait_for_close()
            elif head == "hang":
                self.close_connection = True
                self.finish_log("hang")
                self.wait_for_close()
            elif head == "truncate":
                self.serve_file(rest, mode="truncate")
            elif head == "badlength":
                self.serve_file(rest, mode="badlength")
            elif head == "flaky":
                k, rel = rest.split("/", 1)
                with FLAKY_LOCK:
                    n = FLAKY_COUNTS.get(path, 0)
                    FLAKY_COUNTS[path] = n + 1
                if n < int(k):
                    self.send_simple(500, "flaky: failure %d of %s\n" % (n + 1, k))
                else:
                    self.serve_file(rel)
            elif head == "redirect":
                n, rel = rest.split("/", 1)
                n = int(n)
                loc = "/files/%s" % rel if n <= 1 else "/redirect/%d/%s" % (n - 1, rel)
                self.send_simple(302, "see %s\n" % loc, {"Location": loc})
            elif head == "slow":
                rate, rel = rest.split("/", 1)
                self.serve_file(rel, rate=float(rate))
            elif head == "big":
                mib = float(rest.split("/")[0])
                total = int(mib * 1024 * 1024)
                nolength = "nolength" in url.query
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                if not nolength:
                    self.send_header("Content-Length", str(total))
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                self.finish_log(200)
                block = b"\0" * 65536
                sent = 0
                try:
                    while sent < total and not STOP.is_set():
                        n = min(len(block), total - sent)
                        self.wfile.write(block[:n])
                        sent += n
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass
            else:
                self.send_simple(404, "no such test path: %s\n" % path)
        except (ValueError, IndexError):
            self.send_simple(400, "bad test path: %s\n" % path)


def main():
    global ROOT
    ap = argparse.ArgumentParser(description="misbehaving test HTTP server")
    ap.add_argument("--root", default=".")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--max-seconds", type=float, default=300)
    args, _unknown = ap.parse_known_args()
    ROOT = args.root

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 64

    srv = Server(("127.0.0.1", args.port), Handler)
    port = srv.server_address[1]
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, args.port_file)

    def stop_later():
        time.sleep(args.max_seconds)
        STOP.set()
        os._exit(0)

    threading.Thread(target=stop_later, daemon=True).start()
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
