"""Run one plan-month: stage its files, judge every line, split accepted from rejected, publish.

Everything heavy happens inside DuckDB over Parquet, so memory is bounded by DuckDB's memory limit
(it spills to the work folder), not by the size of the extract. Python touches only the few
unparseable rows and the distinct code values.
"""

from __future__ import annotations

import csv
import io
import os
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from calaim_pipeline import lake, recovery
from calaim_pipeline.catalog import load_rules
from calaim_pipeline.ingest.contract import (
    ALWAYS_REQUIRED,
    ENCOUNTER_COLUMNS,
)
from calaim_pipeline.ingest.landing import PlanMonthDrop
from calaim_pipeline.ingest.reader import StagedFile, shift_buckets, stage_file
from calaim_pipeline.ingest.rosters import load_rosters
from calaim_pipeline.months import month_bounds
from calaim_pipeline.settings import DataPaths, Thresholds
from calaim_pipeline.sqltext import sql_str
from calaim_pipeline.submission import ledger
from calaim_pipeline.validation import metrics as metrics_sql
from calaim_pipeline.validation import outputs, sql
from calaim_pipeline.validation.contract_schema import validate_accepted_file
from calaim_pipeline.validation.lookups import build_lookup_tables


@dataclass
class PlanMonthResult:
    plan: str
    month: str
    metrics: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)


def connect(work_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with a memory cap and spill folder, so a 10M-line month stays bounded."""
    con = duckdb.connect(
        config={
            "memory_limit": os.environ.get("CALAIM_DUCKDB_MEMORY", "1500MB"),
            "threads": int(os.environ.get("CALAIM_DUCKDB_THREADS", os.cpu_count() or 2)),
            "temp_directory": str(work_dir / "spill"),
        }
    )
    con.execute("SET enable_progress_bar = false")  # it would print into the CLI's output
    return con


def _lines_view_sql(staged_files: list[StagedFile]) -> str:
    """All staged files as one relation; `record` is the 0-based position within the file."""
    parts = [
        f"SELECT {', '.join(ENCOUNTER_COLUMNS)}, {sql_str(staged.path.name)} AS source_file, "
        f"{staged.index} AS file_index, file_row_number AS record, "
        f"CAST({staged.index} AS BIGINT) * {sql.POSITION_STRIDE} + file_row_number AS pos "
        f"FROM read_parquet({sql_str(str(staged.staged_path))}, file_row_number=true)"
        for staged in staged_files
    ]
    return "CREATE OR REPLACE TEMP VIEW lines AS\n" + "\nUNION ALL\n".join(parts)


def _register_shift_buckets(con: duckdb.DuckDBPyConnection, staged_files: list[StagedFile]) -> None:
    """The lookup that turns a record position into its physical line (see reader.shift_buckets)."""
    rows = [row for staged in staged_files for row in shift_buckets(staged)]
    schema = pa.schema(
        [
            ("file_index", pa.int64()),
            ("bucket", pa.int64()),
            ("base", pa.int64()),
            ("offsets", pa.list_(pa.int64())),
        ]
    )
    con.register("_shift_buckets", pa.Table.from_pylist(rows, schema=schema))
    con.execute("CREATE OR REPLACE TEMP TABLE shift_buckets AS SELECT * FROM _shift_buckets")


def _unparseable_rows(staged_files: list[StagedFile]) -> pa.Table:
    """Unparseable records with a best-effort claim id read from the claim_id column position."""
    files, lines, raws, errors, claims = [], [], [], [], []
    for staged in staged_files:
        position = staged.claim_id_position
        for row in staged.unparseable:
            fields = next(csv.reader(io.StringIO(row["raw_text"])), [])
            guess = (
                fields[position].strip()
                if position is not None and position < len(fields)
                else None
            )
            files.append(staged.path.name)
            lines.append(row["line"])
            raws.append(row["raw_text"])
            errors.append(row["error"])
            claims.append(guess or None)
    return pa.table(
        {
            "source_file": pa.array(files, pa.string()),
            "source_row": pa.array(lines, pa.int64()),
            "raw_text": pa.array(raws, pa.string()),
            "parse_error": pa.array(errors, pa.string()),
            "claim_id_guess": pa.array(claims, pa.string()),
        }
    )


def _copy(con: duckdb.DuckDBPyConnection, query: str, path: Path) -> None:
    con.execute(f"COPY ({query}) TO {sql_str(str(path))} (FORMAT parquet)")


class _Stopwatch:
    """Seconds per named phase, kept in metrics.json so slow months show where time went."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._clock = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - self._clock, 3)
        self._clock = now


def _prepare(
    con: duckdb.DuckDBPyConnection,
    staged_files: list[StagedFile],
    paths: DataPaths,
    drop: PlanMonthDrop,
) -> None:
    """The `lines` view, unparseable rows, code-list lookups, set-level and ledger rule tables."""
    con.execute("SET preserve_insertion_order = false")  # order mattered only while staging
    _register_shift_buckets(con, staged_files)
    con.execute(_lines_view_sql(staged_files))
    con.register("_unparseable", _unparseable_rows(staged_files))
    con.execute("CREATE OR REPLACE TEMP TABLE unparseable AS SELECT * FROM _unparseable")
    build_lookup_tables(con)
    for statement in sql.claim_set_tables_sql():
        con.execute(statement)
    for statement in ledger.ledger_tables_sql(paths.lake, drop.plan, drop.month, "lines"):
        con.execute(statement)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE ledger_findings AS "
        + ledger.ledger_findings_sql("lines", sql.duplicate_key_sql())
    )


