"""The plan-month assets: ingest + validate one extract into the lake, with its plan-month checks."""

from typing import Any

import dagster as dg

from calaim_pipeline import gate, recovery, warehouse
from calaim_pipeline.defs.resources import PipelineSettings
from calaim_pipeline.ingest.landing import LandingError, find_drop
from calaim_pipeline.ingest.reader import ExtractFileError
from calaim_pipeline.plan_month_checks import PLAN_MONTH_CHECKS, CheckOutcome, evaluate_and_record
from calaim_pipeline.settings import ConfigError
from calaim_pipeline.storage.session import plan_month_scope, step_paths
from calaim_pipeline.submission.ledger import SentMonthError
from calaim_pipeline.validation.contract_schema import ContractViolation
from calaim_pipeline.validation.engine import run_plan_month

from .jobs import DATA_TEAM, LAKE_GROUP
from .partitions import plan_and_month, plan_month_partitions

ENCOUNTER_LINES = dg.AssetKey("encounter_lines")
# Log messages that say which stage of validation a run is in; `calaim run` shows them as they come.
STAGE_LOG_PREFIX = "stage: "


def _lake_specs() -> list[dg.AssetSpec]:
    """Built in a function: load_from_defs_folder would load module-level AssetSpecs as assets.
    The code version is the rules' version (gate.rules_version): a month judged under other rules,
    thresholds or code shows as such in the UI."""
    version = gate.rules_version()
    common = {
        "group_name": LAKE_GROUP,
        "owners": [DATA_TEAM],
        "kinds": {"duckdb", "parquet"},
        "code_version": version,
    }
    return [spec.replace_attributes(**common) for spec in _lake_spec_texts()]


def _lake_spec_texts() -> list[dg.AssetSpec]:
    return [
        dg.AssetSpec(
            "encounter_lines",
            description="Accepted service lines of the plan-month (lake + warehouse view encounter_lines).",
        ),
        dg.AssetSpec(
            "encounter_rejects",
            description="Rejected input rows with every rule they failed (warehouse view encounter_rejects).",
        ),
        dg.AssetSpec("rule_results", description="Rows checked and failed per catalog rule."),
        dg.AssetSpec("members", description="The month's eligibility roster rows that were kept."),
        dg.AssetSpec(
            "providers", description="The month's provider directory rows that were kept."
        ),
        dg.AssetSpec(
            "roster_rejects",
            description="Roster rows that could not be parsed or failed a roster rule, with file and line.",
        ),
    ]


CHECK_SPECS = [
    dg.AssetCheckSpec(
        check.name,
        asset=ENCOUNTER_LINES,
        description=f"[{check.severity}] {check.description}",
        blocking=check.spec.blocking,
        partitions_def=plan_month_partitions,
        metadata={"severity": check.severity},
    )
    for check in PLAN_MONTH_CHECKS
]


TOP_RULES_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("rule", "string"),
        dg.TableColumn("severity", "string"),
        dg.TableColumn("rows", "int"),
        dg.TableColumn("examples", "string", description="claim id @ file:line"),
    ]
)


def top_rules_table(rows: list[dict]) -> dg.TableMetadataValue:
    """The top failing rules as a table the UI can sort: rule, severity, rows, examples."""
    return dg.MetadataValue.table(
        records=[
            dg.TableRecord(
                {
                    "rule": row["rule_id"],
                    "severity": row["severity"],
                    "rows": int(row["rows"]),
                    "examples": ", ".join(
                        f"{e['claim_id'] or '?'} @ {e['file']}:{e['line']}" for e in row["examples"]
                    ),
                }
            )
            for row in rows
        ],
        schema=TOP_RULES_SCHEMA,
    )


def check_metadata(outcome: CheckOutcome) -> dict[str, Any]:
    """Dagster metadata for a check: the summary first, then numbers and example claims."""
    metadata: dict[str, Any] = {"summary": outcome.summary, "severity": outcome.severity}
    for key, value in outcome.metadata.items():
        if key == "top_rules":
            metadata[key] = top_rules_table(value)
        elif isinstance(value, (dict, list)):
            metadata[key] = dg.MetadataValue.json(value)
        elif value is not None:
            metadata[key] = value
    return metadata


def check_results(outcomes: list[CheckOutcome]) -> list[dg.AssetCheckResult]:
    return [
        dg.AssetCheckResult(
            asset_key=ENCOUNTER_LINES,
            check_name=o.name,
            passed=o.passed,
            severity=dg.AssetCheckSeverity(o.severity),
            description=o.summary,
            metadata=check_metadata(o),
        )
        for o in outcomes
    ]


