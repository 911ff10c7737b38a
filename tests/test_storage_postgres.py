"""PostgresStorage meets the storage contract, and refuses what it must not use.

Every test runs against the throwaway PostgreSQL of ``tests/postgres_server.py`` (or
``$RESTATE_VERSIONING_POSTGRES_DSN``), each store under its own fresh table prefix.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import sql

from restate_versioning import ConcurrentModification, StorageError
from restate_versioning.storage import CommandRecord, Snapshot, Storage, StoredRegistry
from restate_versioning.storage.base import STORE_FORMAT_VERSION, record_body, record_checksum
from restate_versioning.storage.postgres import PostgresStorage
from restate_versioning.testing import check_storage

from .helpers import manifest, service
from .postgres_server import fresh_prefix

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PASSWORD = "pa55-w0rd-never-shown"
MANIFEST = manifest(service("Greeter"))


def record(sequence: int) -> CommandRecord:
    return CommandRecord(
        sequence, T0, "declare_caller", {"service": "S", "caller": f"C{sequence}/h"}, ()
    )


def tables(dsn: str, prefix: str) -> dict[str, list[tuple[object, ...]]]:
    """Every table whose name starts with ``prefix``, with its rows: to show nothing changed."""
    with psycopg.connect(dsn, autocommit=True) as db:
        names = [
            row[0]
            for row in db.execute(
                "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema() "
                "AND starts_with(tablename, %s) ORDER BY tablename",
                (prefix,),
            )
        ]
        return {
            name: sorted(
                db.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(name))).fetchall(),
                key=repr,
            )
            for name in names
        }


def execute(dsn: str, *statements: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as db:
        for statement in statements:
            db.execute(statement.encode())


@pytest.fixture
def prefix() -> str:
    return fresh_prefix()


@pytest.mark.integration
def test_postgres_storage_passes_the_conformance_kit(postgres_dsn: str) -> None:
    """The contract of ``Storage``, checked by ``restate_versioning.testing.check_storage``;
    a reopen closes the store and opens the same DSN and prefix again."""

    def make() -> Storage:
        return PostgresStorage(postgres_dsn, table_prefix=fresh_prefix())

    def reopen(store: Storage) -> Storage:
        assert isinstance(store, PostgresStorage)
        store.close()
        return PostgresStorage(postgres_dsn, table_prefix=store.table_prefix, create=False)

    check_storage(make, reopen=reopen)


@pytest.mark.integration
def test_a_new_store_gets_three_tables_with_its_prefix_and_a_format_row(
    postgres_dsn: str, prefix: str
) -> None:
    PostgresStorage(postgres_dsn, table_prefix=prefix).close()
    found = tables(postgres_dsn, prefix)
    assert sorted(found) == [f"{prefix}meta", f"{prefix}records", f"{prefix}snapshots"]
    assert found[f"{prefix}meta"] == [
        ("format", "restate-versioning/store"),
        ("version", str(STORE_FORMAT_VERSION)),
    ]


@pytest.mark.integration
def test_stores_with_different_prefixes_share_a_database_without_seeing_each_other(
    postgres_dsn: str,
) -> None:
    first = PostgresStorage(postgres_dsn, table_prefix=fresh_prefix())
    second = PostgresStorage(postgres_dsn, table_prefix=fresh_prefix())
    first.append([record(1), record(2)], 0)
    assert second.load().version == 0
    second.append([record(1)], 0)
    assert [first.load().version, second.load().version] == [2, 1]
    first.close()
    second.close()


@pytest.mark.integration
def test_create_false_refuses_a_database_without_the_tables_and_creates_nothing(
    postgres_dsn: str, prefix: str
) -> None:
    with pytest.raises(StorageError, match=rf"no tables {prefix}meta.*create=True") as caught:
        PostgresStorage(postgres_dsn, table_prefix=prefix, create=False)
    assert "user=postgres" in caught.value.location
    assert tables(postgres_dsn, prefix) == {}


@pytest.mark.integration
def test_a_meta_table_of_a_foreign_format_is_refused_and_left_untouched(
    postgres_dsn: str, prefix: str
) -> None:
    execute(
        postgres_dsn,
        f"CREATE TABLE {prefix}meta (key text PRIMARY KEY, value text NOT NULL)",
        f"INSERT INTO {prefix}meta VALUES ('format', 'someone-else/queue'), ('version', '1')",
        f"CREATE TABLE {prefix}records (sequence bigint PRIMARY KEY, at text NOT NULL, "
        "command text NOT NULL, body text NOT NULL)",
        f"CREATE TABLE {prefix}snapshots (version bigint PRIMARY KEY, state text NOT NULL)",
    )
    before = tables(postgres_dsn, prefix)
    with pytest.raises(StorageError, match=r"a foreign store of format 'someone-else/queue'"):
        PostgresStorage(postgres_dsn, table_prefix=prefix)
    assert tables(postgres_dsn, prefix) == before


@pytest.mark.integration
def test_tables_of_another_application_with_our_names_are_refused_and_left_untouched(
    postgres_dsn: str, prefix: str
) -> None:
    execute(
        postgres_dsn,
        f"CREATE TABLE {prefix}meta (name text, size int)",
        f"INSERT INTO {prefix}meta VALUES ('a', 1)",
        f"CREATE TABLE {prefix}records (id int)",
        f"CREATE TABLE {prefix}snapshots (id int)",
    )
    before = tables(postgres_dsn, prefix)
    with pytest.raises(StorageError, match=r"UndefinedColumn"):
        PostgresStorage(postgres_dsn, table_prefix=prefix)
    assert tables(postgres_dsn, prefix) == before


@pytest.mark.integration
def test_a_store_missing_some_of_its_tables_is_refused_and_left_untouched(
    postgres_dsn: str, prefix: str
) -> None:
    store = PostgresStorage(postgres_dsn, table_prefix=prefix)
    store.append([record(1)], 0)
    store.close()
    execute(postgres_dsn, f"DROP TABLE {prefix}snapshots")
    before = tables(postgres_dsn, prefix)
    with pytest.raises(StorageError, match=rf"but not \['{prefix}snapshots'\]"):
        PostgresStorage(postgres_dsn, table_prefix=prefix)
    assert tables(postgres_dsn, prefix) == before


@pytest.mark.integration
@pytest.mark.parametrize("version", ["3", "10", "one"])
def test_a_newer_or_unreadable_format_version_is_refused_and_left_untouched(
    postgres_dsn: str, prefix: str, version: str
) -> None:
    store = PostgresStorage(postgres_dsn, table_prefix=prefix)
    store.append([record(1)], 0)
    store.close()
    execute(postgres_dsn, f"UPDATE {prefix}meta SET value = '{version}' WHERE key = 'version'")
    before = tables(postgres_dsn, prefix)
    with pytest.raises(StorageError, match=rf"version '{version}'") as caught:
        PostgresStorage(postgres_dsn, table_prefix=prefix)
    if version.isdigit():
        assert f"newer than this library reads ({STORE_FORMAT_VERSION})" in str(caught.value)
    assert tables(postgres_dsn, prefix) == before


@pytest.mark.integration
def test_a_damaged_record_is_a_storage_error_naming_it(postgres_dsn: str, prefix: str) -> None:
    store = PostgresStorage(postgres_dsn, table_prefix=prefix)
    store.append([record(1), record(2)], 0)
    execute(postgres_dsn, f"UPDATE {prefix}records SET body = 'not json' WHERE sequence = 2")
    with pytest.raises(StorageError, match=r"record 2 is damaged"):
        store.load()
    store.close()


@pytest.mark.integration
def test_a_closed_store_refuses_to_be_used(postgres_dsn: str, prefix: str) -> None:
    store = PostgresStorage(postgres_dsn, table_prefix=prefix)
    store.close()
    with pytest.raises(StorageError, match=r"closed"):
        store.append([record(1)], 0)


@pytest.mark.integration
def test_a_writer_that_loses_the_race_for_a_sequence_gets_concurrent_modification(
    postgres_dsn: str, prefix: str
) -> None:
    """Two appends that both read version 1 insert sequence 2: the one that commits second
    hits the primary key, and gets ConcurrentModification with the version re-read."""
    store = PostgresStorage(postgres_dsn, table_prefix=prefix)
    store.append([record(1)], 0)
    outcome: list[BaseException] = []

    def append() -> None:
        try:
            store.append([record(2)], 1)
        except BaseException as exc:
            outcome.append(exc)

    rival_record = CommandRecord(2, T0, "declare_caller", {"service": "R", "caller": "R/h"}, ())
    with (
        psycopg.connect(postgres_dsn) as rival,  # a transaction, open until commit
        psycopg.connect(postgres_dsn, autocommit=True) as watcher,
    ):
        body = record_body(rival_record)
        rival.execute(
            sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s, %s)").format(
                sql.Identifier(f"{prefix}records")
            ),
            (
                2,
                T0.isoformat(),
                "declare_caller",
                body,
                record_checksum(2, T0.isoformat(), "declare_caller", body),
            ),
        )
        writer = threading.Thread(target=append)
        writer.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until our insert waits on the rival's row
            waiting = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"
            ).fetchone()
            if waiting is not None and waiting[0] > 0:
                break
            time.sleep(0.02)
        else:
            pytest.fail("the append never waited on the rival's uncommitted row")
        rival.commit()
        writer.join(10)
    [error] = outcome
    assert isinstance(error, ConcurrentModification)
    assert (error.expected, error.actual) == (1, 2)
    assert store.read(0) == (record(1), rival_record)
    store.close()


@pytest.mark.integration
def test_several_openers_of_one_new_store_all_succeed(postgres_dsn: str, prefix: str) -> None:
    """Creating the tables is serialised between connections (here six threads, each with its
    own), so every opener of a new store succeeds."""
    errors: list[BaseException] = []
    stores: list[PostgresStorage] = []

    def open_store() -> None:
        try:
            stores.append(PostgresStorage(postgres_dsn, table_prefix=prefix))
        except BaseException as exc:
            errors.append(exc)

    openers = [threading.Thread(target=open_store) for _ in range(6)]
    for opener in openers:
        opener.start()
    for opener in openers:
        opener.join(30)
    assert errors == []
    assert len(stores) == 6
    for store in stores:
        store.close()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        (f"host=127.0.0.1 port={{port}} user=alice password={PASSWORD} dbname=x", "user=alice"),
        (f"postgresql://alice:{PASSWORD}@127.0.0.1:{{port}}/x", "alice@127.0.0.1"),
        (f"postgresql://alice@127.0.0.1:{{port}}/x?password={PASSWORD}", "alice@127.0.0.1"),
    ],
)
def test_an_unreachable_server_is_a_storage_error_without_the_password(
    closed_port: int, dsn: str, shown: str
) -> None:
    with pytest.raises(StorageError, match=r"cannot connect") as caught:
        PostgresStorage(dsn.format(port=closed_port))
    assert PASSWORD not in str(caught.value)
    assert PASSWORD not in caught.value.location
    assert shown in caught.value.location
    assert str(closed_port) in caught.value.location


def test_a_server_that_never_answers_fails_within_the_connect_timeout(
    silent_server: int,
) -> None:
    started = time.monotonic()
    with pytest.raises(StorageError, match=r"cannot connect.*timeout") as caught:
        PostgresStorage(
            f"host=127.0.0.1 port={silent_server} user=alice password={PASSWORD} dbname=x",
            connect_timeout=2,
        )
    assert time.monotonic() - started < 6
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    "prefix",
    ["", "Upper_", "1st_", "a-b_", "rv.", "rv_\n", "x; DROP TABLE y; --", "é_", "a" * 42, 7],
)
def test_an_invalid_table_prefix_is_refused_before_connecting(prefix: object) -> None:
    """A prefix is a lower-case identifier of at most 41 characters: the DSN is never tried
    (it points nowhere)."""
    with pytest.raises(ValueError, match=r"table_prefix must match"):
        PostgresStorage("host=127.0.0.1 port=1", table_prefix=prefix)  # type: ignore[arg-type]


@pytest.mark.integration
def test_the_longest_valid_prefix_is_accepted(postgres_dsn: str) -> None:
    prefix = fresh_prefix()
    prefix += "x" * (41 - len(prefix))
    store = PostgresStorage(postgres_dsn, table_prefix=prefix)
    store.save_snapshot(Snapshot(0, "{}"))
    assert store.load().snapshot == Snapshot(0, "{}")
    store.close()


def test_a_dsn_that_does_not_parse_is_a_storage_error_that_does_not_quote_it() -> None:
    with pytest.raises(StorageError, match=r"cannot connect") as caught:
        PostgresStorage(f"host=127.0.0.1 password={PASSWORD} nonsense")
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize("timeout", [0, -1, float("inf"), float("nan")])
def test_a_connect_timeout_must_be_positive_seconds(timeout: float) -> None:
    with pytest.raises(ValueError, match=r"connect_timeout must be positive"):
        PostgresStorage("host=127.0.0.1 port=1", connect_timeout=timeout)


@pytest.mark.integration
def test_threads_may_share_one_store(postgres_dsn: str, prefix: str) -> None:
    """Four registries in four threads, on one PostgresStorage (one connection): every
    command is committed once, and they converge."""
    store = PostgresStorage(postgres_dsn, table_prefix=prefix)
    StoredRegistry(store).register("http://127.0.0.1:9081", MANIFEST)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            stored = StoredRegistry(store)
            for _ in range(25):
                stored.complete(stored.invoke("Greeter", "greet").id)
        except BaseException as exc:
            errors.append(exc)

    writers = [threading.Thread(target=write) for _ in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
    assert errors == []
    history = store.history()
    assert [r.sequence for r in history] == list(range(1, 202))
    assert sum(r.command == "complete" for r in history) == 100
    store.close()
