"""Plan x month partitions: a static plan list from plans.yaml and the extract month."""

import dagster as dg

from calaim_pipeline.settings import load_plans, load_thresholds

PLAN_DIMENSION = "plan"
MONTH_DIMENSION = "month"

# Extract months; alone it partitions the statewide scorecard index.
monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=str(load_thresholds().first_month.value), fmt="%Y-%m"
)
plan_month_partitions = dg.MultiPartitionsDefinition(
    {
        PLAN_DIMENSION: dg.StaticPartitionsDefinition(load_plans().codes),
        MONTH_DIMENSION: monthly_partitions,
    }
)


def plan_month_key(plan: str, month: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({PLAN_DIMENSION: plan, MONTH_DIMENSION: month})


def plan_and_month(
    context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext | dg.OpExecutionContext,
) -> tuple[str, str]:
    """The (plan, month) of the run's plan x month partition."""
    keys = context.partition_key.keys_by_dimension  # type: ignore[union-attr]
    return keys[PLAN_DIMENSION], keys[MONTH_DIMENSION]
