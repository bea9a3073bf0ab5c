"""Run one plan-month: stage its files, judge every line, split accepted from rejected, publish.

Everything heavy happens inside DuckDB over Parquet, so memory is bounded by DuckDB's memory limit
(it spills to the work folder), not by the size of the extract. Python touches only the few
unparseable rows and the distinct code values.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from calaim_pipeline import gate, lake, recovery
from calaim_pipeline.ingest.contract import ALWAYS_REQUIRED
from calaim_pipeline.ingest.landing import PlanMonthDrop, landing_fingerprint
from calaim_pipeline.ingest.profile_sql import Reading
from calaim_pipeline.ingest.profiles import profile_for_plan
from calaim_pipeline.ingest.reader import stage_file
from calaim_pipeline.ingest.rosters import load_rosters, roster_counts
from calaim_pipeline.month_record import MonthRecord, record_json
from calaim_pipeline.settings import DataPaths, DuckDBLimits, Thresholds
from calaim_pipeline.sqltext import sql_str
from calaim_pipeline.submission import ledger
from calaim_pipeline.validation import judging, outputs
from calaim_pipeline.validation import metrics as metrics_sql
from calaim_pipeline.validation.contract_schema import validate_accepted_file


@dataclass
class PlanMonthResult:
    plan: str
    month: str
    metrics: MonthRecord
    timings: dict[str, float] = field(default_factory=dict)


def connect(work_dir: Path, limits: DuckDBLimits | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with a memory cap and spill folder, so a 10M-line month stays bounded."""
    limits = limits or DuckDBLimits.from_env()
    con = duckdb.connect(
        config={**limits.duckdb_config(), "temp_directory": str(work_dir / "spill")}
    )
    con.execute("SET enable_progress_bar = false")  # it would print into the CLI's output
    return con


def _copy(con: duckdb.DuckDBPyConnection, query: str, path: Path) -> None:
    con.execute(f"COPY ({query}) TO {sql_str(str(path))} (FORMAT parquet)")


# The stages a person watching a run is told about, and the phase whose end starts each one.
STAGES = ("staging", "judging", "writing")
_STAGE_AFTER = {"stage": "judging", "judge": "writing"}


class _Stopwatch:
    """Seconds per named phase, kept in metrics.json so slow months show where time went; tells
    `progress` (if given) when a stage a person would recognise begins (see STAGES)."""

    def __init__(self, progress: Callable[[str], None] | None = None) -> None:
        self.timings: dict[str, float] = {}
        self._progress = progress
        self._clock = time.perf_counter()
        if progress is not None:
            progress(STAGES[0])

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - self._clock, 3)
        self._clock = now
        if self._progress is not None and name in _STAGE_AFTER:
            self._progress(_STAGE_AFTER[name])


