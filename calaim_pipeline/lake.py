"""The Parquet lake: one file per table per plan-month, replaced whole with an atomic rename."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

# What validating a plan-month publishes.
LAKE_TABLES = ("encounter_lines", "encounter_rejects", "rule_results", "members", "providers")
# Everything the warehouse shows as a view: the validated tables, the submission ledger and the
# scorecard, each written per plan-month by the step that owns it.
WAREHOUSE_TABLES = (*LAKE_TABLES, "submissions", "submitted_lines", "dq_scorecard")
METRICS_TABLE = "_metrics"


def partition_dir(lake: Path, table: str, plan: str, month: str) -> Path:
    return lake / table / f"plan_code={plan}" / f"extract_month={month}"


def partition_file(lake: Path, table: str, plan: str, month: str) -> Path:
    return partition_dir(lake, table, plan, month) / "data.parquet"


def publish_file(staged: Path, final: Path) -> None:
    """Move a finished file into place; readers see the old file or the new one, never half."""
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, final)


def write_json_atomic(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=2, sort_keys=True, default=str)
    os.replace(tmp, path)


def metrics_path(lake: Path, plan: str, month: str) -> Path:
    return partition_dir(lake, METRICS_TABLE, plan, month) / "metrics.json"


def read_metrics(lake: Path, plan: str, month: str) -> dict[str, Any] | None:
    path = metrics_path(lake, plan, month)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
