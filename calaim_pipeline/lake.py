"""The Parquet lake: one file per table per plan-month, replaced whole with an atomic rename."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from calaim_pipeline import filemodes, owner
from calaim_pipeline.month_record import MonthRecord, read_month_record

# What validating a plan-month publishes.
LAKE_TABLES = (
    "encounter_lines",
    "encounter_rejects",
    "rule_results",
    "members",
    "providers",
    "roster_rejects",
)
# Everything the warehouse shows as a view: the validated tables, the submission ledger and the
# scorecard, each written per plan-month by the step that owns it.
WAREHOUSE_TABLES = (
    *LAKE_TABLES,
    "submissions",
    "submitted_lines",
    "dq_scorecard",
    "submission_responses",  # DHCS's 999 and 277CA answers (ledger/encounter_status.py)
    "encounter_status_history",
)
# Views over those views (derived, never stored): every submitted claim's current DHCS status and
# the rejected ones to correct (ledger/encounter_status.py, responses/worklist.py).
DERIVED_VIEWS = ("encounter_status", "corrections_worklist")
WAREHOUSE_VIEWS = (*WAREHOUSE_TABLES, *DERIVED_VIEWS)
METRICS_TABLE = "_metrics"


def partition_dir(lake: Path, table: str, plan: str, month: str) -> Path:
    return lake / table / f"plan_code={plan}" / f"extract_month={month}"


def partition_file(lake: Path, table: str, plan: str, month: str) -> Path:
    return partition_dir(lake, table, plan, month) / "data.parquet"


def publish_file(staged: Path, final: Path) -> None:
    """Move a finished file into place; readers see the old file or the new one, never half.
    It gets the data root's file mode first (filemodes), whoever wrote it."""
    filemodes.ensure_dir(final.parent)
    filemodes.secure_file(staged)
    os.replace(staged, final)


@contextmanager
def staged_path(final: Path) -> Iterator[Path]:
    """A temporary name beside ``final`` to write to; renamed onto ``final`` when the block ends
    without an error, removed when it raises. Readers see the old file or the new one, never half.

    The name carries this process's owner token (owner.py), so the clean-up at the start of a later
    run removes it only if this process died; DuckDB's own ``tmp_<name>`` is removed with it."""
    filemodes.ensure_dir(final.parent)
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=owner.temp_prefix(), suffix=final.suffix)
    os.close(fd)
    staged = Path(tmp)
    try:
        yield staged
        filemodes.secure_file(staged)
        os.replace(staged, final)
    finally:
        staged.unlink(missing_ok=True)
        staged.with_name(f"tmp_{staged.name}").unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    with staged_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: Path, payload: Any) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=str))


def write_partition(lake: Path, table: str, plan: str, month: str, data: pa.Table) -> Path:
    """Replace one plan-month partition of ``table`` with ``data`` (atomic)."""
    final = partition_file(lake, table, plan, month)
    with staged_path(final) as tmp:
        pq.write_table(data, tmp)
    return final


def partition_months(
    lake: Path, table: str, plan: str, file_name: str = "data.parquet"
) -> list[str]:
    """Months of a plan that have a ``file_name`` in ``table``, oldest first."""
    root = lake / table / f"plan_code={plan}"
    return sorted(
        f.parent.name.removeprefix("extract_month=")
        for f in root.glob(f"extract_month=*/{file_name}")
    )


def partition_plans(lake: Path, table: str) -> list[str]:
    """Plans with any partition of ``table``."""
    return sorted(
        p.name.removeprefix("plan_code=") for p in (lake / table).glob("plan_code=*") if p.is_dir()
    )


def metrics_path(lake: Path, plan: str, month: str) -> Path:
    return partition_dir(lake, METRICS_TABLE, plan, month) / "metrics.json"


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def read_metrics(lake: Path, plan: str, month: str) -> MonthRecord | None:
    """The plan-month's record (metrics.json), None when the month was never judged; a record
    this version cannot read raises MonthRecordError naming the file."""
    return read_month_record(metrics_path(lake, plan, month))