def _ledger_context(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """What the ledger rules compared against, so a reviewer knows whether they could fire."""
    ((known,),) = con.execute("SELECT known FROM ledger_history").fetchall()
    ((keys,),) = con.execute("SELECT count(*) FROM ledger_live_keys").fetchall()
    return {"earlier_months_known": bool(known), "live_line_keys": int(keys)}


def _write_rosters(con: duckdb.DuckDBPyConnection, drop: PlanMonthDrop, out: Path) -> None:
    """Kept roster rows to the lake's members/providers, rejected ones to roster_rejects."""
    head = f"SELECT {sql_str(drop.plan)} AS plan_code, {sql_str(drop.month)} AS extract_month"
    for table in ("members", "providers"):
        _copy(con, f"{head}, * FROM {table}_out", out / f"{table}.parquet")
    _copy(
        con,
        f"{head}, * FROM roster_rejects ORDER BY roster, source_row",
        out / "roster_rejects.parquet",
    )


def _judgement(
    con: duckdb.DuckDBPyConnection, drop: PlanMonthDrop, out: Path, inputs: dict[str, str]
) -> dict[str, Any]:
    """What identifies this judgement: see gate.py. The accepted digest is order-independent, so
    the same accepted lines give the same id however DuckDB's threads wrote them."""
    accepted = gate.accepted_digest(con, out / "encounter_lines.parquet")
    ((rejected,),) = con.execute(
        f"SELECT count(*) FROM read_parquet({sql_str(str(out / 'encounter_rejects.parquet'))})"
    ).fetchall()
    rules = gate.rules_fingerprint()
    outcome = {"accepted": accepted, "rejected": int(rejected)}
    return {
        "judgement_id": gate.judgement_id(inputs, rules, outcome),
        "accepted_digest": accepted,
        "input_files": inputs,
        "rules_fingerprint": rules,
        "rules_version": gate.fingerprint_id(rules),
    }


def _publish(paths: DataPaths, drop: PlanMonthDrop, out: Path, record: MonthRecord) -> None:
    """Move every finished file into the lake (atomic renames), metrics last."""
    for table in lake.LAKE_TABLES:
        lake.publish_file(
            out / f"{table}.parquet", lake.partition_file(paths.lake, table, drop.plan, drop.month)
        )
    lake.write_json_atomic(
        lake.metrics_path(paths.lake, drop.plan, drop.month), record_json(record)
    )


def run_plan_month(
    drop: PlanMonthDrop,
    paths: DataPaths,
    thresholds: Thresholds,
    *,
    today: date | None = None,
    progress: Callable[[str], None] | None = None,
    limits: DuckDBLimits | None = None,
) -> PlanMonthResult:
    """Judge one plan-month and replace its partition in the lake. Raises ExtractFileError when a
    file cannot be read at all (or ContractViolation); then nothing in the lake changes.
    `progress` is called with each stage's name (STAGES) as it begins."""
    ledger.refuse_if_sent(paths.lake, drop.plan, drop.month)
    profile = profile_for_plan(drop.plan)  # a bad profile fails before anything is read
    reading = Reading(profile, "encounters", drop.plan) if profile is not None else None
    watch = _Stopwatch(progress)
    # Taken before reading: a file that changes during the run makes the next sensor tick differ.
    landed = landing_fingerprint(drop.files)
    inputs = gate.input_digests(list(drop.files))
    work = recovery.WorkFolder(paths, f"{drop.plan}_{drop.month}")
    work_dir = work.path
    try:
        con = connect(work_dir, limits)
    except BaseException:
        work.remove()  # staging holds member data: removed on every path
        raise
    try:
        staged_files = [
            stage_file(con, path, index, work_dir, ALWAYS_REQUIRED, reading=reading)
            for index, path in enumerate(drop.encounter_files)
        ]
        rosters_read = load_rosters(con, drop, work_dir, profile=profile)
        watch.lap("stage")
        judging.prepare(con, staged_files, paths.lake, drop.plan, drop.month)
        watch.lap("lookups")
        judging.judge(
            con,
            drop.plan,
            drop.month,
            thresholds,
            today or date.today(),
            work_dir / "scratch.duckdb",
        )
        watch.lap("judge")

        out = work_dir / "out"
        out.mkdir()
        _copy(con, outputs.accepted_sql(drop.plan, drop.month), out / "encounter_lines.parquet")
        _copy(con, outputs.rejects_sql(drop.plan, drop.month), out / "encounter_rejects.parquet")
        watch.lap("split")
        contract_rows = validate_accepted_file(out / "encounter_lines.parquet")
        watch.lap("contract")

        measures = metrics_sql.compute(
            con,
            plan=drop.plan,
            month=drop.month,
            staged_files=staged_files,
            thresholds=thresholds,
            lake_root=paths.lake,
            out_dir=out,
        )
        _write_rosters(con, drop, out)
        record = MonthRecord(
            **measures.model_dump(),
            rosters=roster_counts(con, rosters_read, out),
            contract_checked_rows=contract_rows,
            ledger=_ledger_context(con),
            landing_fingerprint=landed,
            profile=profile.name if profile is not None else None,
            profile_hash=profile.content_hash if profile is not None else None,
            **_judgement(con, drop, out, inputs),
        )
        pq.write_table(
            outputs.rule_results_table(drop.plan, drop.month, record), out / "rule_results.parquet"
        )
        watch.lap("metrics")

        record = record.model_copy(update={"timings": dict(watch.timings)})
        _publish(paths, drop, out, record)
        watch.lap("publish")
        return PlanMonthResult(drop.plan, drop.month, record, watch.timings)
    finally:
        con.close()
        work.remove()
