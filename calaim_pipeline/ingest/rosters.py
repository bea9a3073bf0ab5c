"""The month's eligibility roster and provider directory, staged and shaped for the line rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from calaim_pipeline.ingest.contract import (
    MEMBER_COLUMNS,
    MEMBER_REQUIRED,
    PROVIDER_COLUMNS,
    PROVIDER_REQUIRED,
)
from calaim_pipeline.ingest.landing import PlanMonthDrop
from calaim_pipeline.ingest.reader import StagedFile, stage_csv
from calaim_pipeline.sqltext import sql_str

MEMBERS_INDEX, PROVIDERS_INDEX = 900, 901  # staging ids that never collide with extract files


def _stage_roster(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    index: int,
    work_dir: Path,
    columns: tuple[str, ...],
    required: tuple[str, ...],
) -> tuple[StagedFile, str]:
    staged = stage_csv(con, path, index, work_dir / f"{path.stem}.parquet", required, columns)
    return staged, f"SELECT * FROM read_parquet({sql_str(str(staged.staged_path))})"


def load_rosters(
    con: duckdb.DuckDBPyConnection, drop: PlanMonthDrop, work_dir: Path
) -> dict[str, Any]:
    members, members_sql = _stage_roster(
        con, drop.members_file, MEMBERS_INDEX, work_dir, MEMBER_COLUMNS, MEMBER_REQUIRED
    )
    providers, providers_sql = _stage_roster(
        con, drop.providers_file, PROVIDERS_INDEX, work_dir, PROVIDER_COLUMNS, PROVIDER_REQUIRED
    )
    con.execute(f"CREATE OR REPLACE TEMP VIEW members_raw AS {members_sql}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW providers_raw AS {providers_sql}")
    con.execute(
        "CREATE OR REPLACE TEMP VIEW roster AS SELECT member_cin, "
        "TRY_CAST(enrollment_start AS DATE) AS d_start, "
        "coalesce(TRY_CAST(enrollment_end AS DATE), DATE '9999-12-31') AS d_end "
        "FROM members_raw WHERE member_cin IS NOT NULL AND TRY_CAST(enrollment_start AS DATE) IS NOT NULL"
    )
    # One row per member: attributes of its first roster row and every enrollment span, so the
    # line rules join once on the CIN instead of running a correlated subquery per line.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE roster_members AS "
        "SELECT member_cin AS roster_cin, first(gender ORDER BY row) AS roster_gender, "
        "first(county_code ORDER BY row) AS roster_county, "
        "list({'d_start': d_start, 'd_end': d_end}) FILTER (d_start IS NOT NULL) AS roster_spans "
        "FROM (SELECT *, file_row_number AS row, TRY_CAST(enrollment_start AS DATE) AS d_start, "
        "coalesce(TRY_CAST(enrollment_end AS DATE), DATE '9999-12-31') AS d_end "
        f"FROM read_parquet({sql_str(str(members.staged_path))}, file_row_number=true)) "
        "WHERE member_cin IS NOT NULL GROUP BY member_cin"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE billing_providers_ok AS SELECT DISTINCT npi FROM providers_raw "
        "WHERE regexp_full_match(tax_id, '[0-9]{9}') AND regexp_full_match(zip, '[0-9]{9}')"
    )
    return {
        "members_rows": members.records,
        "members_unparseable": len(members.unparseable),
        "providers_rows": providers.records,
        "providers_unparseable": len(providers.unparseable),
    }
