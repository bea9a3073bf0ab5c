"""Plan x month partitions: a static plan list from plans.yaml and the extract month."""

import dagster as dg

from calaim_pipeline.settings import load_plans, load_thresholds

PLAN_DIMENSION = "plan"
MONTH_DIMENSION = "month"

plan_month_partitions = dg.MultiPartitionsDefinition(
    {
        PLAN_DIMENSION: dg.StaticPartitionsDefinition(load_plans().codes),
        MONTH_DIMENSION: dg.MonthlyPartitionsDefinition(
            start_date=str(load_thresholds().first_month.value), fmt="%Y-%m"
        ),
    }
)


def plan_month_key(plan: str, month: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({PLAN_DIMENSION: plan, MONTH_DIMENSION: month})
