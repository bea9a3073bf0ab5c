"""The reader of the lake's accepted lines for the 837: one plan-month's lines of one claim type,
joined to the month's member roster and provider directory, as one SQL relation with named columns.

Everything the 837 renderer reads comes from this relation's columns (``x12/renderer.py``). In
particular, 2300 ``REF*F8`` (the claim a replacement or void corrects) reads exactly one column,
``payer_claim_control_number``: the DHCS ICN of the accepted original (temp table
``original_icns``, installed by the build from ``encounter_status``), else the plan's original
claim id.

No Dagster: plain SQL text over Parquet files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from calaim_pipeline.ingest.contract import (
    DIAGNOSIS_COLUMNS,
    ENCOUNTER_COLUMNS,
    PROVIDER_COLUMNS,
)
from calaim_pipeline.lake import partition_dir
from calaim_pipeline.sqltext import sql_list, sql_str

CLAIM_TYPES = ("P", "I")
# 2300 REF*F8's source, an expression over the accepted line ``l`` and ``oi`` (the temp table
# ORIGINAL_ICNS): the DHCS ICN of the accepted original a replacement or void corrects
# (ledger/encounter_status.py fills it), else the plan's original claim id (no response yet).
ORIGINAL_ICNS = "original_icns"
_F8_SOURCE = "coalesce(oi.original_icn, l.original_claim_id)"
F8_FIELD = "original_claim_id"  # how errors about it name it

# Every contract column the 837 uses: all but the plan (from the folder) and the received date.
LINE_COLUMNS = tuple(
    c for c in ENCOUNTER_COLUMNS if c not in ("plan_code", "received_date", "original_claim_id")
)
MEMBER_FIELDS = ("last_name", "first_name", "gender", "address_line_1", "city", "state", "zip")
PROVIDER_FIELDS = tuple(c for c in PROVIDER_COLUMNS if c != "npi")  # npi is the join key
__all__ = [
    "CLAIM_TYPES",
    "DIAGNOSIS_COLUMNS",
    "accepted_lines_sql",
    "lake_sources",
    "with_rosters_sql",
]


def _files(lake_root: Path, table: str, plan: str, month: str) -> list[str]:
    return [str(p) for p in sorted(partition_dir(lake_root, table, plan, month).glob("*.parquet"))]


def lake_sources(
    lake_root: Path, plan: str, month: str, claim_type: str
) -> tuple[list[str], list[str], list[str]] | None:
    """(encounter_lines, members, providers) Parquet files of the plan-month; None without lines."""
    if claim_type not in CLAIM_TYPES:
        raise ValueError(f"claim_type must be P or I, not {claim_type!r}")
    lines = _files(lake_root, "encounter_lines", plan, month)
    if not lines:
        return None
    members = _files(lake_root, "members", plan, month)
    providers = _files(lake_root, "providers", plan, month)
    for table, found in (("members", members), ("providers", providers)):
        if not found:
            raise FileNotFoundError(f"no {table} partition for {plan} {month} under {lake_root}")
    return lines, members, providers


# Free-text roster columns: names and addresses (the 837 reduces them to ASCII upper case).
MEMBER_TEXT = ("last_name", "first_name", "address_line_1", "city")
PROVIDER_TEXT = ("name", "first_name", "address_line_1", "city")


def free_text_sql(sources: tuple[list[str], list[str], list[str]]) -> str:
    """The distinct non-ASCII values of the free-text roster columns (column ``raw``)."""
    _, members, providers = sources
    parts = [
        f"SELECT {c} AS raw FROM read_parquet([{sql_list(files)}]) WHERE strlen({c}) <> length({c})"
        for files, columns in ((members, MEMBER_TEXT), (providers, PROVIDER_TEXT))
        for c in columns
    ]
    return "SELECT DISTINCT raw FROM (" + " UNION ALL ".join(parts) + ")"


def _folded(
    columns: tuple[str, ...], others: tuple[str, ...], fold_table: str | None
) -> tuple[str, str]:
    """(select list, joins): free-text columns replaced by their ASCII folding from
    ``fold_table`` (raw, folded) when it is given."""
    if fold_table is None:
        return ", ".join(columns), ""
    select = [f"coalesce(f_{c}.folded, s.{c}) AS {c}" if c in others else f"s.{c}" for c in columns]
    joins = " ".join(f"LEFT JOIN {fold_table} f_{c} ON f_{c}.raw = s.{c}" for c in others)
    return ", ".join(select), joins


def _source(files: list[str]) -> str:
    return (
        f"read_parquet([{sql_list(files)}], hive_partitioning=false, filename=true, "
        "file_row_number=true)"
    )


def ensure_original_icns(con: Any) -> None:
    """The ICN table REF*F8 reads, empty unless the build installed the plan's (no response yet,
    or a caller such as a test rendering lines alone): then REF*F8 holds the original claim id."""
    con.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {ORIGINAL_ICNS} (claim_id VARCHAR, original_icn VARCHAR)"
    )


def accepted_lines_sql(sources: tuple[list[str], list[str], list[str]], claim_type: str) -> str:
    """One row per accepted line of ``claim_type``: the contract columns the 837 uses and
    ``payer_claim_control_number`` (2300 REF*F8)."""
    if claim_type not in CLAIM_TYPES:
        raise ValueError(f"claim_type must be P or I, not {claim_type!r}")
    return (
        f"SELECT {', '.join(f'l.{c}' for c in LINE_COLUMNS)}, "
        f"{_F8_SOURCE} AS payer_claim_control_number "
        f"FROM {_source(sources[0])} l LEFT JOIN {ORIGINAL_ICNS} oi "
        "ON l.frequency_code IN ('7', '8') AND oi.claim_id = l.original_claim_id "
        f"WHERE l.claim_type = {sql_str(claim_type)}"
    )


def with_rosters_sql(
    sources: tuple[list[str], list[str], list[str]],
    relation: str,
    *,
    fold_table: str | None = None,
) -> str:
    """``relation`` (rows with member_cin, billing_npi, billing_taxonomy, rendering_npi,
    rendering_taxonomy, attending_npi: a claim's first line) joined to the month's rosters: the
    member (``m_*``: the latest enrollment span's roster row), the billing, rendering and attending
    providers (``b_*``, ``r_*``, ``a_*``: one directory row per NPI, a complete one first; the
    billing and rendering taxonomy is the line's, else the directory's). With ``fold_table`` (a
    relation of ``raw``, ``folded``), free-text roster values found in it are replaced by their
    ASCII folding."""
    _, members, providers = sources
    member_select, member_joins = _folded(
        ("member_cin", *MEMBER_FIELDS, "birth_date"), MEMBER_TEXT, fold_table
    )
    provider_select, provider_joins = _folded(("npi", *PROVIDER_FIELDS), PROVIDER_TEXT, fold_table)
    member_cols = ", ".join(f"m.{c} AS m_{c}" for c in MEMBER_FIELDS)
    provider_cols = ", ".join(
        f"{alias}.{c} AS {alias}_{c}"
        for alias in ("b", "r", "a")
        for c in PROVIDER_FIELDS
        if not (alias in ("b", "r") and c == "taxonomy")
    )
    return f"""
WITH mk AS (
  SELECT filename, file_row_number FROM {_source(members)} WHERE member_cin IS NOT NULL
  QUALIFY row_number() OVER (PARTITION BY member_cin
    ORDER BY TRY_CAST(enrollment_start AS DATE) DESC NULLS LAST, filename, file_row_number) = 1
),
m0 AS (
  SELECT member_cin, {", ".join(MEMBER_FIELDS)}, TRY_CAST(birth_date AS DATE) AS birth_date
  FROM {_source(members)} s
  SEMI JOIN mk ON mk.filename = s.filename AND mk.file_row_number = s.file_row_number
),
m AS (SELECT {member_select} FROM m0 s {member_joins}),
p0 AS (
  SELECT npi, {", ".join(PROVIDER_FIELDS)} FROM {_source(providers)} WHERE npi IS NOT NULL
  QUALIFY row_number() OVER (PARTITION BY npi
    ORDER BY (regexp_full_match(coalesce(tax_id, ''), '[0-9]{{9}}')
              AND regexp_full_match(coalesce(zip, ''), '[0-9]{{9}}')) DESC, filename, file_row_number) = 1
),
p AS (SELECT {provider_select} FROM p0 s {provider_joins})
SELECT c.*, {member_cols}, m.birth_date AS m_birth_date,
  {provider_cols},
  coalesce(nullif(c.billing_taxonomy, ''), b.taxonomy) AS b_taxonomy,
  coalesce(nullif(c.rendering_taxonomy, ''), r.taxonomy) AS r_taxonomy
FROM {relation} c
LEFT JOIN m ON m.member_cin = c.member_cin
LEFT JOIN p b ON b.npi = c.billing_npi
LEFT JOIN p r ON r.npi = c.rendering_npi
LEFT JOIN p a ON a.npi = c.attending_npi
"""
