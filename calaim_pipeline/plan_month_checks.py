"""The plan-month checks of rules.md, evaluated from a plan-month's record (month_record.py).

Which checks exist, their severities, limits and descriptions are data (catalog/checks.yaml);
this module holds the function that decides each one, registered by name. Plain Python so the
Dagster asset checks, the gate, the CLI summary, the scorecard and the tests share one definition.
Metadata holds counts, rates, thresholds, rule ids, claim ids and line numbers: never member data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calaim_pipeline import gate, lake
from calaim_pipeline.catalog import CatalogError, rules_by_id
from calaim_pipeline.catalog.checks import CheckSpec, is_blocking, plan_month_checks
from calaim_pipeline.month_record import MonthRecord
from calaim_pipeline.settings import Thresholds

TOP_RULES = 5
EXAMPLES = 5


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    severity: str  # ERROR blocks the plan-month's submission; WARN never blocks
    passed: bool
    summary: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def blocking(self) -> bool:
        return is_blocking(self.severity)


@dataclass(frozen=True)
class Bounds:
    """A check's limit resolved against thresholds.yaml: the values its catalog entry names."""

    min: float
    max: float
    band: float
    source: str

    @classmethod
    def of(cls, spec: CheckSpec, thresholds: Thresholds) -> Bounds:
        limit = spec.limit
        values = {
            side: thresholds.checks.value(key) if key else float("nan")
            for side, key in (
                ("min", limit and limit.min),
                ("max", limit and limit.max),
                ("band", limit and limit.band),
            )
        }
        first = limit.keys[0] if limit else None
        source = getattr(thresholds.checks, first).source if first else ""
        return cls(source=source, **values)


@dataclass(frozen=True)
class PlanMonthCheck:
    """A catalog entry (name, severity, limit, description) with the function that decides it."""

    spec: CheckSpec
    decide: Decider

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def severity(self) -> str:
        return self.spec.severity

    @property
    def description(self) -> str:
        return self.spec.description

    def evaluate(self, record: MonthRecord, thresholds: Thresholds) -> CheckOutcome:
        verdict = self.decide(record, thresholds, Bounds.of(self.spec, thresholds))
        return CheckOutcome(
            self.name, self.severity, verdict.passed, verdict.summary, verdict.metadata
        )


Decider = Callable[[MonthRecord, Thresholds, "Bounds"], "_Verdict"]


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def top_rules(m: MonthRecord, family: str | None = None, limit: int = TOP_RULES) -> list[dict]:
    """The most frequent failing rules, with a few example claim ids and file lines each."""
    catalog = rules_by_id()
    counts = [
        (rule_id, count)
        for rule_id, count in m.rule_counts.items()
        if family is None or catalog[rule_id].family == family
    ]
    counts.sort(key=lambda item: (-item[1], item[0]))
    return [
        {
            "rule_id": rule_id,
            "severity": catalog[rule_id].severity,
            "rows": count,
            "examples": m.example_claims(rule_id, EXAMPLES),
        }
        for rule_id, count in counts[:limit]
    ]


@dataclass(frozen=True)
class _Verdict:
    """What a check function decides; the registry below adds its name and severity."""

    passed: bool
    summary: str
    metadata: dict[str, Any]


def _outcome(passed: bool, summary: str, **metadata: Any) -> _Verdict:
    return _Verdict(passed, summary, metadata)


def _rows_reconcile(m: MonthRecord, t: Thresholds, b: Bounds) -> _Verdict:
    bad = [f.file for f in m.files if not f.reconciles]
    return _outcome(
        not bad,
        "every file: rows read = accepted + rejected"
        if not bad
        else f"counts do not reconcile for {bad}",
        files=[
            f.model_dump(include={"file", "rows_read", "accepted", "rejected"}) for f in m.files
        ],
    )


ROSTER_FIELDS = {"file", "rows_read", "kept", "rejected", "unparseable"}


