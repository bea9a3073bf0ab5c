"""Judging staged lines: the relation every rule sees, the verdicts, and the claim holds.

Split from the engine so that three callers build the judged relation the same way: a plan-month
run (engine.run_plan_month), the catalog's compile check at load (rule_check.compile_problems, on
header-only files) and the rules' example test (rule_check.run_example, on a few rows). A rule
that compiles and passes its examples there therefore compiles and behaves the same in a run.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from calaim_pipeline.catalog import Rule, load_rules
from calaim_pipeline.ingest.contract import ENCOUNTER_COLUMNS
from calaim_pipeline.ingest.lines import values_by_line
from calaim_pipeline.ingest.reader import StagedFile, shift_bucket_table
from calaim_pipeline.ledger import encounter_status
from calaim_pipeline.months import month_bounds
from calaim_pipeline.settings import Thresholds
from calaim_pipeline.sqltext import sql_str
from calaim_pipeline.submission import ledger
from calaim_pipeline.validation import sql
from calaim_pipeline.validation.lookups import build_lookup_tables


def lines_view_sql(staged_files: list[StagedFile]) -> str:
    """All staged files as one relation; `record` is the 0-based position within the file."""
    parts = [
        f"SELECT {', '.join(ENCOUNTER_COLUMNS)}, {sql_str(staged.path.name)} AS source_file, "
        f"{staged.index} AS file_index, file_row_number AS record, "
        f"CAST({staged.index} AS BIGINT) * {sql.POSITION_STRIDE} + file_row_number AS pos "
        f"FROM read_parquet({sql_str(str(staged.staged_path))}, file_row_number=true)"
        for staged in staged_files
    ]
    return "CREATE OR REPLACE TEMP VIEW lines AS\n" + "\nUNION ALL\n".join(parts)


def register_shift_buckets(con: duckdb.DuckDBPyConnection, staged_files: list[StagedFile]) -> None:
    """The lookup that turns a record position into its physical line (see reader.shift_buckets)."""
    con.register("_shift_buckets", shift_bucket_table(staged_files))
    con.execute("CREATE OR REPLACE TEMP TABLE shift_buckets AS SELECT * FROM _shift_buckets")


CLAIM_ID_SHAPE = re.compile(r"[A-Za-z0-9-]{1,38}")


def unparseable_rows(staged_files: list[StagedFile]) -> pa.Table:
    """Unparseable records with a best-effort claim id read from the claim_id column position.

    `claim_ids` also holds the claim id of every further physical line of the record (an
    unterminated quote swallows whole rows): all those claims are held back, so a claim never
    goes out without a line that sits in a broken record."""
    files, lines, raws, errors, claims, all_claims = [], [], [], [], [], []
    for staged in staged_files:
        position = staged.claim_id_position
        for row in staged.unparseable:
            fields = next(csv.reader(io.StringIO(row["raw_text"]), delimiter=staged.delimiter), [])
            guess = (
                fields[position].strip()
                if position is not None and position < len(fields)
                else None
            )
            per_line = values_by_line(row["raw_text"], position, staged.delimiter)
            files.append(staged.path.name)
            lines.append(row["line"])
            raws.append(row["raw_text"])
            errors.append(row["error"])
            claims.append(guess or None)
            found = {guess} | {v for v in per_line[1:] if v and CLAIM_ID_SHAPE.fullmatch(v)}
            all_claims.append(sorted(c for c in found if c))
    return pa.table(
        {
            "source_file": pa.array(files, pa.string()),
            "source_row": pa.array(lines, pa.int64()),
            "raw_text": pa.array(raws, pa.string()),
            "parse_error": pa.array(errors, pa.string()),
            "claim_id_guess": pa.array(claims, pa.string()),
            "claim_ids": pa.array(all_claims, pa.list_(pa.string())),
        }
    )


def prepare(
    con: duckdb.DuckDBPyConnection,
    staged_files: list[StagedFile],
    lake_root: Path,
    plan: str,
    month: str,
) -> None:
    """The `lines` view, unparseable rows, code-list lookups, set-level and ledger rule tables.
    Needs the roster tables (ingest.rosters.load_rosters) for the views `judge` creates."""
    con.execute("SET preserve_insertion_order = false")  # order mattered only while staging
    register_shift_buckets(con, staged_files)
    con.execute(lines_view_sql(staged_files))
    con.register("_unparseable", unparseable_rows(staged_files))
    con.execute("CREATE OR REPLACE TEMP TABLE unparseable AS SELECT * FROM _unparseable")
    build_lookup_tables(con)
    for statement in sql.claim_set_tables_sql():
        con.execute(statement)
    for statement in ledger.ledger_tables_sql(lake_root, plan, month, "lines"):
        con.execute(statement)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE ledger_findings AS "
        + ledger.ledger_findings_sql("lines", sql.duplicate_key_sql())
    )
    for statement in encounter_status.original_status_table_sql(lake_root, plan, month, "lines"):
        con.execute(statement)  # corrections whose original has no DHCS ICN, and why


def create_judged_views(con: duckdb.DuckDBPyConnection, thresholds: Thresholds) -> None:
    """`typed` and `flags`: the judged relation the catalog's `when` expressions run over."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW typed AS {sql.typed_sql(thresholds)}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW flags AS {sql.flags_sql()}")


def judged_rules(rules: tuple[Rule, ...] | None = None) -> list[Rule]:
    """The rules decided by the verdict SQL (line rules and the ledger rules' flags)."""
    return [r for r in (load_rules() if rules is None else rules) if r.stage in ("line", "ledger")]


def judge(
    con: duckdb.DuckDBPyConnection,
    plan: str,
    month: str,
    thresholds: Thresholds,
    today: date,
    scratch: Path,
    rules: tuple[Rule, ...] | None = None,
) -> None:
    """Evaluate every line rule; keep verdicts for rows where one fired, then the claim holds.
    `rules` defaults to the catalog (the example test passes a changed rule to test itself)."""
    month_start, month_end = month_bounds(month)
    values = sql.rule_values(plan, month_start, month_end, today, thresholds)
    create_judged_views(con, thresholds)
    # A scratch DuckDB file rather than memory: it spills to disk under the memory limit.
    con.execute(f"ATTACH {sql_str(str(scratch))} AS scratch")
    con.execute(f"CREATE TABLE scratch.verdicts AS {sql.verdicts_sql(judged_rules(rules), values)}")
    # Claim atomicity: a claim with any rejected line (or an unparseable row naming it) is held.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rejected_claims AS "
        "SELECT DISTINCT claim_id FROM scratch.verdicts "
        "WHERE len(own_reject_rule_ids) > 0 AND claim_id IS NOT NULL "
        "UNION SELECT unnest(claim_ids) FROM unparseable"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rejected_positions AS "
        "SELECT pos FROM scratch.verdicts WHERE len(own_reject_rule_ids) > 0"
    )
