"""Which landed plan-months should run: the landing sensor's decision, kept out of Dagster.

A month runs again only when its landed files differ from those of its last successful judgement
(recorded in its metrics, however that run was started: CLI, schedule, sensor or UI), never once
it was marked sent. Re-dropping byte-identical files (new times, same content) does not run it:
the content is hashed only when names, sizes or times changed, once per change (``requested``
is the sensor's cursor).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from calaim_pipeline.gate import input_digests
from calaim_pipeline.ingest.landing import landed_files, landed_plan_months, landing_fingerprint
from calaim_pipeline.lake import read_metrics
from calaim_pipeline.month_record import MonthRecordError
from calaim_pipeline.settings import DataPaths
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
    found, refused = landed_plan_months(paths, plans)
    for message in refused:
        log.warning(f"landing refused: {message}")
    due = []
    for plan, month in found:
        if month not in open_months:
            log.warning(f"{plan}/{month}: not an open extract month; skipped")
            continue
        files = landed_files(paths.landing / plan / month)
        fingerprint = landing_fingerprint(files)
        key = f"{plan}|{month}"
        try:
            judged = read_metrics(paths.lake, plan, month)
        except MonthRecordError as exc:  # run it again: the run rebuilds the record
            log.warning(f"{plan}/{month}: {exc}")
            judged = None
        if (judged and judged.landing_fingerprint == fingerprint) or requested.get(
            key
        ) == fingerprint:
            continue
        requested[key] = fingerprint  # decided once per fingerprint, whatever the outcome
        if ledger.sent_status(paths.lake, plan, month):
            continue
        if judged and _same_bytes(files, judged.input_files):
            log.info(f"{plan}/{month}: files re-dropped with the same content; not run again")
            continue
        due.append((plan, month, fingerprint))
    return due