@dg.multi_asset(
    specs=_lake_specs(),
    partitions_def=plan_month_partitions,
    name="validate_plan_month",
    description=(
        "Read the plan-month's landing files, judge every line, publish the lake partition and "
        "keep the DuckDB warehouse views over it current."
    ),
)
def validate_plan_month(context: dg.AssetExecutionContext, settings: PipelineSettings):
    plan, month = plan_and_month(context)
    with step_paths(settings.paths(), plan_month_scope(plan, month)) as paths:
        # What a killed earlier run left (staging with member data, temp files, a half-built month).
        recovered = recovery.recover(paths)
        if recovered.anything:
            context.log.warning(f"cleaned up after an interrupted run: {recovered.summary()}")
        try:
            drop = find_drop(paths, plan, month, settings.plans().codes)
            context.log.info(f"{plan} {month}: {len(drop.encounter_files)} encounter file(s)")
            result = run_plan_month(
                drop,
                paths,
                settings.thresholds(),
                progress=lambda stage: context.log.info(f"{STAGE_LOG_PREFIX}{stage}"),
                limits=settings.duckdb(),
            )
        except (
            LandingError,
            ExtractFileError,
            ContractViolation,
            SentMonthError,
            ConfigError,
        ) as exc:
            # The message names the file, line and column (or the profile file and key); nothing
            # was published for this partition.
            raise dg.Failure(description=f"{plan} {month}: {exc}", allow_retries=False) from None
        m = result.metrics
        context.log.info(
            f"{plan} {month}: read {m.rows_read}, accepted {m.accepted}, rejected {m.rejected} "
            f"in {sum(result.timings.values()):.1f}s"
        )
        # Warehouse views are refreshed here, before the checks, so a month whose blocking check fails
        # is still queryable by reviewers; only its submission (downstream) is held back.
        recreated = warehouse.ensure_views(paths)
        if recreated:
            context.log.info(f"warehouse views (re)created: {', '.join(recreated)}")
        for file in m.files:
            if file.extra_columns:
                context.log.warning(f"{file.file}: ignored extra columns {file.extra_columns}")
        yield dg.MaterializeResult(
            asset_key="encounter_lines",
            metadata={
                "rows_read": m.rows_read,
                "accepted": m.accepted,
                "rejected": m.rejected,
                "reject_rate": m.reject_rate,
                "claims_accepted": m.claims_accepted,
                "files": dg.MetadataValue.json([f.model_dump() for f in m.files]),
                "rules_version": m.rules_version,
                # The ingest profile the plan's files were read through (docs/profiles.md).
                "profile": m.profile or "none (contract shape)",
                "profile_hash": m.profile_hash or "",
                "timings_s": dg.MetadataValue.json(result.timings),
            },
        )
        yield dg.MaterializeResult(
            asset_key="encounter_rejects",
            metadata={"rows": m.rejected, "unparseable": m.unparseable},
        )
        yield dg.MaterializeResult(
            asset_key="rule_results",
            metadata={
                "rules_failing": len(m.rule_counts),
                "rule_counts": dg.MetadataValue.json(m.rule_counts),
            },
        )
        rosters = m.rosters
        for roster in ("members", "providers"):
            r = rosters[roster]
            yield dg.MaterializeResult(
                asset_key=roster,
                metadata={"rows": r.kept, "rows_read": r.rows_read, "rejected": r.rejected},
            )
        yield dg.MaterializeResult(
            asset_key="roster_rejects",
            metadata={
                "rows": sum(r.rejected for r in rosters.values()),
                "by_file": dg.MetadataValue.json({r.file: r.rule_counts for r in rosters.values()}),
            },
        )


@dg.multi_asset_check(
    specs=CHECK_SPECS,
    name="plan_month_checks",
    description=(
        "The plan-month checks, read from the month's metrics. A separate step so a failing "
        "blocking check holds back only what depends on encounter_lines (the submission), while "
        "the scorecard, which compliance needs most for a failing month, is still built."
    ),
)
def plan_month_checks(context: dg.AssetCheckExecutionContext, settings: PipelineSettings):
    plan, month = plan_and_month(context)
    # Stored with the judgement they were evaluated on: the gate that build_submission and
    # mark_sent apply, whichever run or button asks for the files (gate.py).
    with step_paths(settings.paths(), plan_month_scope(plan, month)) as paths:
        outcomes = evaluate_and_record(paths.lake, plan, month, settings.thresholds())
    if outcomes is None:
        raise dg.Failure(description=f"{plan} {month}: no metrics in the lake; validate it first")
    yield from check_results(outcomes)
