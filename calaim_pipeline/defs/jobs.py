"""The plan-month job: validate a partition and refresh the warehouse."""

import dagster as dg

plan_month_job = dg.define_asset_job(
    "plan_month_job",
    selection=dg.AssetSelection.groups("lake"),
    description="Ingest, validate and store one plan x month partition.",
)