def _judge(
    con: duckdb.DuckDBPyConnection,
    drop: PlanMonthDrop,
    thresholds: Thresholds,
    today: date,
    work_dir: Path,
) -> None:
    """Evaluate every line rule; keep verdicts for rows where one fired, then the claim holds."""
    month_start, month_end = month_bounds(drop.month)
    values = sql.rule_values(drop.plan, month_start, month_end, today, thresholds)
    line_rules = [r for r in load_rules() if r.stage in ("line", "ledger")]
    con.execute(f"CREATE OR REPLACE TEMP VIEW typed AS {sql.typed_sql(thresholds)}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW flags AS {sql.flags_sql()}")
    # A scratch DuckDB file rather than memory: it spills to disk under the memory limit.
    con.execute(f"ATTACH {sql_str(str(work_dir / 'scratch.duckdb'))} AS scratch")
    con.execute(f"CREATE TABLE scratch.verdicts AS {sql.verdicts_sql(line_rules, values)}")
    # Claim atomicity: a claim with any rejected line (or an unparseable row naming it) is held.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rejected_claims AS "
        "SELECT DISTINCT claim_id FROM scratch.verdicts "
        "WHERE len(own_reject_rule_ids) > 0 AND claim_id IS NOT NULL "
        "UNION SELECT claim_id_guess FROM unparseable WHERE claim_id_guess IS NOT NULL"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rejected_positions AS "
        "SELECT pos FROM scratch.verdicts WHERE len(own_reject_rule_ids) > 0"
    )


def _ledger_context(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """What the ledger rules compared against, so a reviewer knows whether they could fire."""
    ((known,),) = con.execute("SELECT known FROM ledger_history").fetchall()
    ((keys,),) = con.execute("SELECT count(*) FROM ledger_live_keys").fetchall()
    return {"earlier_months_known": bool(known), "live_line_keys": int(keys)}


def _write_rosters(con: duckdb.DuckDBPyConnection, drop: PlanMonthDrop, out: Path) -> None:
    head = f"SELECT {sql_str(drop.plan)} AS plan_code, {sql_str(drop.month)} AS extract_month"
    for table, source in (("members", "members_raw"), ("providers", "providers_raw")):
        _copy(con, f"{head}, * FROM {source}", out / f"{table}.parquet")


def _publish(paths: DataPaths, drop: PlanMonthDrop, out: Path, metrics: dict[str, Any]) -> None:
    """Move every finished file into the lake (atomic renames), metrics last."""
    for table in lake.LAKE_TABLES:
        lake.publish_file(
            out / f"{table}.parquet", lake.partition_file(paths.lake, table, drop.plan, drop.month)
        )
    lake.write_json_atomic(lake.metrics_path(paths.lake, drop.plan, drop.month), metrics)


def run_plan_month(
    drop: PlanMonthDrop,
    paths: DataPaths,
    thresholds: Thresholds,
    *,
    today: date | None = None,
) -> PlanMonthResult:
    """Judge one plan-month and replace its partition in the lake. Raises ExtractFileError when a
    file cannot be read at all (or ContractViolation); then nothing in the lake changes."""
    ledger.refuse_if_sent(paths.lake, drop.plan, drop.month)
    watch = _Stopwatch()
    work = recovery.WorkFolder(paths, f"{drop.plan}_{drop.month}")
    work_dir = work.path
    try:
        con = connect(work_dir)
    except BaseException:
        work.remove()  # staging holds member data: removed on every path
        raise
    try:
        staged_files = [
            stage_file(con, path, index, work_dir, ALWAYS_REQUIRED)
            for index, path in enumerate(drop.encounter_files)
        ]
        roster_counts = load_rosters(con, drop, work_dir)
        watch.lap("stage")
        _prepare(con, staged_files, paths, drop)
        watch.lap("lookups")
        _judge(con, drop, thresholds, today or date.today(), work_dir)
        watch.lap("judge")

        out = work_dir / "out"
        out.mkdir()
        _copy(con, outputs.accepted_sql(drop.plan, drop.month), out / "encounter_lines.parquet")
        _copy(con, outputs.rejects_sql(drop.plan, drop.month), out / "encounter_rejects.parquet")
        watch.lap("split")
        contract_rows = validate_accepted_file(out / "encounter_lines.parquet")
        watch.lap("contract")

        metrics = metrics_sql.compute(
            con,
            plan=drop.plan,
            month=drop.month,
            staged_files=staged_files,
            thresholds=thresholds,
            lake_root=paths.lake,
            out_dir=out,
        )
        metrics |= {
            "rosters": roster_counts,
            "contract_checked_rows": contract_rows,
            "ledger": _ledger_context(con),
        }
        pq.write_table(
            outputs.rule_results_table(drop.plan, drop.month, metrics), out / "rule_results.parquet"
        )
        _write_rosters(con, drop, out)
        watch.lap("metrics")

        metrics["timings"] = watch.timings
        _publish(paths, drop, out, metrics)
        watch.lap("publish")
        return PlanMonthResult(drop.plan, drop.month, metrics, watch.timings)
    finally:
        con.close()
        work.remove()
