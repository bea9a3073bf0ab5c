"""Reading the warehouse into pandas, for report authors (docs/warehouse.md "From pandas").

A connection helper that opens the DuckDB warehouse read-only (so a report never blocks or breaks
a pipeline run), and `read_table`, one warehouse table as a pandas DataFrame, filtered by plan and
extract month inside DuckDB so only the wanted partitions' files are read. No Dagster import: a
notebook or a report script needs only this module, duckdb and pandas.

    from calaim_pipeline import reports

    rejects = reports.read_table("encounter_rejects", plan="CHG", month="2026-09")
    with reports.connect() as con:
        df = con.sql("SELECT * FROM rule_results WHERE rows_failed > 0").df()
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from calaim_pipeline.lake import WAREHOUSE_TABLES
from calaim_pipeline.settings import MONTH_PATTERN, PLAN_CODE_PATTERN, data_paths
from calaim_pipeline.warehouse import attach_object_store


class ReportError(ValueError):
    """A table, plan or month a report asked for does not exist or is not well formed."""


def warehouse_path(path: str | Path | None = None) -> Path:
    """The warehouse file: `path` when given, else the data root's (CALAIM_DATA_DIR)."""
    found = Path(path) if path is not None else data_paths().warehouse
    if not found.is_file():
        raise ReportError(f"{found}: no warehouse there yet (run the pipeline first: make run)")
    return found


@contextmanager
def connect(path: str | Path | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only DuckDB connection to the warehouse, closed when the `with` block ends."""
    con = duckdb.connect(str(warehouse_path(path)), read_only=True)
    attach_object_store(con)
    try:
        yield con
    finally:
        con.close()


def _as_list(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _checked(values: list[str] | None, pattern, what: str) -> list[str] | None:
    for value in values or []:
        if not pattern.fullmatch(value):
            raise ReportError(f"{what} {value!r} is not well formed")
    return values


def read_table(
    name: str,
    *,
    plan: str | Iterable[str] | None = None,
    month: str | Iterable[str] | None = None,
    columns: Iterable[str] | None = None,
    path: str | Path | None = None,
) -> pd.DataFrame:
    """One warehouse table as a DataFrame, optionally only some plans (`plan="CHG"` or a list),
    extract months (`month="2026-09"` or a list) and columns. Read-only; values are passed as
    query parameters, never pasted into the SQL."""
    if name not in WAREHOUSE_TABLES:
        raise ReportError(f"unknown table {name!r}; the tables are {', '.join(WAREHOUSE_TABLES)}")
    plans = _checked(_as_list(plan), PLAN_CODE_PATTERN, "plan")
    months = _checked(_as_list(month), MONTH_PATTERN, "month")
    wanted = list(columns) if columns is not None else None
    where, params = [], []
    if plans is not None:
        where.append("list_contains(?, plan_code)")
        params.append(plans)
    if months is not None:
        where.append("list_contains(?, extract_month)")
        params.append(months)
    with connect(path) as con:
        existing = [
            row[0]
            for row in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [name]
            ).fetchall()
        ]
        if not existing:
            raise ReportError(f"table {name!r} is not in this warehouse yet (no partition ran)")
        unknown = [c for c in wanted or [] if c not in existing]
        if unknown:
            raise ReportError(f"{name} has no column(s) {', '.join(unknown)}")
        select = ", ".join(f'"{c}"' for c in wanted) if wanted else "*"
        sql = f"SELECT {select} FROM {name}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return con.execute(sql, params).df()
