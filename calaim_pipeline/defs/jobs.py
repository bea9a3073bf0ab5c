"""The plan-month job: validate a partition, build its submission files and its scorecard."""

import dagster as dg

from calaim_pipeline.engine_settings import (
    BACKEND_ENV,
    BROKER_ENV,
    celery_config_source,
    engine_settings,
)

# Groups of the plan x month assets; each defs module names its own group from this tuple.
LAKE_GROUP = "lake"
SUBMISSION_GROUP = "submission"
SCORECARD_GROUP = "scorecard"

# Who answers for what (shown on every asset in the UI): the encounter-data team runs ingest and
# the files; compliance owns the verdicts they review.
DATA_TEAM = "team:encounter-data"
COMPLIANCE_TEAM = "team:compliance"


def _executor() -> dg.ExecutorDefinition | None:
    """Dagster's default (steps in the run's processes) unless CALAIM_EXECUTOR=celery: then each
    step is a Celery task on a worker (docs/deploy.md, "Distributed runs"). The broker and backend
    URLs are resolved from the environment when a run starts, so a password in them never lands in
    the job's snapshot or a run's config."""
    settings = engine_settings()
    if not settings.distributed:
        return None
    from dagster_celery import celery_executor  # only production needs Celery loaded

    return celery_executor.configured(
        {
            "broker": {"env": BROKER_ENV},
            "backend": {"env": BACKEND_ENV},
            "config_source": celery_config_source(settings),
        },
        name="calaim_celery",
    )


plan_month_job = dg.define_asset_job(
    "plan_month_job",
    selection=dg.AssetSelection.groups(LAKE_GROUP, SUBMISSION_GROUP, SCORECARD_GROUP),
    description="Ingest and validate one plan x month, then build its 837 files and scorecard.",
    executor_def=_executor(),
)
