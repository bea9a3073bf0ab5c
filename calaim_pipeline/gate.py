"""The submission gate: a plan-month's 837 files come only from a judgement whose checks passed.

Dagster's blocking checks hold back later steps of the *same run* only: materializing ``submission``
alone (the UI's button, a backfill selecting it, ``dagster asset materialize``) would otherwise build
files for a month whose checks failed. So the gate lives in the domain, where every path to the
files passes:

- validation stamps the month's metrics with a **judgement id**: a digest of what was judged (the
  landed files' bytes, the rule catalog, code lists, thresholds and plans configuration, the code
  version) and of what came out (the accepted lines). The same inputs judged the same way give the
  same id, so a re-run of an unchanged month is recognisably unchanged;
- the checks step records its outcomes with the judgement id they were evaluated on
  (``checks.json`` beside ``metrics.json``);
- ``build_submission`` and ``mark_sent`` call :func:`require_passed`, which refuses unless the
  stored checks belong to the current judgement and no ERROR check failed, and the build verifies
  that the lake's accepted lines are the ones that judgement produced.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from calaim_pipeline import lake
from calaim_pipeline.catalog import CATALOG_DIR
from calaim_pipeline.catalog.checks import is_blocking
from calaim_pipeline.ingest.profiles import BUILTIN_DIR as BUILTIN_PROFILES_DIR
from calaim_pipeline.month_record import MonthRecord
from calaim_pipeline.settings import CONFIG_FILES, config_file
from calaim_pipeline.sqltext import sql_str

CHECKS_FILE = "checks.json"


class GateError(RuntimeError):
    """The plan-month may not get (or send) submission files: its checks failed or are stale."""


@dataclass(frozen=True)
class StoredCheck:
    name: str
    severity: str
    passed: bool
    summary: str


def _sha256_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def rules_fingerprint() -> dict[str, str]:
    """Content digests of everything besides the landed files that decides a judgement."""
    parts = {f"catalog/{p.name}": _sha256_file(p) for p in sorted(CATALOG_DIR.glob("*.yaml"))}
    parts |= {f"catalog/{p.name}": _sha256_file(p) for p in sorted(CATALOG_DIR.glob("*.csv"))}
    for name in CONFIG_FILES:
        path = config_file(name)
        if path.is_file():
            parts[f"config/{name}"] = _sha256_file(path)
    for path in sorted(BUILTIN_PROFILES_DIR.glob("*.yaml")):  # e.g. the Tuva input layer's
        parts[f"profiles/{path.name}"] = _sha256_file(path)
    try:
        parts["calaim-pipeline"] = metadata.version("calaim-pipeline")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        parts["calaim-pipeline"] = "source"
    return parts


def rules_version() -> str:
    """A short id of :func:`rules_fingerprint`: the Dagster ``code_version`` of the assets a
    judgement produces, so the UI marks months judged under older rules, thresholds or code."""
    return fingerprint_id(rules_fingerprint())


def fingerprint_id(fingerprint: dict[str, str]) -> str:
    """The short id of a rules fingerprint, as a month record or rule_results row stores it."""
    payload = json.dumps(fingerprint, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def input_digests(files: list[Path]) -> dict[str, str]:
    """sha256 of each landed file, by name: what the judgement read."""
    return {path.name: _sha256_file(path) for path in files}


def judgement_id(inputs: dict[str, str], rules: dict[str, str], outcome: dict[str, Any]) -> str:
    """A short stable id of (inputs, rules, outcome): equal ids mean the same accepted lines."""
    payload = json.dumps(
        {"inputs": inputs, "rules": rules, "outcome": outcome}, sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def checks_path(lake_root: Path, plan: str, month: str) -> Path:
    return lake.metrics_path(lake_root, plan, month).with_name(CHECKS_FILE)


def record_checks(
    lake_root: Path, plan: str, month: str, judgement: str, outcomes: list[Any]
) -> None:
    """Store the check outcomes with the judgement they were evaluated on (atomic)."""
    lake.write_json_atomic(
        checks_path(lake_root, plan, month),
        {
            "plan_code": plan,
            "extract_month": month,
            "judgement_id": judgement,
            "evaluated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "checks": [
                {"name": o.name, "severity": o.severity, "passed": o.passed, "summary": o.summary}
                for o in outcomes
            ],
        },
    )


def stored_checks(lake_root: Path, plan: str, month: str) -> tuple[str, list[StoredCheck]] | None:
    """(judgement id, outcomes) of the last checks run on the plan-month, if any."""
    path = checks_path(lake_root, plan, month)
    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    return record["judgement_id"], [StoredCheck(**check) for check in record["checks"]]


def current_judgement(lake_root: Path, plan: str, month: str) -> MonthRecord:
    """The judgement the lake holds for the plan-month: its record (id and accepted digest)."""
    record = lake.read_metrics(lake_root, plan, month)
    if record is None:
        raise GateError(f"{plan} {month} has not been validated: run the plan-month first")
    return record


def require_passed(lake_root: Path, plan: str, month: str) -> MonthRecord:
    """The current judgement's record, if its stored checks passed; else :class:`GateError`
    naming the month and the failed checks."""
    record = current_judgement(lake_root, plan, month)
    judgement = record.judgement_id
    stored = stored_checks(lake_root, plan, month)
    if stored is None or stored[0] != judgement:
        raise GateError(
            f"{plan} {month}: submission refused: the plan-month checks have not been evaluated "
            f"on its current judgement ({judgement}); run the whole plan-month (plan_month_job or "
            "`calaim run`) so the checks run before the files are built"
        )
    failed = [c for c in stored[1] if is_blocking(c.severity) and not c.passed]
    if failed:
        reasons = "; ".join(f"{c.name} ({c.summary})" for c in failed)
        raise GateError(
            f"{plan} {month}: submission refused: blocking check(s) failed: {reasons}. "
            "Fix the extract and re-drop it, then re-run the month"
        )
    return record


def accepted_digest(con: Any, lines_file: Path) -> str:
    """Order-independent digest of an accepted-lines Parquet file (row count and row hashes)."""
    ((count, total),) = con.execute(
        f"SELECT count(*), coalesce(sum(hash(t)), 0)::VARCHAR "
        f"FROM read_parquet({sql_str(str(lines_file))}) t"
    ).fetchall()
    return f"{int(count)}:{total}"
