"""DHCS's answers in the ledger: response rows, the status history and each claim's current status.

Two lake tables, partitioned by plan and by the extract month of *our* file that was answered,
each partition replaced whole by an atomic rename (lake.write_partition) while the plan's ledger
lock is held:

- ``submission_responses``: one row per transaction set a 999 acknowledges (IK5 code, IK3/IK4/IK5
  error codes) and one per 277CA transaction set (claim counts and amounts);
- ``encounter_status_history``: one row per claim per 277CA (accepted with its ICN, or rejected
  with its STC codes). Never overwritten by a newer response: history is kept.

``encounter_status`` is derived, never stored: every claim of ``submitted_lines`` with its newest
answer (latest response date, then latest ingestion), ``awaiting`` when there is none. One SQL
text (``status_select``) serves the warehouse view, the ledger rule that needs the original's ICN
(ORIGINAL_CLAIM_NOT_ACCEPTED) and the 837 build, which writes that ICN into REF*F8.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from calaim_pipeline import lake
from calaim_pipeline.sqltext import sql_list, sql_str

SUBMISSION_RESPONSES = "submission_responses"
STATUS_HISTORY = "encounter_status_history"
SUBMITTED_LINES = "submitted_lines"
AWAITING, ACCEPTED, REJECTED = "awaiting", "accepted", "rejected"

RESPONSES_SCHEMA = pa.schema(
    [
        ("plan_code", pa.string()),
        ("extract_month", pa.string()),
        ("response_type", pa.string()),  # 999 | 277CA
        ("response_file", pa.string()),
        ("response_sha256", pa.string()),
        ("response_interchange_control_number", pa.string()),
        ("response_date", pa.timestamp("s")),
        ("ingested_at", pa.timestamp("s")),
        ("simulated", pa.bool_()),
        ("file_name", pa.string()),
        ("interchange_control_number", pa.string()),
        ("group_control_number", pa.string()),
        ("transaction_set_control_number", pa.string()),
        ("ack_code", pa.string()),  # 999 IK501 (A, E, R, ...); 277CA: null
        ("group_ack_code", pa.string()),  # 999 AK901
        ("ik3_codes", pa.string()),
        ("ik4_codes", pa.string()),
        ("ik5_codes", pa.string()),
        ("claims_accepted", pa.int64()),
        ("claims_rejected", pa.int64()),
    ]
)

HISTORY_SCHEMA = pa.schema(
    [
        ("plan_code", pa.string()),
        ("extract_month", pa.string()),
        ("claim_id", pa.string()),
        ("frequency_code", pa.string()),
        ("file_name", pa.string()),
        ("interchange_control_number", pa.string()),
        ("status", pa.string()),  # accepted | rejected
        ("dhcs_icn", pa.string()),
        ("stc_codes", pa.string()),  # category:status[:entity], several joined with |
        ("response_file", pa.string()),
        ("response_sha256", pa.string()),
        ("response_date", pa.timestamp("s")),
        ("ingested_at", pa.timestamp("s")),
        ("simulated", pa.bool_()),
    ]
)


def append_partition(
    lake_root: Path, table: str, plan: str, month: str, rows: pa.Table, response_sha: str
) -> None:
    """Add one response's rows to a partition, replacing any rows an earlier (interrupted)
    ingestion of the same response left, so ingesting a file again never doubles its rows."""
    path = lake.partition_file(lake_root, table, plan, month)
    parts = []
    if path.is_file():
        old = pq.read_table(path)
        keep = pc.not_equal(old["response_sha256"], pa.scalar(response_sha))
        parts.append(old.filter(keep).cast(rows.schema))
    parts.append(rows)
    lake.write_partition(lake_root, table, plan, month, pa.concat_tables(parts))


def append_partition_sql(
    con: duckdb.DuckDBPyConnection,
    lake_root: Path,
    table: str,
    plan: str,
    month: str,
    select: str,
    response_sha: str,
) -> None:
    """append_partition for rows a query gives (a 277CA of a million claims never becomes
    Python objects): DuckDB writes old rows (but any of the same response) and new rows to a
    temporary file that replaces the partition."""
    path = lake.partition_file(lake_root, table, plan, month)
    query = select
    if path.is_file():
        query = (
            f"SELECT * FROM read_parquet({sql_str(str(path))}) "
            f"WHERE response_sha256 <> {sql_str(response_sha)} UNION ALL BY NAME ({select})"
        )
    with lake.staged_path(path) as tmp:
        con.execute(f"COPY ({query}) TO {sql_str(str(tmp))} (FORMAT parquet)")


def _files(lake_root: Path, table: str, plan: str) -> list[str]:
    months = lake.partition_months(lake_root, table, plan)
    return [str(lake.partition_file(lake_root, table, plan, m)) for m in months]


def ingested(lake_root: Path, plan: str) -> dict[str, str]:
    """sha256 → response file name of every response already ingested for the plan."""
    files = _files(lake_root, SUBMISSION_RESPONSES, plan)
    if not files:
        return {}
    columns = ["response_sha256", "response_file"]
    table = pa.concat_tables(pq.read_table(f, columns=columns) for f in files)
    return dict(
        zip(table["response_sha256"].to_pylist(), table["response_file"].to_pylist(), strict=True)
    )


def status_select(submitted: str, history: str | None) -> str:
    """Every submitted claim with its current status. `submitted` and `history` are relations
    (view names or read_parquet(...)); without history every claim is awaiting."""
    claims = f"""
