"""What a plan-month run came to, as one verdict a person can act on.

Why a verdict and not the run's success flag: a month whose blocking check fails, a month marked
sent, a missing landing folder and an unchanged month are all expected outcomes of a monthly
process. Each gets a status, a one-line reason and what happened to its 837 files; only a
problem nobody expected is an error, and even then its reason is the failure's own message
(which names the file, line or month), never a stack trace.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from calaim_pipeline.lake import read_metrics
from calaim_pipeline.month_record import MonthRecord
from calaim_pipeline.plan_month_checks import CheckOutcome, evaluate_all, top_rules
from calaim_pipeline.settings import DataPaths, load_thresholds

if TYPE_CHECKING:
    from dagster import ExecuteInProcessResult

PASSED = "passed"  # every check passes; files built or kept
WARNED = "warned"  # only WARN checks fail; files built or kept
HELD = "held"  # a blocking (ERROR) check fails; files held back
FAILED = "failed"  # the run failed for another reason (missing folder, unreadable file, ...)
SENT = "sent"  # marked sent: final, not run
CHECK_STEP = "plan_month_checks"
_FAILURE_PREFIX = "dagster._core.definitions.events.Failure: "


@dataclass
class MonthOutcome:
    plan: str
    month: str
    status: str
    reason: str  # one line, no member data: counts, rates, rule ids, paths
    metrics: MonthRecord | None = None
    failing: list[CheckOutcome] = field(default_factory=list)
    files: str = ""  # "built (837P 641 claims; 837I 147 claims)", "unchanged (...)", "held back"
    run_id: str | None = None
    seconds: float = 0.0

    @property
    def blocking(self) -> list[CheckOutcome]:
        return [c for c in self.failing if c.blocking]

    @property
    def warnings(self) -> list[CheckOutcome]:
        return [c for c in self.failing if not c.blocking]

    def top_rules(self, limit: int = 3) -> list[dict]:
        return top_rules(self.metrics, limit=limit) if self.metrics else []


def sent_outcome(plan: str, month: str, sent_at: str | None, sent_by: str | None) -> MonthOutcome:
    when = f" on {sent_at[:10]}" if sent_at else ""
    who = f" by {sent_by}" if sent_by else ""
    return MonthOutcome(plan, month, SENT, f"marked sent{when}{who}: final, not run again")


def _strip_plan_month(message: str, plan: str, month: str) -> str:
    """'CHG 2026-08: CHG 2026-08 was marked sent' -> 'was marked sent': the verdict names the
    month once, at the start of its row."""
    prefix = re.compile(rf"^(?:{re.escape(plan)}[ /]{re.escape(month)}:?\s*)+")
    return prefix.sub("", message).strip() or message


def _step_failures(result: ExecuteInProcessResult) -> list[tuple[str, str, str]]:
    """(step key, error class, one-line message) of each failed step of the run."""
    found = []
    for event in result.all_events:
        if not event.is_step_failure or event.step_failure_data is None:
            continue
        data = event.step_failure_data
        user = data.user_failure_data
        if user is not None and user.description:
            message = user.description
        elif data.error is not None:
            message = data.error.message.strip().splitlines()[-1]
        else:
            message = "see the run in the Dagster UI"
        message = " ".join(message.removeprefix(_FAILURE_PREFIX).split())
        cls = data.error.cls_name if data.error is not None else ""
        found.append((event.step_key or "", cls or "", message))
    return found


def failure_message(result: ExecuteInProcessResult, plan: str = "", month: str = "") -> str:
    """The first failed step's own message, on one line (the plan-month prefix dropped when
    given): what `calaim mark-sent` and a failed month's verdict print."""
    failures = _step_failures(result)
    if not failures:
        return "see the run in the Dagster UI"
    message = failures[0][2]
    return _strip_plan_month(message, plan, month) if plan else message


def _validated(result: ExecuteInProcessResult) -> bool:
    return any(
        e.event_type_value == "ASSET_MATERIALIZATION"
        and e.asset_key is not None
        and e.asset_key.to_user_string() == "encounter_lines"
        for e in result.all_events
    )


def _submission_status(result: ExecuteInProcessResult) -> str | None:
    for event in result.get_asset_materialization_events():
        if event.asset_key is not None and event.asset_key.to_user_string() == "submission":
            status = event.materialization.metadata.get("status")
            return str(status.value) if status is not None else "built"
    return None


def _files_text(paths: DataPaths, plan: str, month: str, status: str | None) -> str:
    manifest = paths.submissions / plan / month / "manifest.json"
    if status is None or not manifest.is_file():
        return "not built"
    files = json.loads(manifest.read_text(encoding="utf-8"))["files"]
    parts = [f"{f['transaction']} {f['claims']:,} claims" for f in files]
    verb = "kept unchanged" if status == "unchanged" else "built"
    return f"{verb} ({'; '.join(parts) or 'no accepted lines'})"


def outcome_of(
    result: ExecuteInProcessResult, paths: DataPaths, plan: str, month: str, seconds: float
) -> MonthOutcome:
    """The verdict of one finished plan_month_job run (an ExecuteInProcessResult)."""
    failures = _step_failures(result)
    unexpected = [
        f for f in failures if not (f[0] == CHECK_STEP and f[1] == "DagsterAssetCheckFailedError")
    ]
    metrics = read_metrics(paths.lake, plan, month) if _validated(result) else None
    files = _files_text(paths, plan, month, _submission_status(result))
    outcome = judged_outcome(plan, month, metrics, files)
    outcome.run_id, outcome.seconds = result.run_id, seconds
    if unexpected:
        message = _strip_plan_month(unexpected[0][2], plan, month)
        if outcome.status == HELD:  # a blocking check and another failure: say both
            outcome.reason += f"; and {message}"
        else:
            outcome.status, outcome.reason = FAILED, message
    return outcome


def judged_outcome(plan: str, month: str, metrics: MonthRecord | None, files: str) -> MonthOutcome:
    """The verdict the month's checks give on its metrics (None: it was not judged), with what
    happened to its files: held back when a blocking check failed."""
    failing = (
        [o for o in evaluate_all(metrics, load_thresholds()) if not o.passed] if metrics else []
    )
    outcome = MonthOutcome(
        plan, month, PASSED, "all checks pass", metrics=metrics, failing=failing, files=files
    )
    if outcome.blocking:
        outcome.status = HELD
        outcome.reason = "; ".join(f"{c.name}: {c.summary}" for c in outcome.blocking)
        if outcome.warnings:
            outcome.reason += f"; also warns: {', '.join(c.name for c in outcome.warnings)}"
        outcome.files = "held back"
    elif outcome.warnings:
        outcome.status = WARNED
        outcome.reason = "; ".join(f"{c.name}: {c.summary}" for c in outcome.warnings)
    return outcome
