"""The DHCS-outcome checks of a plan-month (catalog/checks.yaml entries with `asset: dhcs_responses`).

Judged from what DHCS answered (the ledger's response tables), not from the month's metrics: a 999
that rejected a transaction set, a claim acceptance rate below the threshold, files sent long ago
without a 277CA. Metadata holds counts, file names, control numbers, claim ids and STC codes;
never member data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from calaim_pipeline import lake
from calaim_pipeline.catalog.checks import CheckSpec, checks_for
from calaim_pipeline.ledger import encounter_status as es
from calaim_pipeline.plan_month_checks import Bounds, CheckOutcome
from calaim_pipeline.settings import Thresholds
from calaim_pipeline.sqltext import sql_str
from calaim_pipeline.submission import ledger

ASSET = "dhcs_responses"
EXAMPLES = 5
REJECTING_IK5 = ("R", "M", "W", "X")


@dataclass(frozen=True)
class MonthAnswers:
    """What DHCS answered for one plan-month, read once for all its checks."""

    plan: str
    month: str
    files: list[dict]  # the ledger's submissions rows
    responses: list[dict]  # submission_responses rows
    status_counts: dict[str, int]
    top_rejections: list[dict]
    today: datetime

    @property
    def answered(self) -> int:
        return self.status_counts.get(es.ACCEPTED, 0) + self.status_counts.get(es.REJECTED, 0)


def _rows(lake_root: Path, table: str, plan: str, month: str) -> list[dict]:
    path = lake.partition_file(lake_root, table, plan, month)
    return pq.read_table(path).to_pylist() if path.is_file() else []


def read_answers(
    lake_root: Path, plan: str, month: str, today: datetime | None = None
) -> MonthAnswers:
    counts: dict[str, int] = {}
    top: list[dict] = []
    status = es.plan_status_sql(lake_root, plan)
    if status is not None:
        con = duckdb.connect()
        try:
            month_status = f"SELECT * FROM ({status}) WHERE extract_month = {sql_str(month)}"
            counts = dict(
                con.execute(
                    f"SELECT status, count(*) FROM ({month_status}) GROUP BY ALL"
                ).fetchall()
            )
            top = [
                {"stc_codes": c, "claims": n, "examples": ex}
                for c, n, ex in con.execute(
                    f"SELECT stc_codes, count(*), list(claim_id ORDER BY claim_id)[1:{EXAMPLES}] "
                    f"FROM ({month_status}) WHERE status = 'rejected' GROUP BY ALL "
                    "ORDER BY 2 DESC, 1 LIMIT 5"
                ).fetchall()
            ]
        finally:
            con.close()
    return MonthAnswers(
        plan,
        month,
        _rows(lake_root, ledger.SUBMISSIONS, plan, month),
        _rows(lake_root, es.SUBMISSION_RESPONSES, plan, month),
        counts,
        top,
        today or datetime.now(UTC),
    )


def _999(a: MonthAnswers, spec: CheckSpec, t: Thresholds) -> tuple[bool, str, dict]:
    acks = [r for r in a.responses if r["response_type"] == "999"]
    bad = [r for r in acks if r["ack_code"] in REJECTING_IK5]
    details = [
        {
            "file": r["file_name"],
            "gs06": r["group_control_number"],
            "st02": r["transaction_set_control_number"],
            "ik5": r["ack_code"],
            "ik3": r["ik3_codes"],
            "ik4": r["ik4_codes"],
            "response_file": r["response_file"],
        }
        for r in bad
    ]
    if bad:
        summary = f"{len(bad)} of {len(acks)} transaction set(s) rejected by a 999"
    elif acks:
        summary = f"all {len(acks)} acknowledged transaction set(s) accepted"
    else:
        summary = "no 999 received yet"
    return not bad, summary, {"acknowledged_sets": len(acks), "rejected_sets": details}


def _acceptance(a: MonthAnswers, spec: CheckSpec, t: Thresholds) -> tuple[bool, str, dict]:
    minimum = Bounds.of(spec, t).min  # the limit catalog/checks.yaml names
    accepted = a.status_counts.get(es.ACCEPTED, 0)
    meta: dict[str, Any] = {
        "claims_accepted": accepted,
        "claims_rejected": a.status_counts.get(es.REJECTED, 0),
        "claims_awaiting": a.status_counts.get(es.AWAITING, 0),
        "threshold": minimum,
        "threshold_source": Bounds.of(spec, t).source,
        "top_rejections": a.top_rejections,
    }
    if not a.answered:
        return True, "no claim answered by a 277CA yet", meta
    rate = accepted / a.answered
    meta["acceptance_rate"] = round(rate, 6)
    summary = f"DHCS accepted {rate:.2%} of {a.answered} answered claims (minimum {minimum:.0%})"
    return rate >= minimum, summary, meta


def _overdue(a: MonthAnswers, spec: CheckSpec, t: Thresholds) -> tuple[bool, str, dict]:
    days = Bounds.of(spec, t).max  # the limit catalog/checks.yaml names
    answered = {r["file_name"] for r in a.responses if r["response_type"] == "277CA"}
    late = []
    for f in a.files:
        if f["status"] != ledger.SENT or not f.get("sent_at") or f["file_name"] in answered:
            continue
        sent = datetime.fromisoformat(f["sent_at"])
        waited = (a.today - sent).total_seconds() / 86400
        if waited > days:
            late.append({"file": f["file_name"], "sent_at": f["sent_at"], "days": int(waited)})
    summary = (
        f"{len(late)} file(s) sent more than {days:g} days ago have no 277CA"
        if late
        else f"no sent file waits more than {days:g} days for its 277CA"
    )
    return not late, summary, {"overdue_files": late, "threshold_days": days}


DECIDERS: dict[str, Callable[[MonthAnswers, CheckSpec, Thresholds], tuple[bool, str, dict]]] = {
    "dhcs_999_accepted": _999,
    "dhcs_acceptance_rate": _acceptance,
    "dhcs_277ca_overdue": _overdue,
}


def response_checks() -> tuple[CheckSpec, ...]:
    specs = checks_for(ASSET)
    missing = sorted({s.name for s in specs} ^ set(DECIDERS))
    if missing:
        raise ValueError(f"checks.yaml and responses.checks.DECIDERS disagree on: {missing}")
    return specs


def evaluate(answers: MonthAnswers, thresholds: Thresholds) -> list[CheckOutcome]:
    outcomes = []
    for spec in response_checks():
        passed, summary, meta = DECIDERS[spec.name](answers, spec, thresholds)
        outcomes.append(CheckOutcome(spec.name, spec.severity, passed, summary, meta))
    return outcomes
