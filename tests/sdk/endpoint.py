"""A real Restate Python SDK endpoint for the tests: ``hypercorn`` serving an SDK app.

:meth:`SdkEndpoint.start` runs ``python -m hypercorn <app> --bind 127.0.0.1:<free port>`` with
the same interpreter (so the same virtual environment) and the repository root as working
directory, in a session (process group) of its own, waits until the port answers, and
:meth:`SdkEndpoint.stop` kills the whole group: hypercorn serves from a worker process, which
would otherwise keep the port and answer later runs. Hypercorn
speaks HTTP/1.1 and, on plain http, HTTP/2 with prior knowledge (h2c), as a Restate deployment
does. With ``http2=False`` the app is wrapped so that every HTTP/2 request is answered
``505 HTTP Version Not Supported``: an endpoint that only serves HTTP/1.1.

It imports no test framework: :class:`SdkUnavailable` says why no endpoint could be had, and
the ``sdk_bidi_url`` / ``sdk_request_response_url`` fixtures in ``conftest.py`` turn that into
a skip (or a failure on CI).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

__all__ = ["ROOT", "SdkEndpoint", "SdkUnavailable", "http1_only"]

#: The repository root: hypercorn imports ``tests.sdk.services`` from there.
ROOT = Path(__file__).resolve().parents[2]

#: The environment variable naming the folder where the conformance apps' held calls publish
#: their awakeable ids (``tests/sdk/services.py``).
AWAKEABLES = "CONFORMANCE_AWAKEABLES"
#: The environment variable naming the app that :func:`http1_only` wraps.
_WRAPPED = "RESTATE_VERSIONING_SDK_APP"


class SdkUnavailable(Exception):
    """No SDK endpoint could be started: ``restate_sdk`` or ``hypercorn`` is missing, or the
    server did not come up (the message ends with its stderr)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class SdkEndpoint:
    """A running ``hypercorn`` process serving a Restate SDK app on 127.0.0.1."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, stderr: Any) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._stderr = stderr

    @classmethod
    def start(
        cls,
        app: str = "tests.sdk.services:app_bidi",
        *,
        http2: bool = True,
        timeout: float = 30,
        env: Mapping[str, str] | None = None,
    ) -> Self:
        """Serve ``app`` (``module:attribute``, importable from the repository root), with
        ``env`` added to its environment, and wait until its port answers; raise
        :class:`SdkUnavailable` if that cannot be done within ``timeout`` seconds."""
        for module in ("restate", "hypercorn"):
            if importlib.util.find_spec(module) is None:
                raise SdkUnavailable(f"{module!r} cannot be imported by {sys.executable}")
        port = _free_port()
        env = {**os.environ, **(env or {})}
        target = app
        if not http2:
            env[_WRAPPED] = app
            target = f"{__name__}:http1_only"
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 -- closed by stop()
        command = [sys.executable, "-m", "hypercorn", target, "--bind", f"127.0.0.1:{port}"]
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
        endpoint = cls(process, port, stderr)
        deadline = time.monotonic() + timeout
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = endpoint._stderr_tail()
                endpoint.stop()
                why = "exited" if process.returncode is not None else f"not up in {timeout} s"
                raise SdkUnavailable(f"{' '.join(command)}: {why}; stderr:\n{tail}")
            time.sleep(0.05)
        return endpoint

    def _stderr_tail(self, limit: int = 2000) -> str:
        self._stderr.seek(0)
        text: str = self._stderr.read().decode(errors="replace")
        return text[-limit:]

    def stop(self) -> None:
        """Kill the server's whole process group (SIGKILL), worker included, and wait for it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._stderr.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


async def http1_only(scope: Any, receive: Any, send: Any) -> None:
    """The app named by ``$RESTATE_VERSIONING_SDK_APP``, answering every HTTP/2 request with
    ``505``: what ``SdkEndpoint.start(..., http2=False)`` serves."""
    if scope["type"] == "http" and scope.get("http_version") == "2":
        headers = [(b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 505, "headers": headers})
        await send({"type": "http.response.body", "body": b"HTTP/1.1 only"})
        return
    module_name, _, attribute = os.environ[_WRAPPED].partition(":")
    inner = getattr(importlib.import_module(module_name), attribute or "app")
    await inner(scope, receive, send)
