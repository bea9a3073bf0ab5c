"""Which landed plan-months should run: the landing sensor's decision, kept out of Dagster.

A month runs again only when its landed files differ from those of its last successful judgement
(recorded in its metrics, however that run was started: CLI, schedule, sensor or UI), never once
it was marked sent. Re-dropping byte-identical files (new times, same content) does not run it:
the content is hashed only when names, sizes or times changed, once per change (``requested``
is the sensor's cursor). With the data root in a bucket (CALAIM_LAKE_URI) the same decision is
made from the bucket's listing (storage/session.py).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calaim_pipeline.gate import input_digests
from calaim_pipeline.ingest.landing import (
    fingerprint_of,
    is_landed_name,
    landed_files,
    landing_fingerprint,
)
from calaim_pipeline.lake import read_metrics
from calaim_pipeline.month_record import MonthRecord, MonthRecordError
from calaim_pipeline.settings import DataPaths
from calaim_pipeline.storage.object_store import ObjectStore, object_store
from calaim_pipeline.storage.session import landed_plan_months, pull, record_scope
from calaim_pipeline.submission import ledger


def _same_bytes(files: list[Path], judged_inputs: dict[str, str]) -> bool:
    """Whether the landed files are byte for byte the ones judged (hashed only when their names,
    sizes or times changed, once per change)."""
    if sorted(p.name for p in files) != sorted(judged_inputs):
        return False
    try:
        return input_digests(files) == judged_inputs
    except OSError:  # a broken link: let the run refuse it with its message
        return False


@dataclass(frozen=True)
class _Landed:
    """One landed plan-month as the sensor sees it, on local disk or in a bucket."""

    plan: str
    month: str
    fingerprint: str
    judged: Callable[[], MonthRecord | None]  # its last judgement (raises MonthRecordError)
    sent: Callable[[], bool]
    same_bytes: Callable[[dict[str, str]], bool]  # are the files byte for byte the judged ones


def _landed(plan: str, month: str, fingerprint: str, lake: Path, same_bytes: Callable) -> _Landed:
    """The month's questions answered from the lake folder ``lake`` (the data root's, or a copy)."""
    return _Landed(
        plan,
        month,
        fingerprint,
        judged=lambda: read_metrics(lake, plan, month),
        sent=lambda: ledger.sent_status(lake, plan, month) is not None,
        same_bytes=same_bytes,
    )


def _on_disk(paths: DataPaths, plan: str, month: str) -> _Landed:
    files = landed_files(paths.landing / plan / month)
    fingerprint = landing_fingerprint(files)
    return _landed(plan, month, fingerprint, paths.lake, lambda inputs: _same_bytes(files, inputs))


def _in_bucket(store: ObjectStore, scratch: Path, plan: str, month: str) -> _Landed:
    """The same questions answered from the bucket: the listing gives the fingerprint, the month
    record and the ledger are copied to ``scratch`` to read, and the files are downloaded and
    hashed only when asked (once per change of the fingerprint)."""
    folder = f"landing/{plan}/{month}"
    objects = [o for o in store.list(folder) if is_landed_name(o.key.rsplit("/", 1)[-1])]
    entries = [(o.key.rsplit("/", 1)[-1], o.size, o.mtime_ns) for o in objects]
    local = DataPaths(scratch / f"{plan}_{month}")
    pull(store, local.root, record_scope(plan, month))

    def same_bytes(inputs: dict[str, str]) -> bool:
        for obj in objects:
            store.download(obj.key, local.root / obj.key, obj.mtime_ns)
        return _same_bytes(landed_files(local.landing / plan / month), inputs)

    return _landed(plan, month, fingerprint_of(entries), local.lake, same_bytes)


def months_to_run(
    paths: DataPaths,
    plans: list[str],
    open_months: set[str],
    requested: dict[str, str],
    log: logging.Logger | Any,
) -> list[tuple[str, str, str]]:
    """(plan, month, fingerprint) of landed plan-months whose files differ from those of their
    last successful judgement, however that run was started (CLI, schedule, sensor, UI), and that
    were not already requested with these very files. Sent months never run again."""
    found, refused = landed_plan_months(paths, plans)  # local disk or the bucket
    for message in refused:
        log.warning(f"landing refused: {message}")
    store = object_store()
    with tempfile.TemporaryDirectory(prefix="sensor-", dir=_scratch(paths)) as scratch:
        due = []
        for plan, month in found:
            if month not in open_months:
                log.warning(f"{plan}/{month}: not an open extract month; skipped")
                continue
            landed = (
                _on_disk(paths, plan, month)
                if store is None
                else _in_bucket(store, Path(scratch), plan, month)
            )
            if _is_due(landed, requested, log):
                due.append((plan, month, landed.fingerprint))
    return due


def _scratch(paths: DataPaths) -> Path:
    paths.work.mkdir(parents=True, exist_ok=True)
    return paths.work


def _is_due(landed: _Landed, requested: dict[str, str], log: logging.Logger | Any) -> bool:
    plan, month, fingerprint = landed.plan, landed.month, landed.fingerprint
    key = f"{plan}|{month}"
    try:
        judged = landed.judged()
    except MonthRecordError as exc:  # run it again: the run rebuilds the record
        log.warning(f"{plan}/{month}: {exc}")
        judged = None
    if (judged and judged.landing_fingerprint == fingerprint) or requested.get(key) == fingerprint:
        return False
    requested[key] = fingerprint  # decided once per fingerprint, whatever the outcome
    if landed.sent():
        return False
    if judged and landed.same_bytes(judged.input_files):
        log.info(f"{plan}/{month}: files re-dropped with the same content; not run again")
        return False
    return True
