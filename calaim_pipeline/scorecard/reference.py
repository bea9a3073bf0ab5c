"""docs/metrics.md: the scorecard metrics reference for compliance staff, generated from catalog.yaml."""

from __future__ import annotations

from calaim_pipeline.settings import PROJECT_DIR, load_thresholds

from .catalog import load_catalog, resolve
from .render_html import fmt_value

REFERENCE_PATH = PROJECT_DIR / "docs" / "metrics.md"
PER_NOTE = {
    "field": "one row per field of the input contract (`completeness.<field>`)",
    "family": "one row per rule family (`family_pass.<family>`)",
    "rule": "one row per catalog rule (`rule.<RULE_ID>`)",
}
PASSES_WHEN = {"max": "value ≤ {low}", "min": "value ≥ {low}", "range": "{low} ≤ value ≤ {high}"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def metrics_page() -> str:
    catalog, thresholds = load_catalog(), load_thresholds()
    grading = catalog.grading
    lines = [
        "# Data-quality scorecard: metrics reference",
        "",
        "Generated from `calaim_pipeline/scorecard/catalog.yaml` by",
        "`calaim_pipeline.scorecard.reference.write_metrics_page()`; do not edit by hand.",
        "",
        "Each plan-month gets a scorecard (`<data root>/scorecards/<PLAN>/<YYYY-MM>/scorecard.html` and",
        "`scorecard.json`, and the rows of the warehouse table `dq_scorecard`). Every metric has a value, a",
        "threshold and a status. Values come from the plan-month's validation metrics (counts and rates;",
        "no member data).",
        "",
        "## Status",
        "",
        "- **PASS**: the value is within the threshold.",
        "- **FAIL**: the threshold is breached and the metric mirrors a blocking (ERROR) plan-month check:",
        "  the month is *not fit to send* until it is fixed.",
        "- **WARN**: the threshold is breached on a non-blocking metric: send, but review.",
        "- **N/A**: the metric does not apply this month (e.g. no earlier month to compare volume with,",
        "  fewer than 100 enrolled members, no ECM/CS lines).",
        "- **INFO**: shown for context (e.g. the lag distribution); no threshold, not graded.",
        "",
        "The plan-month's overall status is FAIL when any metric fails, else WARN when any metric warns,",
        "else PASS.",
        "",
        "## Score and grade",
        "",
        f"Each graded metric earns points: pass {grading.points['pass']:g}, warn {grading.points['warn']:g},"
        f" fail {grading.points['fail']:g}. A family's score is 100 × the mean points of its graded metrics;",
        "the **overall score** is the mean of the family scores (families with no graded metric are left",
        "out, so 25 completeness fields weigh as much as the one duplicate-rate metric's family). Metrics",
        "marked *not scored* (rejects by rule) are shown but left out, because the family pass rates",
        "already count those lines.",
        "",
        "| grade | score at least |",
        "|---|---|",
        *[f"| {g.grade} | {g.min_score:g} |" for g in grading.grades],
        "",
        f"Any failing metric caps the grade at **{grading.fail_caps_grade_at}**. Source: {grading.source}.",
        "",
        "## Metrics",
        "",
        "| metric id | family | what it measures | passes when | threshold source | on breach |",
        "|---|---|---|---|---|---|",
    ]
    for spec in catalog.metrics:
        low, high = resolve(spec.threshold, thresholds), resolve(spec.threshold_high, thresholds)
        if spec.direction == "info":
            passes, source, breach = "information only", "–", "–"
        else:
            passes = PASSES_WHEN[spec.direction].format(
                low=fmt_value(low.value, spec.unit) if low else "",
                high=fmt_value(high.value, spec.unit) if high else "",
            )
            source = " / ".join(dict.fromkeys(b.source for b in (low, high) if b))
            breach = str(spec.on_breach).upper() + ("" if spec.scored else " (not scored)")
        what = spec.description + (f" ({PER_NOTE[spec.per]})" if spec.per else "")
        family = "the rule's family" if spec.family == "{key}" else spec.family
        lines.append(
            f"| `{spec.id}` | {family} | {_cell(what)} | {_cell(passes)} | {_cell(source)} | {breach} |"
        )
    lines += [
        "",
        "Thresholds with a `ref` live in `calaim_pipeline/config/thresholds.yaml` and are shared with the",
        'Dagster plan-month checks; "assumed" means no public source fixes the number (DHCS\'s report-card',
        "thresholds are not public; CMS's T-MSIS data quality measures are the public anchor).",
        "",
    ]
    return "\n".join(lines)


def write_metrics_page() -> None:
    REFERENCE_PATH.write_text(metrics_page(), encoding="utf-8")
