"""DHCS's answers: a sensor that ingests 999 / 277CA files as they land, the plan-month asset
holding what DHCS answered, and its checks (catalog/checks.yaml, `asset: dhcs_responses`).
Wiring only: the work is calaim_pipeline.responses."""

import json

import dagster as dg

from calaim_pipeline import warehouse
from calaim_pipeline.responses import ingest
from calaim_pipeline.responses.checks import ASSET, evaluate, read_answers, response_checks
from calaim_pipeline.settings import DataPaths, data_paths, load_plans, load_thresholds
from calaim_pipeline.storage.session import plan_month_scope, step_paths
from calaim_pipeline.submission import ledger

from .jobs import COMPLIANCE_TEAM, DATA_TEAM
from .partitions import plan_and_month, plan_month_key, plan_month_partitions

DHCS_GROUP = "dhcs"

RESPONSE_CHECK_SPECS = [
    dg.AssetCheckSpec(
        spec.name,
        asset=ASSET,
        description=f"[{spec.severity}] {spec.description}",
        partitions_def=plan_month_partitions,
        metadata={"severity": spec.severity},
    )
    for spec in response_checks()
]


def _metadata(value):
    if isinstance(value, (dict, list)):
        return dg.MetadataValue.json(value)
    return value


@dg.asset(
    name=ASSET,
    group_name=DHCS_GROUP,
    partitions_def=plan_month_partitions,
    owners=[DATA_TEAM, COMPLIANCE_TEAM],
    kinds={"x12"},
    deps=["submission"],
    check_specs=RESPONSE_CHECK_SPECS,
    description=(
        "What DHCS answered for the plan-month's 837 files: the 999s and 277CAs waiting in "
        "responses/<PLAN>/ are ingested (warehouse views submission_responses, "
        "encounter_status, corrections_worklist), then the DHCS-outcome checks run. Files that "
        "cannot be used move to responses/<PLAN>/rejected/ with a reason file."
    ),
)
def dhcs_responses(context: dg.AssetExecutionContext):
    plan, month = plan_and_month(context)
    with step_paths(data_paths(), plan_month_scope(plan, month)) as paths:
        yield from _ingest_and_check(context, paths, plan, month)


def _ingest_and_check(context: dg.AssetExecutionContext, paths: DataPaths, plan: str, month: str):
    """The asset's work in the folder its step reads and publishes (storage/session.py)."""
    outcomes = ingest.ingest_plan(paths, load_plans(), plan)
    for outcome in outcomes:
        log = context.log.info if outcome.outcome == ingest.INGESTED else context.log.warning
        log(outcome.message)
    warehouse.ensure_views(paths)
    answers = read_answers(paths.lake, plan, month)
    simulated = any(r["simulated"] for r in answers.responses)
    yield dg.MaterializeResult(
        metadata={
            "ingested": [o.file for o in outcomes if o.outcome == ingest.INGESTED],
            "kept_aside": dg.MetadataValue.json(
                {o.file: o.message for o in outcomes if o.outcome == ingest.REFUSED}
            ),
            "claims_by_status": dg.MetadataValue.json(answers.status_counts),
            "simulated": simulated,
        }
    )
    for result in evaluate(answers, load_thresholds()):
        yield dg.AssetCheckResult(
            check_name=result.name,
            passed=result.passed,
            severity=dg.AssetCheckSeverity(result.severity),
            description=result.summary + (" (simulated responses)" if simulated else ""),
            metadata={"summary": result.summary}
            | {k: _metadata(v) for k, v in result.metadata.items() if v is not None},
        )


dhcs_responses_job = dg.define_asset_job(
    "dhcs_responses_job",
    selection=dg.AssetSelection.assets(ASSET),
    description="Ingest the DHCS 999 / 277CA files waiting for a plan and check the month.",
)


@dg.sensor(
    job=dhcs_responses_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def dhcs_response_sensor(context: dg.SensorEvaluationContext):
    """Ingest DHCS responses as they land in responses/<PLAN>/: one run per plan-month they
    answer. A file whose month cannot be told (unknown control number, malformed) runs with the
    plan's latest ledger month, whose run keeps it aside with the reason."""
    seen: dict[str, float] = json.loads(context.cursor) if context.cursor else {}
    waiting: dict[str, float] = {}  # the cursor keeps only files still waiting
    paths = data_paths()
    requests = {}
    for plan in load_plans().codes:
        months = ledger.ledger_months(paths.lake, plan)
        for path in ingest.pending(paths, plan):
            stamp = path.stat().st_mtime
            key = f"{plan}/{path.name}"
            waiting[key] = stamp
            if seen.get(key) == stamp:
                continue
            month = ingest.answered_month(paths, plan, path) or (months[-1] if months else None)
            if month is None:
                context.log.warning(f"{key}: {plan} has no submitted month to answer; left there")
                continue
            requests.setdefault((plan, month), []).append(f"{path.name}@{stamp}")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"{plan}|{month}|{'|'.join(sorted(files))}",
                partition_key=plan_month_key(plan, month),
            )
            for (plan, month), files in sorted(requests.items())
        ],
        cursor=json.dumps(waiting, sort_keys=True),
    )
