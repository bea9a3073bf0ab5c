"""A per-plan lock that holds across machines: a PostgreSQL session advisory lock.

Why Postgres: the production profile already runs one for Dagster's run storage, an advisory lock
is released by the server the moment the holder's connection drops (a killed worker never leaves
a stale lock behind, unlike a lock object in a bucket), and it needs no table. The ``fcntl`` locks
of the ledger and the control numbers still guard processes on one host; with the data root on
object storage every writer of a plan's files first holds this lock, so only one machine at a
time reads, changes and publishes that plan's ledger, control numbers and month records.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

LOCK_DSN_ENV = "CALAIM_LOCK_DSN"
LOCK_WAIT_SECONDS = 1800.0  # a statewide month's plan takes minutes; a stuck holder is visible


class PlanLockError(RuntimeError):
    """No lock service configured, or the lock could not be had in time."""


def lock_dsn() -> str | None:
    return os.environ.get(LOCK_DSN_ENV, "").strip() or None


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` (the same on every machine)."""
    digest = hashlib.sha256(f"calaim-pipeline:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def plan_lock(plan: str, dsn: str, wait_seconds: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold plan ``plan``'s lock for the block; waits (polling) up to ``wait_seconds``."""
    import psycopg2  # dagster-postgres's driver; imported here so local runs never need it

    try:
        con = psycopg2.connect(dsn, connect_timeout=10, application_name=f"calaim lock {plan}")
    except psycopg2.Error as exc:
        # The DSN can carry a password: name the setting, not its value.
        raise PlanLockError(f"cannot reach the lock database ({LOCK_DSN_ENV}): {exc}") from None
    con.autocommit = True
    key = lock_key(f"plan:{plan}")
    try:
        deadline = time.monotonic() + wait_seconds
        with con.cursor() as cur:
            while True:
                cur.execute("SELECT pg_try_advisory_lock(%s)", (key,))
                if cur.fetchone()[0]:
                    break
                if time.monotonic() > deadline:
                    raise PlanLockError(f"plan {plan}: lock still held after {wait_seconds:.0f}s")
                time.sleep(0.5)
        try:
            yield
        finally:
            with con.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (key,))
    finally:
        con.close()
