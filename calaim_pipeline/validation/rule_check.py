"""Rules checked as code: a tiny plan-month built through the real judging steps.

stage_extract writes a drop's files (encounter CSV, roster, provider directory, and earlier
submissions in a lake folder) and runs them through the real reader, roster loader, lookups and
ledger (validation.judging.prepare). compile_problems does that with no rows, so a rule's `when`
or `detail` that does not bind against the judged relation is reported with the rule's id when
the catalog loads; rule_examples does it with the rules' example rows.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from calaim_pipeline import lake
from calaim_pipeline.catalog import Rule
from calaim_pipeline.ingest.contract import (
    ALWAYS_REQUIRED,
    ENCOUNTER_COLUMNS,
    MEMBER_COLUMNS,
    PROVIDER_COLUMNS,
)
from calaim_pipeline.ingest.landing import PlanMonthDrop
from calaim_pipeline.ingest.reader import stage_file
from calaim_pipeline.ingest.rosters import load_rosters
from calaim_pipeline.months import month_bounds
from calaim_pipeline.settings import Thresholds, load_thresholds
from calaim_pipeline.sqltext import sql_str
from calaim_pipeline.submission import ledger
from calaim_pipeline.validation import judging, sql

LEDGER_INDEX = 902  # staging id of the example's ledger lines (rosters use 900 and 901)
COMPILE_PLAN, COMPILE_MONTH = "RULES", "2026-01"
EXAMPLE_ISA13 = "000000001"


@dataclass(frozen=True)
class Extract:
    """What one plan-month drop holds, as full rows: encounter lines (a text item is written to
    the CSV as it is, for unparseable rows), roster members, providers, and lines an earlier
    month submitted."""

    lines: list[dict[str, str | None] | str] = field(default_factory=list)
    members: list[dict[str, str | None]] = field(default_factory=list)
    providers: list[dict[str, str | None]] = field(default_factory=list)
    submitted: list[dict[str, str | None]] = field(default_factory=list)
    dhcs: dict[str, str] = field(default_factory=dict)  # claim id -> DHCS's answer


def small_connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"threads": 1})  # a few rows: one thread is faster
    con.execute("SET enable_progress_bar = false")
    return con


def _write_csv(path: Path, columns: Sequence[str], rows: Sequence[dict | str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            if isinstance(row, str):
                handle.write(row + "\n")
            else:
                writer.writerow(["" if row.get(c) is None else row[c] for c in columns])
    return path


def _write_ledger(
    con: duckdb.DuckDBPyConnection, work: Path, lake_root: Path, plan: str, month: str, rows: list
) -> None:
    """An earlier month in the ledger as a build would leave it: a submissions partition and its
    submitted lines, keyed with the same duplicate key the ledger rules compare."""
    path = _write_csv(work / "submitted.csv", ENCOUNTER_COLUMNS, rows)
    staged = stage_file(con, path, LEDGER_INDEX, work, ALWAYS_REQUIRED)
    key = sql.duplicate_key_sql()
    target = lake.partition_file(lake_root, ledger.SUBMITTED_LINES, plan, month)
    target.parent.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"COPY (SELECT plan_code, {sql_str(month)} AS extract_month, claim_id, claim_type, "
        "frequency_code, original_claim_id, line_number, "
        f"TRY_CAST(service_from_date AS DATE) AS service_from_date, {key} AS duplicate_key, "
        f"hash({key}) AS duplicate_hash, 'example.837' AS file_name, "
        f"'{EXAMPLE_ISA13}' AS interchange_control_number "
        f"FROM read_parquet({sql_str(str(staged.staged_path))})) "
        f"TO {sql_str(str(target))} (FORMAT parquet)"
    )
    head = lake.partition_file(lake_root, ledger.SUBMISSIONS, plan, month)
    head.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"file_name": ["example.837"], "status": [ledger.BUILT]}), head)


def _write_answers(lake_root: Path, plan: str, month: str, answers: dict[str, str]) -> None:
    """A 277CA ingested for the earlier month: accepted claims with an ICN, rejected ones with
    an STC code; `awaiting` claims get no row (the partition exists even if empty)."""
    from calaim_pipeline.ledger import encounter_status as es

    when = datetime(2026, 8, 1)
    rows = [
        {
            "plan_code": plan,
            "extract_month": month,
            "claim_id": claim,
            "frequency_code": "1",
            "file_name": "example.837",
            "interchange_control_number": EXAMPLE_ISA13,
            "status": status,
            "dhcs_icn": f"ICN{i:010d}" if status == es.ACCEPTED else None,
            "stc_codes": "A2:20" if status == es.ACCEPTED else "A7:562",
            "response_file": "example.277ca",
            "response_sha256": "example",
            "response_date": when,
            "ingested_at": when,
            "simulated": True,
        }
        for i, (claim, status) in enumerate(sorted(answers.items()))
        if status != es.AWAITING
    ]
    target = lake.partition_file(lake_root, es.STATUS_HISTORY, plan, month)
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, es.HISTORY_SCHEMA), target)
    # DHCS answers only what was sent: the earlier month is marked sent.
    head = lake.partition_file(lake_root, ledger.SUBMISSIONS, plan, month)
    sent = {"file_name": "example.837", "status": ledger.SENT, "created_at": "2026-07-01"}
    pq.write_table(pa.Table.from_pylist([sent | {"sent_at": "2026-07-02", "sent_by": "x"}]), head)


def stage_extract(
    con: duckdb.DuckDBPyConnection,
    work: Path,
    extract: Extract,
    plan: str,
    month: str,
    ledger_month: str | None = None,
    rules: Sequence[Rule] | None = None,
) -> None:
    """Write the drop's files under `work` and run them through staging and judging.prepare, so
    `con` holds every table the judged views need. `rules`: the catalog being loaded, if any (the
    rosters judge their rows with its roster rules rather than load the catalog again)."""
    folder = work / "landing"
    folder.mkdir(parents=True, exist_ok=True)
    encounters = _write_csv(folder / "encounters.csv", ENCOUNTER_COLUMNS, extract.lines)
    drop = PlanMonthDrop(
        plan=plan,
        month=month,
        folder=folder,
        encounter_files=(encounters,),
        members_file=_write_csv(folder / "members.csv", MEMBER_COLUMNS, extract.members),
        providers_file=_write_csv(folder / "providers.csv", PROVIDER_COLUMNS, extract.providers),
    )
    staged = stage_file(con, encounters, 0, work, ALWAYS_REQUIRED)
    load_rosters(con, drop, work, rules)
    lake_root = work / "lake"
    if extract.submitted and ledger_month:
        _write_ledger(con, work, lake_root, plan, ledger_month, extract.submitted)
        if extract.dhcs:
            _write_answers(lake_root, plan, ledger_month, extract.dhcs)
    judging.prepare(con, [staged], lake_root, plan, month)


def _duckdb_message(exc: duckdb.Error) -> str:
    """DuckDB's first paragraph (kind, message, candidate columns), without the SQL excerpt."""
    return " ".join(str(exc).split("\n\nLINE")[0].split())


