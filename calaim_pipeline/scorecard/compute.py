"""One plan-month's scorecard, derived from its month record (metrics.json) (no raw data is read again).

Every metric of the catalog becomes one row: value, threshold, status. The overall status says
whether the month is fit to send (no failing metric); the score and grade summarise the families.
Rows carry counts, rates, rule ids, claim ids and file lines only: never member data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from calaim_pipeline.catalog import FAMILIES, line_rules, rules_by_id
from calaim_pipeline.month_record import MonthRecord
from calaim_pipeline.plan_month_checks import evaluate_all
from calaim_pipeline.settings import Thresholds

from .catalog import Catalog, MetricSpec, resolve

TOP_FAILING_RULES = 10
EXAMPLES_PER_RULE = 5
FAMILY_ORDER = ("overall", *FAMILIES, "rules")


@dataclass(frozen=True)
class Measured:
    """A metric's value for one plan-month; applicable=False makes its status n/a."""

    value: float | None
    detail: str = ""
    applicable: bool = True


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 6) if whole else None


def _reject_rate(m: MonthRecord) -> Measured:
    return Measured(m.reject_rate, f"{m.rejected} of {m.rows_read} lines")


def _rows_reconcile(m: MonthRecord) -> Measured:
    bad = [f.file for f in m.files if not f.reconciles]
    return Measured(len(bad), f"{len(m.files)} file(s) read" + (f"; off: {bad}" if bad else ""))


def _rosters_reconcile(m: MonthRecord) -> Measured:
    rosters = list(m.rosters.values())
    bad = [r.file for r in rosters if not r.reconciles]
    rejected = sum(r.rejected for r in rosters)
    detail = f"{len(rosters)} roster(s) read, {rejected} row(s) in roster_rejects"
    return Measured(len(bad), detail + (f"; off: {bad}" if bad else ""))


def _duplicates(m: MonthRecord) -> Measured:
    return Measured(m.duplicates.rate, f"{m.duplicates.rows} of {m.rows_read} lines")


def _timeliness(key: str, days: int | None = None) -> Callable[[MonthRecord], Measured]:
    def measure(m: MonthRecord) -> Measured:
        t = m.timeliness
        value = getattr(t, key)
        detail = f"of {t.dated_lines} dated lines"
        if days is not None:
            detail = f"within {days} days, {detail}"
        return Measured(value, detail, value is not None)

    return measure


def _paid_within(m: MonthRecord) -> Measured:
    t = m.timeliness
    share = t.paid_within_share
    return Measured(
        share,
        f"within {t.paid_within_days} days, of {t.dated_lines} dated lines",
        share is not None,
    )


def _utilisation(thresholds: Thresholds) -> Callable[[MonthRecord], Measured]:
    def measure(m: MonthRecord) -> Measured:
        u = m.utilisation
        members = u.enrolled_members
        minimum = thresholds.checks.value("utilisation_min_members")
        rate = u.encounters_per_member_month
        detail = f"{u.claims_accepted} claims / {members} enrolled members"
        if rate is None or members < minimum:
            return Measured(rate, f"{detail}; graded from {minimum:.0f} members", False)
        return Measured(rate, detail)

    return measure


def _volume(m: MonthRecord) -> Measured:
    history = m.volume_history
    if not history:
        return Measured(None, f"{m.rows_read} lines; no earlier month in the lake", False)
    mean = sum(h.rows_read for h in history) / len(history)
    change = round((m.rows_read - mean) / mean, 6) if mean else 0.0
    return Measured(change, f"{m.rows_read} lines vs mean {mean:.0f} of {len(history)} month(s)")


def _billed_zero(m: MonthRecord) -> Measured:
    claims = m.claims_accepted
    return Measured(
        _share(m.claims_billed_zero, claims),
        f"{m.claims_billed_zero} of {claims} accepted claims",
        bool(claims),
    )


def _ecm(m: MonthRecord) -> Measured:
    e = m.ecm_cs
    return Measured(e.valid_share, f"{e.invalid} invalid of {e.lines} ECM/CS lines", bool(e.lines))


