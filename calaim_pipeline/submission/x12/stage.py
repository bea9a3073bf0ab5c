"""Stage a plan-month's accepted lines of one claim type for the renderer: the reader's lines with
the claim's totals and diagnosis list, the claim order, the transaction-set numbers, the HL
numbering and each claim's first problem, sorted by claim and line into a scratch Parquet file.

Everything here is set-based DuckDB SQL: the only sequential part of an 837 body, the HL numbers, is
gaps and islands over the claims in file order (a new 2000A where the billing provider changes or a
set starts, a new 2000B where the member changes under it or after 100 claims of one member).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from calaim_pipeline.sqltext import sql_str
from calaim_pipeline.submission import accepted_lines
from calaim_pipeline.submission.accepted_lines import DIAGNOSIS_COLUMNS
from calaim_pipeline.submission.x12 import text
from calaim_pipeline.submission.x12.checks import problem_sql
from calaim_pipeline.submission.x12.envelope import (
    CLAIMS_PER_TRANSACTION_SET,
    TRANSACTION_FOR_CLAIM_TYPE,
    check_transaction,
)

CLAIMS_PER_SUBSCRIBER = 100  # TR3: loop 2300 repeats at most 100 times under one 2000B
MODIFIER_COLUMNS = tuple(f"modifier_{i}" for i in range(1, 5))
_FOLDS = "x12_folds"


def _diagnoses_sql() -> tuple[str, str]:
    """(dx, dx_index): the claim's diagnoses without empty columns (no dots, upper case), and for
    each diagnosis_N column the 1-based position it got (0 when empty), for the line pointers."""
    present = [f"x12_nonempty({c})" for c in DIAGNOSIS_COLUMNS]
    dx = (
        f"list_transform(list_filter([{', '.join(DIAGNOSIS_COLUMNS)}], lambda d: x12_nonempty(d)), "
        "lambda d: upper(trim(replace(d, '.', ''))))"
    )
    index = [
        f"CASE WHEN {present[k]} THEN {' + '.join(f'{p}::INT' for p in present[: k + 1])} ELSE 0 END"
        for k in range(len(present))
    ]
    return dx, "[" + ", ".join(index) + "]"


def _register_folds(con: duckdb.DuckDBPyConnection, sources) -> str | None:
    """The roster's distinct non-ASCII free-text values and their ASCII folding, as a view."""
    values = con.sql(accepted_lines.free_text_sql(sources)).to_arrow_table()["raw"]
    if len(values) == 0:
        return None
    con.register(_FOLDS, text.fold_table(values.combine_chunks()))
    return _FOLDS


