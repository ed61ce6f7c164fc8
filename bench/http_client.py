"""CPU per Plex request: requests (as plexapi sends them) against PlexSync's own wire.

    python -m bench.http_client [--requests 2000]

A local keep-alive server in a child process answers every request at once with an
empty 200, so what is left is the client's own CPU (``time.process_time`` of this
process): an edit (PUT with a long query string, as ``saveEdits`` builds it) and a
poster upload (POST with a 30 kB body), each through a ``requests.Session`` and
through ``plex.wire.PlexWire``. Saves ``bench/results/http_client.json``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from typing import Callable
from urllib.parse import urlencode

import requests

from bench.common import save
from plex.wire import PlexWire

# The server: one thread per connection, an empty 200 for each request it reads.
_SERVER = r"""
import socket, sys, threading
listener = socket.create_server(("127.0.0.1", 0))
print(listener.getsockname()[1], flush=True)
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml;charset=utf-8\r\nContent-Length: 0\r\n\r\n"
def serve(conn):
    buffer = b""
    while True:
        data = conn.recv(65536)
        if not data:
            return
        buffer += data
        while b"\r\n\r\n" in buffer:
            head, _, rest = buffer.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            while len(rest) < length:
                rest += conn.recv(65536)
            buffer = rest[length:]
            conn.sendall(ANSWER)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""

TOKEN = {"X-Plex-Token": "x" * 20, "Accept": "application/xml"}
#: An edit's query string as saveEdits builds it for a scene: a dozen fields and tags.
EDIT_QUERY = urlencode({**{f"field{i}.value": "A title with spaces & ünïcode " * 2 for i in range(12)},
                        "type": 1, "id": 12345})
POSTER = b"\xff\xd8" + b"\x10" * 30_000


def cpu_ms_per_call(call: Callable[[], object], n: int) -> float:
    """Process CPU per call, in ms (a few warm-up calls first)."""
    for _ in range(20):
        call()
    started = time.process_time()
    for _ in range(n):
        call()
    return round((time.process_time() - started) / n * 1000, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    server = subprocess.Popen([sys.executable, "-c", _SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        base = f"http://127.0.0.1:{port}"
        session = requests.Session()
        session.trust_env = False
        wire = PlexWire(base, TOKEN, verify=True, timeout=(5.0, 30.0))
        edit_path = f"/library/sections/1/all?{EDIT_QUERY}"
        poster_path = "/library/metadata/12345/posters"
        n = args.requests
        figures = {
            "requests_per_case": n,
            "cpu_ms_per_request": {
                "requests_edit_put": cpu_ms_per_call(
                    lambda: session.put(base + edit_path, headers=TOKEN, timeout=(5, 30)).text, n),
                "wire_edit_put": cpu_ms_per_call(lambda: wire.request("PUT", edit_path), n),
                "requests_poster_post": cpu_ms_per_call(
                    lambda: session.post(base + poster_path, data=POSTER, headers=TOKEN, timeout=(5, 30)).text, n),
                "wire_poster_post": cpu_ms_per_call(lambda: wire.request("POST", poster_path, body=POSTER), n),
            },
        }
        session.close()
        wire.close()
    finally:
        server.kill()
        server.wait(timeout=10)
    for case, ms in figures["cpu_ms_per_request"].items():
        print(f"{case:22} {ms:.3f} ms of CPU per request")
    save("http_client", figures)


if __name__ == "__main__":
    main()
