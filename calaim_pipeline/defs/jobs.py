"""The plan-month job: validate a partition, build its submission files and its scorecard."""

import dagster as dg

# Groups of the plan x month assets; each defs module names its own group from this tuple.
LAKE_GROUP = "lake"
SUBMISSION_GROUP = "submission"
SCORECARD_GROUP = "scorecard"

# Who answers for what (shown on every asset in the UI): the encounter-data team runs ingest and
# the files; compliance owns the verdicts they review.
DATA_TEAM = "team:encounter-data"
COMPLIANCE_TEAM = "team:compliance"

plan_month_job = dg.define_asset_job(
    "plan_month_job",
    selection=dg.AssetSelection.groups(LAKE_GROUP, SUBMISSION_GROUP, SCORECARD_GROUP),
    description="Ingest and validate one plan x month, then build its 837 files and scorecard.",
)