SELECT plan_code, extract_month, claim_id, frequency_code, any_value(claim_type) AS claim_type,
  any_value(original_claim_id) AS original_claim_id, any_value(file_name) AS file_name,
  any_value(interchange_control_number) AS interchange_control_number, count(*) AS lines
FROM {submitted} GROUP BY plan_code, extract_month, claim_id, frequency_code"""
    if history is None:
        return f"""
SELECT c.*, '{AWAITING}' AS status, CAST(NULL AS VARCHAR) AS dhcs_icn,
  CAST(NULL AS VARCHAR) AS stc_codes, CAST(NULL AS VARCHAR) AS response_file,
  CAST(NULL AS TIMESTAMP) AS response_date, CAST(NULL AS BOOLEAN) AS simulated,
  CAST(0 AS BIGINT) AS responses
FROM ({claims}) c"""
    return f"""
SELECT c.*, coalesce(h.status, '{AWAITING}') AS status, h.dhcs_icn, h.stc_codes, h.response_file,
  h.response_date, h.simulated, coalesce(h.responses, 0) AS responses
FROM ({claims}) c
LEFT JOIN (
  SELECT *, count(*) OVER w AS responses FROM {history}
  WINDOW w AS (PARTITION BY plan_code, interchange_control_number, claim_id, frequency_code)
  QUALIFY row_number() OVER (
    PARTITION BY plan_code, interchange_control_number, claim_id, frequency_code
    ORDER BY response_date DESC, ingested_at DESC, response_file DESC) = 1
) h USING (plan_code, interchange_control_number, claim_id, frequency_code)"""


def plan_status_sql(lake_root: Path, plan: str) -> str | None:
    """The plan's current statuses from its lake files; None until a response was ingested
    (before that the ICN rule and lookup have nothing to go on: docs/decisions.md)."""
    history = _files(lake_root, STATUS_HISTORY, plan)
    submitted = _files(lake_root, SUBMITTED_LINES, plan)
    if not history or not submitted:
        return None
    return status_select(
        f"read_parquet([{sql_list(submitted)}], union_by_name = true)",
        f"read_parquet([{sql_list(history)}], union_by_name = true)",
    )


def sent_months_before(lake_root: Path, plan: str, month: str) -> list[str]:
    """Months of the plan marked sent before `month`: the only ones DHCS can have answered."""
    from calaim_pipeline.submission import ledger

    return [
        m
        for m in lake.partition_months(lake_root, "submissions", plan)
        if m < month and ledger.sent_status(lake_root, plan, m) is not None
    ]


def originals_sql(status: str, months: list[str]) -> str:
    """Per claim id submitted in one of `months` (sent earlier months): the status of its latest
    submission and, if that was accepted, its ICN (what a replacement or void puts in REF*F8)."""
    return f"""
SELECT claim_id, arg_max(status, extract_month || frequency_code) AS original_status,
  arg_max(dhcs_icn, extract_month || frequency_code) AS original_icn
FROM ({status}) WHERE extract_month IN ({sql_list(months)}) GROUP BY claim_id"""


def original_status_table_sql(lake_root: Path, plan: str, month: str, lines: str) -> list[str]:
    """Temp table ``ledger_original_status`` (line_pos, original_status): each replacement or void of
    ``lines`` whose original has no ICN yet, with why (``rejected`` or ``awaiting``). Empty until
    the plan has ingested a DHCS response. Originals in months built but not marked sent are
    left to the other ledger rules: DHCS cannot have answered them (docs/decisions.md)."""
    status = plan_status_sql(lake_root, plan)
    sent = sent_months_before(lake_root, plan, month) if status is not None else []
    if status is None or not sent:
        body = "SELECT CAST(NULL AS BIGINT) AS line_pos, CAST(NULL AS VARCHAR) AS original_status WHERE false"
    else:
        body = f"""
SELECT l.pos AS line_pos, o.original_status FROM {lines} l JOIN ({originals_sql(status, sent)}) o
  ON o.claim_id = l.original_claim_id
WHERE l.frequency_code IN ('7', '8') AND o.original_icn IS NULL"""
    return [f"CREATE OR REPLACE TEMP TABLE ledger_original_status AS {body}"]


def install_original_icns(
    con: duckdb.DuckDBPyConnection, lake_root: Path, plan: str, month: str
) -> int:
    """Fill the temp table the 837's REF*F8 reads (submission.accepted_lines.ORIGINAL_ICNS) with
    the DHCS ICN of each accepted original the plan sent before `month`; returns how many. Empty
    before any response was ingested (REF*F8 then holds the original claim id). Corrections whose
    original has no ICN never get here: the rule ORIGINAL_CLAIM_NOT_ACCEPTED rejects them."""
    from calaim_pipeline.submission.accepted_lines import ORIGINAL_ICNS

    status = plan_status_sql(lake_root, plan)
    sent = sent_months_before(lake_root, plan, month) if status is not None else []
    body = (
        f"SELECT claim_id, original_icn FROM ({originals_sql(status, sent)}) "
        "WHERE original_icn IS NOT NULL"
        if status is not None and sent
        else "SELECT CAST(NULL AS VARCHAR) AS claim_id, CAST(NULL AS VARCHAR) AS original_icn "
        "WHERE false"
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE {ORIGINAL_ICNS} AS {body}")
    ((count,),) = con.execute(f"SELECT count(*) FROM {ORIGINAL_ICNS}").fetchall()
    return int(count)