def _files_readable(m: MonthRecord, t: Thresholds, b: Bounds) -> _Verdict:
    rosters = m.rosters
    roster_bad = sum(r.unparseable for r in rosters.values())
    roster_note = (
        "; roster rows unparseable: "
        + ", ".join(f"{r.file} {r.unparseable}" for r in rosters.values() if r.unparseable)
        + " (in roster_rejects)"
        if roster_bad
        else ""
    )
    return _outcome(
        True,
        f"{len(m.files)} file(s) and {len(rosters)} roster(s) parsed with all required columns; "
        f"{m.unparseable} unparseable row(s) quarantined{roster_note}",
        files=[
            f.model_dump(include={"file", "format", "rows_read", "unparseable", "extra_columns"})
            for f in m.files
        ],
        rosters=[
            r.model_dump(include={"file", "rows_read", "unparseable", "extra_columns"})
            for r in rosters.values()
        ],
        examples=m.example_claims("ROW_UNPARSEABLE", EXAMPLES),
        roster_unparseable_lines={
            r.file: r.unparseable_lines[:EXAMPLES] for r in rosters.values() if r.unparseable
        },
    )


def _rosters_reconcile(m: MonthRecord, t: Thresholds, b: Bounds) -> _Verdict:
    """Roster rows read = kept + rejected, per roster file: a roster row never vanishes."""
    rosters = m.rosters
    bad = [r.file for r in rosters.values() if not r.reconciles]
    rejected = sum(r.rejected for r in rosters.values())
    summary = (
        f"counts do not reconcile for {bad}"
        if bad
        else "every roster: rows read = kept + rejected"
        + (f"; {rejected} roster row(s) rejected (see roster_rejects)" if rejected else "")
    )
    return _outcome(
        not bad,
        summary,
        rosters=[r.model_dump(include=ROSTER_FIELDS) for r in rosters.values()],
        rule_counts={r.file: r.rule_counts for r in rosters.values() if r.rule_counts},
        rejected_lines={r.file: r.example_lines for r in rosters.values() if r.example_lines},
    )


def _reject_rate(m: MonthRecord, t: Thresholds, b: Bounds) -> _Verdict:
    return _outcome(
        m.reject_rate <= b.max,
        f"{m.rejected} of {m.rows_read} lines rejected ({_pct(m.reject_rate)}; limit {_pct(b.max)})",
        rate=m.reject_rate,
        threshold=b.max,
        threshold_source=b.source,
        top_rules=top_rules(m),
    )


def _field_completeness(m: MonthRecord, t: Thresholds, b: Bounds) -> _Verdict:
    low = {
        column: stats.rate
        for column, stats in m.completeness.items()
        if stats.rate is not None and stats.rate < b.min
    }
    return _outcome(
        not low,
        "every field filled where it applies"
        if not low
        else f"{len(low)} field(s) below {_pct(b.min)}: {sorted(low)}",
        threshold=b.min,
        threshold_source=b.source,
        fields_below=low,
        lowest={
            c: s.rate for c, s in sorted(m.completeness.items(), key=lambda kv: kv[1].rate or 1)[:5]
        },
    )


def _validity_rate(m: MonthRecord, t: Thresholds, b: Bounds) -> _Verdict:
    rates = {family: stats.pass_rate for family, stats in m.family_validity.items()}
    low = {family: rate for family, rate in rates.items() if rate is not None and rate < b.min}
    worst = min(low, key=low.get) if low else None
    return _outcome(
        not low,
        "every rule family passes on enough lines"
        if not low
        else f"{len(low)} famil(ies) below {_pct(b.min)}: {sorted(low)}",
        threshold=b.min,
        threshold_source=b.source,
        pass_rate_by_family=rates,
        top_rules=top_rules(m, family=worst) if worst else [],
    )


def _volume(m: MonthRecord, t: Thresholds, b: Bounds) -> _Verdict:
    history = [h.model_dump() for h in m.volume_history]
    if not history:
        return _outcome(
            True,
            "no earlier months in the lake to compare with",
            rows_read=m.rows_read,
            threshold=b.band,
            threshold_source=b.source,
        )
    mean = sum(h["rows_read"] for h in history) / len(history)
    change = (m.rows_read - mean) / mean if mean else 0.0
    return _outcome(
        abs(change) <= b.band,
        f"{m.rows_read} lines vs mean {mean:.0f} of {len(history)} earlier month(s): {change:+.1%} (band ±{b.band:.0%})",
        rows_read=m.rows_read,
        previous_mean=round(mean, 1),
        change=round(change, 6),
        threshold=b.band,
        threshold_source=b.source,
        history=history,
    )