def stage_sql(lines_sql: str, transaction: str, claims_per_transaction_set: int) -> str:
    dx, dx_index = _diagnoses_sql()
    line_problem, claim_problem = problem_sql(transaction)
    pointers = (
        "list_transform(list_filter(string_split(coalesce(diagnosis_pointers, ''), ','), "
        "lambda p: regexp_full_match(trim(p), '[0-9]+')), "
        "lambda p: coalesce(dx_index[TRY_CAST(trim(p) AS INTEGER)], 0))"
    )
    cpts = int(claims_per_transaction_set)
    by_seq = "OVER (ORDER BY claim_seq ROWS UNBOUNDED PRECEDING)"
    return f"""
WITH l AS ({lines_sql}),
x AS (
  SELECT *, {dx} AS dx, {dx_index} AS dx_index,
    list_filter([{", ".join(MODIFIER_COLUMNS)}], lambda m: x12_nonempty(m)) AS modifiers
  FROM l
),
y AS (SELECT * EXCLUDE (dx_index), {pointers} AS pointers FROM x),
z AS (SELECT *, {line_problem} AS line_problem FROM y),
c AS (
  SELECT claim_id, frequency_code, count(*) AS claim_lines,
    sum(billed_amount) AS claim_billed, sum(paid_amount) AS claim_paid,
    min(service_from_date) AS claim_from,
    max(coalesce(service_to_date, service_from_date)) AS claim_to,
    arg_min(coalesce(place_of_service, ''), line_number) AS claim_pos,
    arg_min(line_problem, line_number) AS claim_line_problem,
    arg_min(coalesce(billing_npi, '') || '|' || coalesce(b_taxonomy, ''), line_number) AS billing_key,
    arg_min(coalesce(member_cin, ''), line_number) AS member_key
  FROM z GROUP BY claim_id, frequency_code
),
h0 AS (SELECT *, row_number() OVER (ORDER BY claim_id, frequency_code) AS claim_seq FROM c),
h1 AS (
  SELECT *, (claim_seq - 1) // {cpts} + 1 AS set_no,
    (claim_seq - 1) % {cpts} = 0
      OR billing_key IS DISTINCT FROM lag(billing_key) OVER (ORDER BY claim_seq) AS b_start,
    member_key IS DISTINCT FROM lag(member_key) OVER (ORDER BY claim_seq) AS member_changed
  FROM h0
),
h2 AS (
  SELECT *, CAST(sum(b_start::INT) {by_seq} AS BIGINT) AS b_run,
    CAST(sum((b_start OR member_changed)::INT) {by_seq} AS BIGINT) AS m_run
  FROM h1
),
h3 AS (
  SELECT *, (claim_seq - min(claim_seq) OVER (PARTITION BY m_run)) % {CLAIMS_PER_SUBSCRIBER} = 0
    AS s_start
  FROM h2
),
h4 AS (
  SELECT *, CAST(sum(b_start::INT + s_start::INT)
    OVER (PARTITION BY set_no ORDER BY claim_seq ROWS UNBOUNDED PRECEDING) AS BIGINT) AS subscriber_hl
  FROM h3
),
h AS (
  SELECT * EXCLUDE (billing_key, member_key, member_changed, m_run),
    subscriber_hl - s_start::INT AS billing_hl,
    first_value(subscriber_hl - s_start::INT) OVER (PARTITION BY b_run ORDER BY claim_seq) AS parent_hl
  FROM h4
),
j AS (
  SELECT z.*, h.* EXCLUDE (claim_id, frequency_code),
    row_number() OVER (PARTITION BY z.claim_id, z.frequency_code ORDER BY z.line_number) AS lx
  FROM z JOIN h USING (claim_id, frequency_code)
)
SELECT * EXCLUDE (line_problem, claim_line_problem),
  CASE WHEN lx = 1 THEN {claim_problem} END AS claim_problem
FROM j ORDER BY claim_seq, lx
"""


def stage_claims(
    lake_root: Path,
    plan: str,
    month: str,
    claim_type: str,
    out: Path,
    con: duckdb.DuckDBPyConnection,
    *,
    claims_per_transaction_set: int = CLAIMS_PER_TRANSACTION_SET,
) -> int:
    """Write the month's staged lines of one claim type to ``out``; returns the number of claims
    (0, and no file, when the month has none)."""
    sources = accepted_lines.lake_sources(lake_root, plan, month, claim_type)
    if sources is None:
        return 0
    transaction = TRANSACTION_FOR_CLAIM_TYPE[claim_type]
    check_transaction(transaction, claims_per_transaction_set)
    text.install(con)
    folds = _register_folds(con, sources)
    try:
        lines = accepted_lines.accepted_lines_sql(sources, claim_type, fold_table=folds)
        query = stage_sql(lines, transaction, claims_per_transaction_set)
        con.execute(f"COPY ({query}) TO {sql_str(str(out))} (FORMAT parquet)")
    finally:
        if folds is not None:
            con.unregister(folds)
    ((count,),) = con.execute(
        f"SELECT coalesce(max(claim_seq), 0) FROM read_parquet({sql_str(str(out))})"
    ).fetchall()
    return int(count)
