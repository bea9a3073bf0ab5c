"""What starts runs: a monthly schedule for last month (all plans) and a landing-folder sensor."""

import json
from datetime import date

import dagster as dg

from calaim_pipeline.ingest.landing import landed_files, landed_plan_months, landing_fingerprint
from calaim_pipeline.lake import read_metrics
from calaim_pipeline.months import previous_month
from calaim_pipeline.settings import data_paths, load_plans
from calaim_pipeline.submission import ledger

from .jobs import plan_month_job
from .partitions import plan_month_key, plan_month_partitions

# Files land during the first days of the month; DHCS wants them by the 10th (assumed, domain.md).
MONTHLY_CRON = "0 6 3 * *"


@dg.schedule(
    job=plan_month_job,
    cron_schedule=MONTHLY_CRON,
    execution_timezone="America/Los_Angeles",
    # On as soon as the daemon runs: the monthly run is the point of deploying this.
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def monthly_all_plans(context: dg.ScheduleEvaluationContext):
    """One run per configured plan for the previous extract month."""
    when = (
        context.scheduled_execution_time.date()
        if context.scheduled_execution_time
        else date.today()
    )
    month = previous_month(when)
    for plan in load_plans().codes:
        yield dg.RunRequest(run_key=f"{plan}|{month}", partition_key=plan_month_key(plan, month))


def months_to_run(paths, plans: list[str], requested: dict[str, str], log) -> list[tuple]:
    """(plan, month, fingerprint) of landed plan-months whose files differ from those of their
    last successful judgement, however that run was started (CLI, schedule, sensor, UI), and that
    were not already requested with these very files. Sent months never run again."""
    found, refused = landed_plan_months(paths, plans)
    for message in refused:
        log.warning(f"landing refused: {message}")
    valid_months = set(
        plan_month_partitions.get_partitions_def_for_dimension("month").get_partition_keys()
    )
    due = []
    for plan, month in found:
        if month not in valid_months:
            log.warning(f"{plan}/{month}: not an open extract month; skipped")
            continue
        fingerprint = landing_fingerprint(landed_files(paths.landing / plan / month))
        key = f"{plan}|{month}"
        judged = read_metrics(paths.lake, plan, month) or {}
        if judged.get("landing_fingerprint") == fingerprint or requested.get(key) == fingerprint:
            continue
        if ledger.sent_status(paths.lake, plan, month):
            continue
        due.append((plan, month, fingerprint))
    return due


@dg.sensor(
    job=plan_month_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING
)
def landing_sensor(context: dg.SensorEvaluationContext):
    """Start a plan-month's run when its files land or change; refuse unknown or unsafe folders
    and files. A month already judged on exactly these files does not run again."""
    requested: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    requests = []
    for plan, month, fingerprint in months_to_run(
        data_paths(), load_plans().codes, requested, context.log
    ):
        requested[f"{plan}|{month}"] = fingerprint
        requests.append(
            dg.RunRequest(
                run_key=f"{plan}|{month}|{fingerprint}", partition_key=plan_month_key(plan, month)
            )
        )
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(requested, sort_keys=True))