def _extractors(thresholds: Thresholds) -> dict[str, Callable[[MonthRecord], Measured]]:
    return {
        "reject_rate": _reject_rate,
        "rows_reconcile": _rows_reconcile,
        "rosters_reconcile": _rosters_reconcile,
        "duplicate_rate": _duplicates,
        "paid_within_90": _paid_within,
        "paid_within_30": _timeliness("share_within_30", 30),
        "paid_within_180": _timeliness("share_within_180", 180),
        "lag_days_p50": _timeliness("lag_days_p50"),
        "lag_days_p90": _timeliness("lag_days_p90"),
        "encounters_per_member_month": _utilisation(thresholds),
        "volume_change": _volume,
        "claims_billed_zero": _billed_zero,
        "ecm_cs_valid": _ecm,
    }


def _per_key(spec: MetricSpec, m: MonthRecord) -> list[tuple[str, str, Measured]]:
    """(key, family, measured) for the metrics the catalog repeats per field, family or rule."""
    out = []
    if spec.per == "field":
        for column, c in m.completeness.items():
            detail = f"{c.filled} of {c.applicable} lines where it applies"
            out.append((column, spec.family, Measured(c.rate, detail, c.rate is not None)))
    elif spec.per == "family":
        for family in FAMILIES:
            v = m.family_validity[family]
            detail = f"{v.rows_failed} of {m.rows_read} lines fail"
            out.append((family, family, Measured(v.pass_rate, detail, v.pass_rate is not None)))
    elif spec.per == "rule":
        # Shares of the lines read: roster rules (which count roster rows) are left to the
        # rosters_reconcile check and the roster_rejects table.
        for rule in line_rules():
            count = int(m.rule_counts.get(rule.id, 0))
            detail = f"{count} row(s); {rule.severity}; {rule.family}"
            out.append((rule.id, spec.family, Measured(_share(count, m.rows_read) or 0.0, detail)))
    return out


def _status(spec: MetricSpec, measured: Measured, low: float | None, high: float | None) -> str:
    if spec.direction == "info":
        return "info"
    value = measured.value
    if not measured.applicable or value is None:
        return "n/a"
    if spec.direction == "max":
        ok = value <= low  # type: ignore[operator]
    elif spec.direction == "min":
        ok = value >= low  # type: ignore[operator]
    else:
        ok = low <= value <= high  # type: ignore[operator]
    return "pass" if ok else str(spec.on_breach)


def metric_rows(m: MonthRecord, catalog: Catalog, thresholds: Thresholds) -> list[dict[str, Any]]:
    """Every catalog metric for one plan-month: value, threshold, status, source."""
    extractors = _extractors(thresholds)
    rows = []
    for spec in catalog.metrics:
        low = resolve(spec.threshold, thresholds)
        high = resolve(spec.threshold_high, thresholds)
        items = _per_key(spec, m) if spec.per else [("", spec.family, extractors[spec.id](m))]
        for key, family, measured in items:
            source = " / ".join(dict.fromkeys(b.source for b in (low, high) if b)) or ""
            rows.append(
                {
                    "metric_id": f"{spec.id}.{key}" if key else spec.id,
                    "family": family.format(key=key),
                    "label": spec.label.format(key=key),
                    "unit": spec.unit,
                    "direction": spec.direction,
                    "value": measured.value,
                    "threshold": low.value if low else None,
                    "threshold_high": high.value if high else None,
                    "status": _status(
                        spec, measured, low.value if low else None, high.value if high else None
                    ),
                    "on_breach": spec.on_breach,
                    "scored": spec.scored and spec.direction != "info",
                    "source": source,
                    "detail": measured.detail,
                }
            )
    return rows


