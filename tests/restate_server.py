"""A throwaway real ``restate-server`` for the tests, on 127.0.0.1 and free ports.

:meth:`RestateServer.start` runs the server that ``scripts/ensure-restate`` installed into
``.cache/restate`` (or ``$RESTATE_VERSIONING_RESTATE_DIR``): the native binary of the npm package
``@restatedev/restate-server``, in a session of its own, with a fresh temporary base directory,
TCP only (no unix sockets), and every listener on 127.0.0.1 at a free port:

* ``RESTATE_ADMIN__BIND_ADDRESS`` — the admin API (:attr:`RestateServer.admin_url`);
* ``RESTATE_INGRESS__BIND_ADDRESS`` — the ingress (:attr:`RestateServer.ingress_url`);
* ``RESTATE_BIND_ADDRESS`` — the node-to-node fabric port (also ``RESTATE_BIND_IP``).

Telemetry is off, the cluster has 4 partitions and a small memory budget. It waits until
``GET /health`` on the admin API and ``GET /restate/health`` on the ingress answer 200.
:meth:`RestateServer.stop` kills the server's process group and deletes the directory;
:meth:`RestateServer.cli` runs the ``restate`` CLI against it.

It imports no test framework: :class:`RestateUnavailable` says why no server could be had, and
the ``restate_server`` fixture in ``conftest.py`` turns that into a skip (or a failure on CI).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

__all__ = ["ENV", "VERSION", "RestateServer", "RestateUnavailable", "find_binary"]

VERSION = "1.7.12"
#: Where ``scripts/ensure-restate`` installs the npm packages, if not ``.cache/restate``.
ENV = "RESTATE_VERSIONING_RESTATE_DIR"
ROOT = Path(__file__).resolve().parents[1]


class RestateUnavailable(Exception):
    """No restate-server could be found or started; the message says why."""


def _cache() -> Path:
    return Path(os.environ.get(ENV) or ROOT / ".cache" / "restate")


def find_binary(name: str) -> Path:
    """The native ``restate-server`` or ``restate`` (CLI) binary that ensure-restate installed
    (the npm ``.bin`` entries are node shims that would leave the binary behind on a kill)."""
    modules = _cache() / "node_modules" / "@restatedev"
    for found in sorted(glob.glob(str(modules / f"{name}-*" / "bin" / name))):
        if os.access(found, os.X_OK):
            return Path(found)
    raise RestateUnavailable(
        f"no {name} binary under {modules} (run `make restate` or `bash scripts/ensure-restate`, "
        f"which needs npm)"
    )


def _free_ports(count: int) -> list[int]:
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


class RestateServer:
    """A running restate-server: :attr:`admin_url` and :attr:`ingress_url` on 127.0.0.1."""

    def __init__(self, process: subprocess.Popen[bytes], home: Path, ports: dict[str, int]) -> None:
        self.process = process
        self.home = home
        self.ports = ports
        self.admin_url = f"http://127.0.0.1:{ports['admin']}"
        self.ingress_url = f"http://127.0.0.1:{ports['ingress']}"

    @classmethod
    def start(cls, *, timeout: float = 60) -> Self:
        """Start a fresh server and wait until it answers; :class:`RestateUnavailable` if
        that cannot be done within ``timeout`` seconds."""
        binary = find_binary("restate-server")
        errors: list[str] = []
        for _ in range(3):  # a free port may be taken before the server binds it
            home = Path(tempfile.mkdtemp(prefix="restate-versioning-restate-"))
            admin, ingress, node = _free_ports(3)
            ports = {"admin": admin, "ingress": ingress, "node": node}
            env = {k: v for k, v in os.environ.items() if not k.startswith("RESTATE_")}
            env.update(
                {
                    "RESTATE_BIND_IP": "127.0.0.1",
                    "RESTATE_BIND_ADDRESS": f"127.0.0.1:{node}",
                    "RESTATE_ADVERTISED_ADDRESS": f"http://127.0.0.1:{node}/",
                    "RESTATE_ADMIN__BIND_ADDRESS": f"127.0.0.1:{admin}",
                    "RESTATE_INGRESS__BIND_ADDRESS": f"127.0.0.1:{ingress}",
                    "RESTATE_DISABLE_TELEMETRY": "true",
                    "RESTATE_DEFAULT_NUM_PARTITIONS": "4",
                    "RESTATE_ROCKSDB_TOTAL_MEMORY_SIZE": "512MB",
                    "RESTATE_LOG_DISABLE_ANSI_CODES": "true",
                }
            )
            with (home / "server.log").open("wb") as log:
                process = subprocess.Popen(
                    [
                        str(binary),
                        "--no-logo",
                        "--listen-mode",
                        "tcp",
                        "--base-dir",
                        str(home / "data"),
                    ],
                    cwd=home,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            server = cls(process, home, ports)
            try:
                server._wait(timeout)
            except RestateUnavailable as exc:
                errors.append(str(exc))
                server.stop()
                if process.returncode is None or "Address already in use" not in str(exc):
                    break
                continue
            return server
        raise RestateUnavailable("; ".join(errors))

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for url in (f"{self.admin_url}/health", f"{self.ingress_url}/restate/health"):
            while not _answers(url):
                if self.process.poll() is not None:
                    raise RestateUnavailable(
                        f"restate-server exited with {self.process.returncode}: {self.log_tail()}"
                    )
                if time.monotonic() > deadline:
                    raise RestateUnavailable(
                        f"restate-server did not answer {url} within {timeout} s: {self.log_tail()}"
                    )
                time.sleep(0.05)

    def log_tail(self, lines: int = 15) -> str:
        """The end of the server's log, on one line."""
        try:
            text = (self.home / "server.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(line.strip() for line in text.splitlines()[-lines:] if line.strip())

    def listening(self) -> set[tuple[str, int]]:
        """The TCP addresses the server listens on, from ``/proc`` (Linux; empty elsewhere)."""
        inodes: set[str] = set()
        fds = Path(f"/proc/{self.process.pid}/fd")
        try:
            for fd in fds.iterdir():
                try:
                    target = os.readlink(fd)
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
        except OSError:
            return set()
        found: set[tuple[str, int]] = set()
        for table, width in (("tcp", 8), ("tcp6", 32)):
            try:
                rows = Path(f"/proc/{self.process.pid}/net/{table}").read_text().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                fields = row.split()
                if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                    continue
                address, port = fields[1].split(":")
                found.add((_ip(address, width), int(port, 16)))
        return found

    def cli(
        self, *args: str, timeout: float = 30, admin_url: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the ``restate`` CLI against this server (no TTY, so no colours), or, with
        ``admin_url``, against that admin API with this server's CLI settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTATE_") and k != "CI"}
        env.update({"RESTATE_ADMIN_URL": admin_url or self.admin_url})
        env.update({"COLUMNS": "250", "NO_COLOR": "1"})
        env["HOME"] = str(self.home)  # the CLI's own config and cache stay in the base dir
        return subprocess.run(
            [str(find_binary("restate")), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def stop(self) -> None:
        """Kill the server (SIGKILL to its process group) and delete its directory."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def _ip(hexadecimal: str, width: int) -> str:
    """An address of ``/proc/net/tcp{,6}`` (little-endian words) as text."""
    raw = bytes.fromhex(hexadecimal)
    if width == 8:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)
