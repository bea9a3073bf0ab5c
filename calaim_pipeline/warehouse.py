"""The DuckDB warehouse: views over the Parquet lake that report authors query read-only.

DuckDB lets one process write a database file at a time (stack-notes.md). The warehouse tables are
views over the lake's partition files, so a pipeline run writes only Parquet (atomic renames) and
needs the warehouse's write lock only when a view definition must change (first run, or a moved
data root). That step retries on a lock held by a reader or another run instead of failing.

Every read-write session is recorded in a writer journal next to the warehouse file
(`writers.jsonl`: process id, host, start and end times, never data), so operators and tests can
show that no two writers ever overlapped.
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from calaim_pipeline import filemodes
from calaim_pipeline.lake import WAREHOUSE_TABLES
from calaim_pipeline.settings import DataPaths
from calaim_pipeline.storage.object_store import duckdb_filesystem, object_store

LOCK_WAIT_SECONDS = 300.0
WRITER_JOURNAL = "writers.jsonl"


class WarehouseBusy(RuntimeError):
    """The warehouse stayed locked by another process for longer than the wait allows."""


def lake_glob(paths: DataPaths, table: str) -> str:
    """Where a view reads its table: the lake's own files, on local disk or on object storage."""
    store = object_store()
    if store is not None:
        return store.url(f"lake/{table}/*/*/data.parquet").replace("'", "''")
    return (paths.lake / table / "*" / "*" / "data.parquet").as_posix().replace("'", "''")


def attach_object_store(con: duckdb.DuckDBPyConnection) -> None:
    """Let ``con`` read ``s3://`` paths of the data root's store (a no-op on local disk); every
    connection that reads a view over an object-storage lake needs it once."""
    store = object_store()
    if store is not None:
        con.register_filesystem(duckdb_filesystem(store))


def view_sql(paths: DataPaths, table: str) -> str:
    glob = lake_glob(paths, table)
    return (
        f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM "
        f"read_parquet('{glob}', union_by_name = true, hive_partitioning = false)"
    )


def writer_journal(path: Path) -> Path:
    """The journal of read-write sessions of the warehouse file at `path`."""
    return path.parent / WRITER_JOURNAL


def _journal_write_session(path: Path, started: tuple[float, float], ended: tuple[float, float]):
    """Append one record in a single O_APPEND write, so records of concurrent processes never mix."""
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "start_wall": started[0],
        "end_wall": ended[0],
        "start_monotonic": started[1],
        "end_monotonic": ended[1],
    }
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    fd = os.open(
        writer_journal(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, filemodes.policy().file_mode
    )
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _is_lock_error(exc: duckdb.Error) -> bool:
    text = str(exc).lower()
    return "lock" in text or "conflicting" in text or "being used" in text


@contextmanager
def open_warehouse(
    path: Path, *, read_only: bool, wait_seconds: float = LOCK_WAIT_SECONDS
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse, waiting (jittered backoff) while another process holds a conflicting lock."""
    filemodes.ensure_dir(path.parent)
    deadline = time.monotonic() + wait_seconds
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            attach_object_store(con)
            break
        except duckdb.Error as exc:
            if not _is_lock_error(exc) or time.monotonic() > deadline:
                if _is_lock_error(exc):
                    raise WarehouseBusy(f"{path} stayed locked for {wait_seconds:.0f}s") from exc
                raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 2.0)
    # A writer's session starts once DuckDB granted its lock and ends after the lock is released.
    started = (time.time(), time.monotonic())
    try:
        yield con
    finally:
        con.close()
        if not read_only:
            if path.is_file() and path.stat().st_uid == os.geteuid():
                filemodes.secure_file(path)  # DuckDB creates it by the umask alone
            _journal_write_session(path, started, (time.time(), time.monotonic()))


def _current_views(paths: DataPaths) -> dict[str, str]:
    if not paths.warehouse.exists():
        return {}
    with open_warehouse(paths.warehouse, read_only=True) as con:
        return dict(
            con.execute("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal").fetchall()
        )


def _wanted_tables(paths: DataPaths) -> list[str]:
    store = object_store()
    if store is not None:
        present = {
            o.key.split("/")[1] for o in store.list("lake") if o.key.endswith("/data.parquet")
        }
        return [t for t in WAREHOUSE_TABLES if t in present]
    return [t for t in WAREHOUSE_TABLES if any((paths.lake / t).glob("*/*/data.parquet"))]


def _derived_views(tables: list[str]) -> dict[str, tuple[str, str]]:
    """Views over other views: name -> (SQL, a text its stored SQL holds while it is current)."""
    from calaim_pipeline.responses.worklist import derived_views

    return derived_views(tables)


def ensure_views(paths: DataPaths) -> list[str]:
    """Make every lake table a warehouse view; returns the views it had to (re)create. A step's
    private folder on an object-storage data root keeps no warehouse (it is discarded): report
    authors' warehouse is refreshed where they read it (`calaim warehouse`)."""
    if paths.ephemeral:
        return []
    tables = _wanted_tables(paths)
    wanted = {table: view_sql(paths, table) for table in tables}
    current = _current_views(paths)
    # A view is current when it reads this data root's files (DuckDB stores its own SQL text).
    stale = [t for t in wanted if lake_glob(paths, t) not in current.get(t, "")]
    derived = _derived_views(tables)
    stale += [v for v, (_, marker) in derived.items() if marker not in current.get(v, "")]
    if not stale:
        return []
    with open_warehouse(paths.warehouse, read_only=False) as con:
        for table in stale:
            if table in wanted:
                con.execute(wanted[table])
        for view in stale:
            if view in derived:
                con.execute(f"CREATE OR REPLACE VIEW {view} AS {derived[view][0]}")
    return stale