def score_and_grade(
    rows: Sequence[dict], catalog: Catalog
) -> tuple[float | None, str, dict[str, float]]:
    """Score = 100 x mean over families of the mean points of the family's graded metrics."""
    points = catalog.grading.points
    by_family: dict[str, list[float]] = {}
    for row in rows:
        if row["scored"] and row["status"] in points:
            by_family.setdefault(row["family"], []).append(points[row["status"]])
    family_scores = {
        f: round(100 * sum(p) / len(p), 1) for f in FAMILY_ORDER if (p := by_family.get(f))
    }
    if not family_scores:
        return None, "n/a", {}
    score = round(sum(family_scores.values()) / len(family_scores), 1)
    grades = catalog.grading.grades
    grade = next(g.grade for g in grades if score >= g.min_score)
    if any(r["status"] == "fail" for r in rows):
        order = [g.grade for g in grades]
        cap = catalog.grading.fail_caps_grade_at
        grade = order[max(order.index(grade), order.index(cap))]
    return score, grade, family_scores


def overall_status(rows: Sequence[dict]) -> str:
    statuses = {r["status"] for r in rows}
    return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"


def top_failing_rules(m: MonthRecord, limit: int = TOP_FAILING_RULES) -> list[dict[str, Any]]:
    catalog = rules_by_id()
    counts = sorted(m.rule_counts.items(), key=lambda kv: (-kv[1], kv[0]))
    out = []
    for rule_id, count in counts[:limit]:
        rule = catalog[rule_id]
        out.append(
            {
                "rule_id": rule_id,
                "family": rule.family,
                "severity": rule.severity,
                "description": rule.description,
                "rows": int(count),
                "rate": _share(count, m.rows_read) or 0.0,
                "examples": m.example_claims(rule_id, EXAMPLES_PER_RULE),
            }
        )
    return out


def trend_point(m: MonthRecord) -> dict[str, Any]:
    t = m.timeliness
    return {
        "month": m.month,
        "rows_read": m.rows_read,
        "rejected": m.rejected,
        "reject_rate": m.reject_rate,
        "paid_within_30": t.share_within_30,
        "paid_within_90": t.share_within_90,
        "paid_within_180": t.share_within_180,
        "lag_days_p50": t.lag_days_p50,
        "lag_days_p90": t.lag_days_p90,
    }


def compute_scorecard(
    m: MonthRecord,
    history: Sequence[MonthRecord],
    catalog: Catalog,
    thresholds: Thresholds,
) -> dict[str, Any]:
    """The scorecard of one plan-month as plain data (what scorecard.json holds).

    m is the month's record; history holds the records of the plan's earlier months (any order)
    for the trend charts.
    """
    rows = metric_rows(m, catalog, thresholds)
    score, grade, family_scores = score_and_grade(rows, catalog)
    status = overall_status(rows)
    months = sorted([*(h for h in history if h.month < m.month), m], key=lambda h: h.month)
    checks = [
        {"check": o.name, "severity": o.severity, "passed": o.passed, "summary": o.summary}
        for o in evaluate_all(m, thresholds)
    ]
    counts = {
        s: sum(1 for r in rows if r["status"] == s) for s in ("pass", "warn", "fail", "n/a", "info")
    }
    return {
        "plan": m.plan,
        "month": m.month,
        "status": status,
        "fit_to_send": status != "fail",
        "score": score,
        "grade": grade,
        "family_scores": family_scores,
        "status_counts": counts,
        "totals": {
            "rows_read": m.rows_read,
            "accepted": m.accepted,
            "rejected": m.rejected,
            "reject_rate": m.reject_rate,
            "accepted_with_warnings": m.accepted_with_warnings,
            "claims_read": m.claims_read,
            "claims_accepted": m.claims_accepted,
            "billed_total": m.billed_total,
            "paid_total": m.paid_total,
        },
        "files": [
            f.model_dump(
                include={"file", "format", "rows_read", "accepted", "rejected", "unparseable"}
            )
            for f in m.files
        ],
        "checks": checks,
        "metrics": rows,
        "top_failing_rules": top_failing_rules(m),
        "trend": [trend_point(h) for h in months],
    }