def _bind(
    con: duckdb.DuckDBPyConnection, rule: Rule, values: dict[str, str]
) -> list[tuple[str, str, str]]:
    """The rule's `when` and `detail` bound over the judged relation the way verdicts_sql uses them."""
    problems = []
    when = sql.render_when(rule, values)
    try:
        ((_, kind, *_),) = con.execute(
            f"DESCRIBE SELECT ({when}) AS fired FROM judged f"
        ).fetchall()
        if kind != "BOOLEAN":
            problems.append((rule.id, "when", f"is {kind}, not a true/false condition"))
    except duckdb.Error as exc:
        problems.append((rule.id, "when", f"does not compile: {_duckdb_message(exc)}"))
    if rule.detail:
        try:
            con.execute(
                f"DESCRIBE SELECT {sql_str(rule.id + ': ')} || ({sql.render_detail(rule, values)}) "
                "FROM judged f"
            )
        except duckdb.Error as exc:
            problems.append((rule.id, "detail", f"does not compile: {_duckdb_message(exc)}"))
    return problems


def compile_problems(
    rules: Sequence[Rule], thresholds: Thresholds | None = None
) -> list[tuple[str, str, str]]:
    """(rule id, key, message) for every `when`/`detail` that does not bind against the judged
    relation or is not a condition. Builds the relation from header-only files (no data)."""
    thresholds = thresholds or load_thresholds()
    start, end = month_bounds(COMPILE_MONTH)
    values = sql.rule_values(COMPILE_PLAN, start, end, date.today(), thresholds)
    with (
        tempfile.TemporaryDirectory(prefix="calaim-rules-") as tmp,
        closing(small_connection()) as con,
    ):
        stage_extract(con, Path(tmp), Extract(), COMPILE_PLAN, COMPILE_MONTH, rules=rules)
        judging.create_judged_views(con, thresholds)
        con.execute("CREATE TEMP TABLE judged AS SELECT * FROM flags LIMIT 0")
        return [
            problem
            for rule in judging.judged_rules(tuple(rules))
            for problem in _bind(con, rule, values)
        ]
