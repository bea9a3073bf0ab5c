"""Scorecard assets: one per plan-month (after validation) and the statewide index per month."""

import dagster as dg

from calaim_pipeline import gate, warehouse
from calaim_pipeline.defs.resources import PipelineSettings
from calaim_pipeline.scorecard import build_index, build_scorecard
from calaim_pipeline.storage.session import (
    index_scope,
    plan_month_scope,
    published_location,
    step_paths,
)

from .jobs import COMPLIANCE_TEAM, SCORECARD_GROUP
from .partitions import (
    MONTH_DIMENSION,
    monthly_partitions,
    plan_and_month,
    plan_month_partitions,
)

DQ_SCORECARD = dg.AssetKey("dq_scorecard")
SCORECARD_INDEX = dg.AssetKey("scorecard_index")
PREVIEW_STATUSES = ("fail", "warn")


def _preview(card: dict) -> str:
    """Markdown for the Dagster UI: verdict, score, the metrics not passing and the top rules."""
    t = card["totals"]
    score = "n/a" if card["score"] is None else f"{card['score']:.1f}"
    lines = [
        f"**{card['status'].upper()}** ({'fit to send' if card['fit_to_send'] else 'not fit to send'})"
        f" · grade **{card['grade']}** · score {score}/100",
        "",
        f"{t['rows_read']} lines read, {t['rejected']} rejected ({t['reject_rate']:.2%}).",
        "",
    ]
    flagged = [r for r in card["metrics"] if r["status"] in PREVIEW_STATUSES]
    if flagged:
        lines += ["| metric | value | threshold | status |", "|---|---|---|---|"]
        for r in flagged[:15]:
            high = f" to {r['threshold_high']}" if r["threshold_high"] is not None else ""
            lines.append(
                f"| {r['metric_id']} | {r['value']} | {r['threshold']}{high} | {r['status'].upper()} |"
            )
        lines.append("")
    if card["top_failing_rules"]:
        lines += ["| rule | rows | example (claim id @ file:line) |", "|---|---|---|"]
        for r in card["top_failing_rules"][:5]:
            example = r["examples"][0] if r["examples"] else None
            text = (
                f"{example['claim_id'] or '?'} @ {example['file']}:{example['line']}"
                if example
                else ""
            )
            lines.append(f"| {r['rule_id']} | {r['rows']} | {text} |")
    return "\n".join(lines)


@dg.asset(
    key=DQ_SCORECARD,
    deps=[dg.AssetKey("rule_results")],
    partitions_def=plan_month_partitions,
    group_name=SCORECARD_GROUP,
    owners=[COMPLIANCE_TEAM],
    kinds={"html", "parquet"},
    code_version=gate.rules_version(),
    description=(
        "Data-quality scorecard of the plan-month (warehouse view dq_scorecard; "
        "scorecards/<PLAN>/<YYYY-MM>/scorecard.html and .json), from its validation metrics."
    ),
)
def dq_scorecard(
    context: dg.AssetExecutionContext, settings: PipelineSettings
) -> dg.MaterializeResult:
    plan, month = plan_and_month(context)
    with step_paths(settings.paths(), plan_month_scope(plan, month)) as paths:
        try:
            built = build_scorecard(paths, plan, month, thresholds=settings.thresholds())
        except FileNotFoundError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        warehouse.ensure_views(paths)
        card = built.card
        return dg.MaterializeResult(
            metadata={
                "preview": dg.MetadataValue.md(_preview(card)),
                "html": dg.MetadataValue.path(published_location(paths, built.html)),
                "json": dg.MetadataValue.path(published_location(paths, built.json)),
                "status": card["status"],
                "fit_to_send": card["fit_to_send"],
                "score": card["score"] if card["score"] is not None else -1.0,
                "grade": card["grade"],
                "metrics_failing": card["status_counts"]["fail"],
                "metrics_warning": card["status_counts"]["warn"],
            }
        )


# The statewide index of a month is rebuilt whenever any plan's scorecard of that month changed,
# however its run started (schedule, sensor, UI, backfill), once no run of the month is in progress.
# Not `eager()`: that waits for every plan's scorecard of the month to exist and only considers
# the latest month, while plans land at different times and backfills touch older months.
INDEX_AFTER_ANY_SCORECARD = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("after any plan's scorecard of the month")


@dg.asset(
    key=SCORECARD_INDEX,
    deps=[
        dg.AssetDep(
            DQ_SCORECARD,
            partition_mapping=dg.MultiToSingleDimensionPartitionMapping(
                partition_dimension_name=MONTH_DIMENSION
            ),
        )
    ],
    partitions_def=monthly_partitions,
    group_name=SCORECARD_GROUP + "_index",
    owners=[COMPLIANCE_TEAM],
    kinds={"html"},
    automation_condition=INDEX_AFTER_ANY_SCORECARD,
    description=(
        "Statewide index of the month (scorecards/<YYYY-MM>/index.html: every plan side by side) "
        "and the top page (scorecards/index.html: each plan's latest month)."
    ),
)
def scorecard_index(
    context: dg.AssetExecutionContext, settings: PipelineSettings
) -> dg.MaterializeResult:
    month = context.partition_key
    with step_paths(settings.paths(), index_scope()) as paths:
        top = build_index(paths, month)
        page = paths.scorecards / month / "index.html"
        if top is None or not page.is_file():
            raise dg.Failure(description=f"{month}: no plan has a scorecard for this month yet")
        return dg.MaterializeResult(
            metadata={
                "html": dg.MetadataValue.path(published_location(paths, page)),
                "latest": dg.MetadataValue.path(published_location(paths, top)),
            }
        )


statewide_index_job = dg.define_asset_job(
    "statewide_index_job",
    selection=dg.AssetSelection.assets(SCORECARD_INDEX),
    partitions_def=monthly_partitions,
    description="Rebuild the statewide scorecard index of one month (all plans side by side).",
)


# Dagster's default automation sensor starts stopped; this one is on as soon as the daemon runs,
# so the statewide index never goes stale after scheduled or sensor runs.
scorecard_index_automation = dg.AutomationConditionSensorDefinition(
    "scorecard_index_automation",
    target=dg.AssetSelection.assets(SCORECARD_INDEX),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Rebuilds a month's statewide scorecard index after any plan's scorecard changes.",
)
