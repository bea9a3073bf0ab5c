"""The corrections worklist: each rejected claim of a plan-month with its STC codes, what they mean
and what to do. A warehouse view (`corrections_worklist`) over `encounter_status`, and a CSV that
`calaim responses worklist --plan --month` writes. Claim ids and codes only: no member data."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb

from calaim_pipeline import lake
from calaim_pipeline.ledger import encounter_status as es
from calaim_pipeline.responses import codes
from calaim_pipeline.sqltext import sql_str

WORKLIST_COLUMNS = (
    "plan_code",
    "extract_month",
    "claim_id",
    "frequency_code",
    "file_name",
    "stc_codes",
    "meaning",
    "action",
    "response_file",
    "response_date",
    "simulated",
)
STATUS_MARKER = "encounter_status_history"  # the view reads the history once there is one


def _codes_relation() -> str:
    """The code meanings and actions as an inline VALUES relation."""
    rows = ", ".join(
        f"({sql_str(r.code)}, {sql_str(r.meaning)}, {sql_str(r.action)})" for r in codes.REJECTIONS
    )
    return f"(VALUES {rows}) AS m(code, meaning, action)"


def worklist_select(status: str) -> str:
    """The rejected claims of `status` (a relation shaped like encounter_status), explained."""
    default_action = codes.action("")
    return f"""
SELECT s.plan_code, s.extract_month, s.claim_id, s.frequency_code, s.file_name, s.stc_codes,
  coalesce(string_agg(DISTINCT m.meaning, '; '), 'see the STC codes') AS meaning,
  coalesce(string_agg(DISTINCT m.action, '; '), {sql_str(default_action)}) AS action,
  s.response_file, s.response_date, s.simulated
FROM ({status}) s
LEFT JOIN {_codes_relation()} ON list_contains(string_split(s.stc_codes, '|'), m.code)
WHERE s.status = '{es.REJECTED}'
GROUP BY ALL
ORDER BY s.plan_code, s.extract_month, s.claim_id, s.frequency_code"""


def derived_views(tables: list[str]) -> dict[str, tuple[str, str]]:
    """encounter_status (every submitted claim's current status) and corrections_worklist, as
    warehouse views; they read encounter_status_history once it has any partition."""
    if "submitted_lines" not in tables:
        return {}
    history = es.STATUS_HISTORY if es.STATUS_HISTORY in tables else None
    marker = STATUS_MARKER if history else "awaiting"
    status = es.status_select("submitted_lines", history)
    return {
        "encounter_status": (status, marker),
        "corrections_worklist": (worklist_select("SELECT * FROM encounter_status"), "rejected"),
    }


def write_worklist(lake_root: Path, plan: str, month: str, out: Path) -> int:
    """Write the plan-month's worklist as CSV (atomically); returns its row count."""
    status = es.plan_status_sql(lake_root, plan)
    rows: list[tuple] = []
    if status is not None:
        query = (
            f"SELECT {', '.join(WORKLIST_COLUMNS)} FROM ({worklist_select(status)}) "
            f"WHERE extract_month = {sql_str(month)}"
        )
        con = duckdb.connect()
        try:
            rows = con.execute(query).fetchall()
        finally:
            con.close()
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(WORKLIST_COLUMNS)
    writer.writerows(rows)
    lake.write_text_atomic(out, text.getvalue())
    return len(rows)
