"""A plain HTTP/1.1 discovery endpoint for the tests: ``http.server`` on 127.0.0.1 and a free
port, in a thread, answering every ``GET`` with a manifest, and stopped when its block ends.

It imports no test framework; the fixtures that need one (``tests/test_transport.py``,
``tests/test_manifest_server.py``, ``tests/test_hostile_peers.py``) wrap it.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["V4", "discovery_endpoint"]

#: The content type of an endpoint manifest of version 4.
V4 = "application/vnd.restate.endpointmanifest.v4+json"


@contextmanager
def discovery_endpoint(answer: Callable[[], bytes], seen: list[str] | None = None) -> Iterator[str]:
    """The URL of an endpoint that answers every ``GET`` with ``answer()`` as a v4 manifest,
    appending each requested path (or, as a forward proxy, URL) to ``seen``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # the name http.server dispatches to
            if seen is not None:
                seen.append(self.path)
            body = answer()
            self.send_response(200)
            self.send_header("content-type", V4)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