def _utilisation(m: MonthRecord, t: Thresholds, b: Bounds) -> _Verdict:
    members = m.utilisation.enrolled_members
    rate = m.utilisation.encounters_per_member_month
    minimum_members = t.checks.value("utilisation_min_members")
    if members < minimum_members or rate is None:
        return _outcome(
            True,
            f"{members} enrolled members: below the {minimum_members:.0f} the measure applies to",
            enrolled_members=members,
        )
    return _outcome(
        b.min <= rate <= b.max,
        f"{rate:.2f} encounters per member-month (bounds {b.min:g}-{b.max:g})",
        encounters_per_member_month=rate,
        claims_accepted=m.utilisation.claims_accepted,
        enrolled_members=members,
        threshold_low=b.min,
        threshold_high=b.max,
        threshold_source=b.source,
    )


def _timeliness(m: MonthRecord, t: Thresholds, b: Bounds) -> _Verdict:
    share = m.timeliness.paid_within_share
    return _outcome(
        share is None or share >= b.min,
        f"{_pct(share)} of lines paid within {m.timeliness.paid_within_days} days of service "
        f"(minimum {_pct(b.min)})",
        share=share,
        threshold=b.min,
        threshold_source=b.source,
        lag_days_p50=m.timeliness.lag_days_p50,
        lag_days_p90=m.timeliness.lag_days_p90,
        submission_due_day=t.submission_due_day.value,
    )


def _duplicates(m: MonthRecord, t: Thresholds, b: Bounds) -> _Verdict:
    rate = m.duplicates.rate
    return _outcome(
        rate <= b.max,
        f"{m.duplicates.rows} duplicate line(s) ({_pct(rate)}; limit {_pct(b.max)})",
        rate=rate,
        threshold=b.max,
        threshold_source=b.source,
        examples=m.example_claims("DUPLICATE_LINE_IN_MONTH", EXAMPLES),
    )


def _ecm_cs(m: MonthRecord, t: Thresholds, b: Bounds) -> _Verdict:
    share = m.ecm_cs.valid_share
    return _outcome(
        share is None or share >= b.min,
        f"{m.ecm_cs.lines} ECM/Community Supports line(s), {_pct(share)} with an allowed modifier",
        share=share,
        threshold=b.min,
        threshold_source=b.source,
        examples=m.example_claims("ECM_CS_MODIFIER_MISSING", EXAMPLES),
    )


# The decision function of each check in catalog/checks.yaml, by name; the catalog holds the
# severity, limit and description (test_check_catalog ties the two sets together).
DECIDERS: dict[str, Decider] = {
    "rows_reconcile": _rows_reconcile,
    "files_readable": _files_readable,
    "rosters_reconcile": _rosters_reconcile,
    "reject_rate": _reject_rate,
    "field_completeness": _field_completeness,
    "validity_rate_per_family": _validity_rate,
    "volume": _volume,
    "utilisation": _utilisation,
    "timeliness": _timeliness,
    "duplicates": _duplicates,
    "ecm_cs_coding": _ecm_cs,
}


def _registry() -> tuple[PlanMonthCheck, ...]:
    specs = plan_month_checks()
    missing = sorted({s.name for s in specs} ^ set(DECIDERS))
    if missing:
        raise CatalogError(f"checks.yaml and plan_month_checks.DECIDERS disagree on: {missing}")
    return tuple(PlanMonthCheck(spec, DECIDERS[spec.name]) for spec in specs)


PLAN_MONTH_CHECKS: tuple[PlanMonthCheck, ...] = _registry()


def evaluate_all(record: MonthRecord, thresholds: Thresholds) -> list[CheckOutcome]:
    return [check.evaluate(record, thresholds) for check in PLAN_MONTH_CHECKS]


def evaluate_and_record(
    lake_root: Path, plan: str, month: str, thresholds: Thresholds
) -> list[CheckOutcome] | None:
    """Evaluate the plan-month's checks on its current record and store the outcomes with the
    judgement id they were evaluated on: what the submission gate reads (gate.py).
    None when the month has no record (it was never validated)."""
    record = lake.read_metrics(lake_root, plan, month)
    if record is None:
        return None
    outcomes = evaluate_all(record, thresholds)
    gate.record_checks(lake_root, plan, month, record.judgement_id, outcomes)
    return outcomes
