"""Plan-month measures the checks and scorecards read: counts, rates and examples, no member data.

Computed once per run in DuckDB from the judged rows and the files just written, and stored as
metrics.json beside the partition so checks, the CLI and later months (volume history) read them
without touching the lines again.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from calaim_pipeline import lake
from calaim_pipeline.catalog import FAMILIES, line_rules
from calaim_pipeline.ingest.contract import (
    ALWAYS_REQUIRED,
    REQUIRED_FOR_INSTITUTIONAL,
    REQUIRED_FOR_PROFESSIONAL,
)
from calaim_pipeline.ingest.reader import StagedFile
from calaim_pipeline.month_record import MonthMeasures
from calaim_pipeline.months import month_bounds, shift_month
from calaim_pipeline.settings import Thresholds
from calaim_pipeline.sqltext import sql_list, sql_str
from calaim_pipeline.validation.sql import CLAIM_RULE, typed_values_sql

EXAMPLES_PER_RULE = 5


def _one(con: duckdb.DuckDBPyConnection, query: str) -> tuple:
    return con.execute(query).fetchall()[0]


def _file_counts(
    con: duckdb.DuckDBPyConnection, staged_files: list[StagedFile], out_dir: Path
) -> list[dict]:
    accepted = dict(
        con.execute(
            f"SELECT source_file, count(*) FROM read_parquet({sql_str(str(out_dir / 'encounter_lines.parquet'))}) "
            "GROUP BY ALL"
        ).fetchall()
    )
    rejected = dict(
        con.execute(
            f"SELECT source_file, count(*) FROM read_parquet({sql_str(str(out_dir / 'encounter_rejects.parquet'))}) "
            "GROUP BY ALL"
        ).fetchall()
    )
    files = []
    for staged in staged_files:
        name = staged.path.name
        read = staged.records + len(staged.unparseable)
        files.append(
            {
                "file": name,
                "format": staged.kind,
                "rows_read": read,
                "accepted": int(accepted.get(name, 0)),
                "rejected": int(rejected.get(name, 0)),
                "unparseable": len(staged.unparseable),
                "reconciles": read == accepted.get(name, 0) + rejected.get(name, 0),
                "extra_columns": staged.extra_columns,
            }
        )
    return files


def _completeness(con: duckdb.DuckDBPyConnection, thresholds: Thresholds) -> dict[str, dict]:
    inpatient = sql_list(thresholds.inpatient_facility_types.value)
    scopes: dict[str, str] = {c: "true" for c in ALWAYS_REQUIRED}
    scopes |= {c: "claim_type = 'P'" for c in REQUIRED_FOR_PROFESSIONAL}
    scopes |= {c: "claim_type = 'I'" for c in REQUIRED_FOR_INSTITUTIONAL}
    scopes["admission_date"] = f"claim_type = 'I' AND facility_type_code IN ({inpatient})"
    scopes["original_claim_id"] = "frequency_code IN ('7', '8')"
    selects = []
    for column, scope in scopes.items():
        selects.append(f"count(*) FILTER ({scope})")
        selects.append(f"count(*) FILTER ({scope} AND {column} IS NOT NULL)")
    row = _one(con, f"SELECT {', '.join(selects)} FROM lines")
    result = {}
    for i, column in enumerate(scopes):
        applicable, filled = int(row[2 * i]), int(row[2 * i + 1])
        result[column] = {
            "applicable": applicable,
            "filled": filled,
            "rate": round(filled / applicable, 6) if applicable else None,
        }
    return result


def _family_validity(
    con: duckdb.DuckDBPyConnection, rows_read: int, unparseable: int
) -> dict[str, dict]:
    rules = [r for r in line_rules() if r.id != CLAIM_RULE]
    selects = []
    for family in FAMILIES:
        ids = [r.id for r in rules if r.family == family]
        selects.append(
            f"count(*) FILTER (list_has_any(list_concat(own_reject_rule_ids, warn_rule_ids), [{sql_list(ids)}]))"
            if ids
            else "0"
        )
    row = _one(con, f"SELECT {', '.join(selects)} FROM scratch.verdicts")
    result = {}
    for family, failed in zip(FAMILIES, row, strict=True):
        failed = int(failed) + (unparseable if family == "validity" else 0)
        result[family] = {
            "rows_failed": failed,
            "pass_rate": round(1 - failed / rows_read, 6) if rows_read else None,
        }
    return result


def _examples(con: duckdb.DuckDBPyConnection, out_dir: Path) -> dict[str, list[dict]]:
    rejects = sql_str(str(out_dir / "encounter_rejects.parquet"))
    accepted = sql_str(str(out_dir / "encounter_lines.parquet"))
    rows = con.execute(
        f"""
        WITH flat AS (
          SELECT unnest(list_concat(rule_ids, warn_rule_ids)) AS rule_id, claim_id, source_file, source_row
          FROM read_parquet({rejects})
          UNION ALL
          SELECT unnest(warn_rule_ids), claim_id, source_file, source_row
          FROM read_parquet({accepted}) WHERE len(warn_rule_ids) > 0
        )
        SELECT rule_id, claim_id, source_file, source_row FROM (
          SELECT *, row_number() OVER (PARTITION BY rule_id ORDER BY source_file, source_row) AS rn FROM flat
        ) WHERE rn <= {EXAMPLES_PER_RULE} ORDER BY rule_id, source_file, source_row
        """
    ).fetchall()
    examples: dict[str, list[dict]] = {}
    for rule_id, claim_id, source_file, source_row in rows:
        examples.setdefault(rule_id, []).append(
            {"claim_id": claim_id, "file": source_file, "line": int(source_row)}
        )
    return examples


def _volume_history(lake_root: Path, plan: str, month: str, months_back: int) -> list[dict]:
    history = []
    for offset in range(1, months_back + 1):
        earlier = shift_month(month, -offset)
        stored = lake.read_metrics(lake_root, plan, earlier)
        if stored is not None:
            history.append({"month": earlier, "rows_read": stored.rows_read})
    return history


def compute(
    con: duckdb.DuckDBPyConnection,
    *,
    plan: str,
    month: str,
    staged_files: list[StagedFile],
    thresholds: Thresholds,
    lake_root: Path,
    out_dir: Path,
) -> MonthMeasures:
    """All plan-month measures, from the lines, the verdicts and the written output files."""
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW typed_lines AS SELECT l.*, {typed_values_sql()} FROM lines l"
    )
    checks = thresholds.checks
    files = _file_counts(con, staged_files, out_dir)
    rows_read = sum(f["rows_read"] for f in files)
    unparseable = sum(f["unparseable"] for f in files)
    accepted = sum(f["accepted"] for f in files)
    rejected = sum(f["rejected"] for f in files)

    rejects_file = sql_str(str(out_dir / "encounter_rejects.parquet"))
    accepted_file = sql_str(str(out_dir / "encounter_lines.parquet"))
    rule_counts = dict(
        con.execute(
            "SELECT rule_id, count(*) FROM ("
            "SELECT unnest(list_concat(own_reject_rule_ids, warn_rule_ids)) AS rule_id FROM scratch.verdicts "
            f"UNION ALL SELECT '{CLAIM_RULE}' FROM read_parquet({rejects_file}) "
            f"WHERE rule_ids = ['{CLAIM_RULE}']) GROUP BY ALL"
        ).fetchall()
    )
    if unparseable:
        rule_counts["ROW_UNPARSEABLE"] = unparseable
    rule_counts = {k: int(v) for k, v in sorted(rule_counts.items())}

    within = int(checks.paid_within_days.value)
    (warned,) = _one(
        con, f"SELECT count(*) FROM read_parquet({accepted_file}) WHERE len(warn_rule_ids) > 0"
    )
    dated, paid_within, lag_p50, lag_p90, lag_30, lag_90, lag_180 = _one(
        con,
        f"""SELECT count(*) FILTER (d_paid IS NOT NULL AND d_from IS NOT NULL),
                  count(*) FILTER (d_paid - d_from <= {within}),
                  quantile_cont(d_paid - d_from, 0.5), quantile_cont(d_paid - d_from, 0.9),
                  count(*) FILTER (d_paid - d_from <= 30), count(*) FILTER (d_paid - d_from <= 90),
                  count(*) FILTER (d_paid - d_from <= 180)
           FROM typed_lines""",
    )
    (ecm_lines,) = _one(
        con,
        "SELECT count(*) FROM typed_lines t JOIN ecm_cs e "
        "ON e.hcpcs = t.procedure_code AND t.d_from BETWEEN e.d_start AND e.d_end",
    )
    ecm_bad = rule_counts.get("ECM_CS_MODIFIER_MISSING", 0)
    month_start, month_end = month_bounds(month)
    (enrolled_members,) = _one(
        con,
        "SELECT count(DISTINCT member_cin) FROM roster "
        f"WHERE d_start <= DATE '{month_end}' AND d_end >= DATE '{month_start}'",
    )
    # One pass over the accepted claims: how many, their totals, and how many billed $0.
    claims_accepted, billed_total, paid_total, zero_billed_claims = _one(
        con,
        "SELECT count(*), sum(billed), sum(paid), count(*) FILTER (billed = 0) FROM ("
        "SELECT claim_id, sum(billed_amount) AS billed, sum(paid_amount) AS paid "
        f"FROM read_parquet({accepted_file}) GROUP BY claim_id)",
    )
    (claims_read,) = _one(con, "SELECT count(DISTINCT claim_id) FROM lines")
    duplicates = rule_counts.get("DUPLICATE_LINE_IN_MONTH", 0)

    measures = {
        "plan": plan,
        "month": month,
        "files": files,
        "rows_read": rows_read,
        "accepted": accepted,
        "rejected": rejected,
        "unparseable": unparseable,
        "accepted_with_warnings": int(warned),
        "reject_rate": round(rejected / rows_read, 6) if rows_read else 0.0,
        "claims_read": int(claims_read),
        "claims_accepted": int(claims_accepted),
        "claims_billed_zero": int(zero_billed_claims or 0),
        "billed_total": float(billed_total or 0),
        "paid_total": float(paid_total or 0),
        "rule_counts": rule_counts,
        "rule_examples": _examples(con, out_dir),
        "completeness": _completeness(con, thresholds),
        "family_validity": _family_validity(con, rows_read, unparseable),
        "duplicates": {
            "rows": duplicates,
            "rate": round(duplicates / rows_read, 6) if rows_read else 0.0,
        },
        "ecm_cs": {
            "lines": int(ecm_lines),
            "invalid": int(ecm_bad),
            "valid_share": round(1 - ecm_bad / ecm_lines, 6) if ecm_lines else None,
        },
        "timeliness": {
            "dated_lines": int(dated),
            "paid_within_days": within,
            "paid_within_share": round(paid_within / dated, 6) if dated else None,
            "lag_days_p50": float(lag_p50) if lag_p50 is not None else None,
            "lag_days_p90": float(lag_p90) if lag_p90 is not None else None,
            "share_within_30": round(lag_30 / dated, 6) if dated else None,
            "share_within_90": round(lag_90 / dated, 6) if dated else None,
            "share_within_180": round(lag_180 / dated, 6) if dated else None,
        },
        "utilisation": {
            "enrolled_members": int(enrolled_members),
            "claims_accepted": int(claims_accepted),
            "encounters_per_member_month": round(claims_accepted / enrolled_members, 6)
            if enrolled_members
            else None,
        },
        "volume_history": _volume_history(
            lake_root, plan, month, int(checks.volume_history_months.value)
        ),
    }
    return MonthMeasures.model_validate(measures)
