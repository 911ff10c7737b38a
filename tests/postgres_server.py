"""A throwaway PostgreSQL for the tests: a DSN on 127.0.0.1, and fresh table prefixes.

:meth:`PostgresServer.start` uses ``$RESTATE_VERSIONING_POSTGRES_DSN`` when it is set.
Otherwise it finds ``initdb`` and ``pg_ctl`` under ``/usr/lib/postgresql/*/bin`` (the newest
version; ``scripts/ensure-postgres`` installs Debian's package), makes a cluster in a temporary
directory (trust authentication, listening on 127.0.0.1 only, on a free port, with its socket
inside that directory), starts it, creates a database, and :meth:`PostgresServer.stop` stops it
and deletes the directory. PostgreSQL refuses to run as root, so as root the directory belongs
to the ``postgres`` user and the server runs as that user (``runuser``).

It imports no test framework: :class:`PostgresUnavailable` says why no server could be had,
and the ``postgres_dsn`` fixture in ``conftest.py`` turns that into a skip (or a failure on
CI).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

__all__ = [
    "ENV",
    "PostgresServer",
    "PostgresUnavailable",
    "drop_test_tables",
    "find_bindir",
    "fresh_prefix",
]

#: An existing server's DSN to use instead of starting one (its database must be writable).
ENV = "RESTATE_VERSIONING_POSTGRES_DSN"
DATABASE = "restate_versioning_test"

_RUN = uuid.uuid4().hex[:8]
_COUNTER = itertools.count(1)


def fresh_prefix() -> str:
    """A table prefix no other test of any run has used: each test gets its own store."""
    return f"rvt_{_RUN}_{next(_COUNTER)}_"


class PostgresUnavailable(Exception):
    """No PostgreSQL could be found or started; the message says why."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def find_bindir() -> Path:
    """The ``bin`` directory of the newest PostgreSQL under ``/usr/lib/postgresql``."""
    found = [
        Path(initdb).parent
        for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb")
        if os.access(Path(initdb).parent / "pg_ctl", os.X_OK)
    ]
    if not found:
        raise PostgresUnavailable(
            "no PostgreSQL under /usr/lib/postgresql/*/bin (scripts/ensure-postgres installs "
            f"it), and ${ENV} is not set"
        )

    def version(bindir: Path) -> tuple[int, ...]:
        name = bindir.parent.name
        return tuple(int(part) for part in name.split(".") if part.isdigit())

    return max(found, key=version)


class PostgresServer:
    """A running PostgreSQL: :attr:`dsn` names a database on it that the tests may fill."""

    def __init__(
        self,
        dsn: str,
        *,
        bindir: Path | None = None,
        home: Path | None = None,
        as_user: list[str] | None = None,
    ) -> None:
        self.dsn = dsn
        self._bindir = bindir
        self._home = home
        self._as_user = as_user or []

    @classmethod
    def start(cls, *, timeout: float = 60) -> PostgresServer:
        """The server of ``$RESTATE_VERSIONING_POSTGRES_DSN``, or a new throwaway one."""
        external = os.environ.get(ENV)
        if external:
            try:
                psycopg.connect(external, connect_timeout=5).close()
            except psycopg.Error as exc:
                raise PostgresUnavailable(f"${ENV} cannot be reached: {exc}") from None
            return cls(external)
        bindir = find_bindir()
        as_user: list[str] = []
        owner: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable(
                    "running as root, and there is no `postgres` user to run PostgreSQL as"
                ) from None
            runuser = shutil.which("runuser")
            if runuser is None:
                raise PostgresUnavailable("running as root, and there is no runuser")
            as_user = [runuser, "-u", "postgres", "--"]
        home = Path(tempfile.mkdtemp(prefix="restate-versioning-pg-"))
        server = cls("", bindir=bindir, home=home, as_user=as_user)
        try:
            if owner is not None:
                os.chown(home, owner.pw_uid, owner.pw_gid)
            server._boot(timeout)
        except BaseException:
            server.stop()
            raise
        return server

    def _run(self, command: list[str], timeout: float) -> None:
        """Run a PostgreSQL program (as the ``postgres`` user when we are root)."""
        command = [*self._as_user, *command]
        what = Path(command[len(self._as_user)]).name
        try:
            subprocess.run(
                command,
                cwd=self._home,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=True,
            )
        except subprocess.CalledProcessError as exc:
            output = " ".join((exc.stderr.strip() or exc.stdout.strip()).split())
            raise PostgresUnavailable(f"{what} failed (exit {exc.returncode}): {output}") from None
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PostgresUnavailable(f"{what}: {exc}") from None

    def _boot(self, timeout: float) -> None:
        assert self._home is not None
        assert self._bindir is not None
        data, sockets, log = self._home / "data", self._home / "sockets", self._home / "log"
        self._run(
            [
                str(self._bindir / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                "postgres",
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ],
            timeout,
        )
        self._run(["mkdir", "-m", "700", str(sockets)], timeout)
        errors: list[str] = []
        for _ in range(3):  # the free port may be taken before the server binds it
            port = _free_port()
            settings = {
                "listen_addresses": "'127.0.0.1'",
                "port": str(port),
                "unix_socket_directories": f"'{sockets}'",
                # A throwaway cluster: the tests kill clients, never the server.
                "fsync": "off",
                "full_page_writes": "off",
                "max_connections": "50",
            }
            with (data / "postgresql.auto.conf").open("a") as conf:
                conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
            try:
                self._run(
                    [
                        str(self._bindir / "pg_ctl"),
                        "start",
                        *("--pgdata", str(data), "--log", str(log)),
                        *("--wait", "--timeout", str(int(timeout))),
                    ],
                    timeout + 5,
                )
                break
            except PostgresUnavailable as exc:
                errors.append(f"{exc}; log: {self._log_tail()}")
        else:
            raise PostgresUnavailable("; ".join(errors))
        admin = f"host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=10"
        try:
            with psycopg.connect(admin, autocommit=True) as db:
                db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        except psycopg.Error as exc:
            raise PostgresUnavailable(f"cannot create the test database: {exc}") from None
        self.dsn = f"host=127.0.0.1 port={port} user=postgres dbname={DATABASE}"

    def _log_tail(self) -> str:
        assert self._home is not None
        try:
            return " | ".join((self._home / "log").read_text().splitlines()[-5:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Stop a server this object started and delete its files; or drop the tables the
        tests made in the ``$RESTATE_VERSIONING_POSTGRES_DSN`` database."""
        if self._home is None:
            if self.dsn:
                drop_test_tables(self.dsn)
            return
        assert self._bindir is not None
        pg_ctl = str(self._bindir / "pg_ctl")
        data = self._home / "data"
        if (data / "postmaster.pid").exists():
            for mode in ("fast", "immediate"):
                try:
                    self._run([pg_ctl, "stop", "--pgdata", str(data), "--mode", mode, "--wait"], 30)
                    break
                except PostgresUnavailable:
                    continue
        shutil.rmtree(self._home, ignore_errors=True)
        self._home = None


def drop_test_tables(dsn: str) -> None:
    """Drop the tables that this run's :func:`fresh_prefix` stores made in ``dsn``."""
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as db:
        tables = db.execute(
            "SELECT tablename FROM pg_catalog.pg_tables "
            "WHERE schemaname = current_schema() AND starts_with(tablename, %s)",
            (f"rvt_{_RUN}_",),
        ).fetchall()
        for (table,) in tables:
            db.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
