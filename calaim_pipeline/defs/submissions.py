"""The plan-month's 837 submission files, and the reviewed hand-off that marks a month sent."""

from datetime import timedelta

import dagster as dg

from calaim_pipeline import gate, warehouse
from calaim_pipeline.defs.resources import PipelineSettings
from calaim_pipeline.settings import load_thresholds
from calaim_pipeline.storage.session import plan_month_scope, published_location, step_paths
from calaim_pipeline.submission import ledger
from calaim_pipeline.submission.build import StaleValidationError, build_submission
from calaim_pipeline.submission.x12.checks import SubmissionDataError

from .jobs import COMPLIANCE_TEAM, DATA_TEAM, SUBMISSION_GROUP
from .partitions import plan_and_month, plan_month_partitions


def _files_markdown(files: list[dict]) -> str:
    rows = ["| file | claims | lines | billed | paid | ISA13 |", "|---|---|---|---|---|---|"]
    rows += [
        f"| {f['file_name']} | {f['claims']} | {f['lines']} | {f['total_billed']} | "
        f"{f['total_paid']} | {f['interchange_control_number']} |"
        for f in files
    ]
    return "\n".join(rows)


def submission_freshness() -> dg.FreshnessPolicy:
    """Files are due to DHCS by the thresholds' submission due day of each month (assumed 10th):
    by the end of that day a submission built since the 1st is expected."""
    due_day = int(load_thresholds().submission_due_day.value)
    return dg.FreshnessPolicy.cron(
        deadline_cron=f"59 23 {due_day} * *",
        lower_bound_delta=timedelta(days=due_day, hours=23, minutes=59),
        timezone="America/Los_Angeles",
    )


@dg.asset(
    name="submission",
    group_name=SUBMISSION_GROUP,
    partitions_def=plan_month_partitions,
    owners=[DATA_TEAM, COMPLIANCE_TEAM],
    kinds={"x12"},
    code_version=gate.rules_version(),
    freshness_policy=submission_freshness(),
    # encounter_lines carries the blocking ERROR checks: a failing one skips this asset in the
    # same run, and build_submission's own gate refuses it in any other run (gate.py).
    deps=["encounter_lines", "members", "providers"],
    description=(
        "The plan-month's X12 837P and 837I files for DHCS, manifest.json and the ledger rows "
        "(warehouse views submissions and submitted_lines). Never rebuilt once marked sent."
    ),
)
def submission(
    context: dg.AssetExecutionContext, settings: PipelineSettings
) -> dg.MaterializeResult:
    plan, month = plan_and_month(context)
    with step_paths(settings.paths(), plan_month_scope(plan, month)) as paths:
        try:
            result = build_submission(
                paths, settings.plans(), plan, month, limits=settings.duckdb()
            )
        except gate.GateError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        except (ledger.SentMonthError, StaleValidationError, SubmissionDataError) as exc:
            raise dg.Failure(description=f"{plan} {month}: {exc}", allow_retries=False) from None
        warehouse.ensure_views(paths)
        manifest = result.manifest
        verb = "unchanged, kept" if result.unchanged else "built"
        context.log.info(
            f"{plan} {month}: {len(manifest['files'])} file(s) {verb}, {manifest['claims']} claims, "
            f"{manifest['lines']} lines"
        )
        return dg.MaterializeResult(
            metadata={
                "status": "unchanged" if result.unchanged else ledger.BUILT,
                "judgement_id": manifest.get("judgement_id", ""),
                "folder": dg.MetadataValue.path(published_location(paths, result.folder)),
                "files": dg.MetadataValue.md(_files_markdown(manifest["files"])),
                "claims": manifest["claims"],
                "lines": manifest["lines"],
                "total_billed": manifest["total_billed"],
                "total_paid": manifest["total_paid"],
            }
        )


class MarkSentConfig(dg.Config):
    reviewed_by: str


@dg.op(
    description=(
        "Record that the partition's built 837 files were reviewed and sent to DHCS. Checks the "
        "files still match their sha256; afterwards the month can never be rebuilt."
    )
)
def mark_plan_month_sent(
    context: dg.OpExecutionContext, config: MarkSentConfig, settings: PipelineSettings
) -> None:
    plan, month = plan_and_month(context)
    with step_paths(settings.paths(), plan_month_scope(plan, month)) as paths:
        try:
            status = ledger.mark_sent(
                paths.lake, paths.submissions, plan, month, config.reviewed_by
            )
        except ledger.LedgerError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        context.log_event(
            dg.AssetObservation(
                asset_key="submission",
                partition=context.partition_key,
                metadata={
                    "status": ledger.SENT,
                    "sent_at": status.sent_at or "",
                    "sent_by": status.sent_by or "",
                },
            )
        )


@dg.job(
    partitions_def=plan_month_partitions,
    description="Mark a reviewed plan-month's submission files as sent (config: reviewed_by).",
)
def mark_sent_job() -> None:
    mark_plan_month_sent()
