"""What starts runs: a monthly schedule for last month (all plans) and a landing-folder sensor."""

import hashlib
import json
from datetime import date

import dagster as dg

from calaim_pipeline.ingest.landing import is_encounter_file, landed_plan_months
from calaim_pipeline.months import previous_month
from calaim_pipeline.settings import data_paths, load_plans

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


def folder_fingerprint(folder) -> str:
    """Names, sizes and modification times of the folder's files: changes when a file lands or changes."""
    entries = sorted(
        (p.name, p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.iterdir()
        if p.is_file() and (is_encounter_file(p) or p.name in ("members.csv", "providers.csv"))
    )
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()[:16]


@dg.sensor(
    job=plan_month_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING
)
def landing_sensor(context: dg.SensorEvaluationContext):
    """Start a plan-month's run when its files land or change; refuse unknown or unsafe folders."""
    paths = data_paths()
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    found, refused = landed_plan_months(paths, load_plans().codes)
    for message in refused:
        context.log.warning(f"landing folder refused: {message}")
    valid_months = set(
        plan_month_partitions.get_partitions_def_for_dimension("month").get_partition_keys()
    )
    requests = []
    for plan, month in found:
        if month not in valid_months:
            context.log.warning(f"{plan}/{month}: not an open extract month; skipped")
            continue
        fingerprint = folder_fingerprint(paths.landing / plan / month)
        key = f"{plan}|{month}"
        if seen.get(key) != fingerprint:
            seen[key] = fingerprint
            requests.append(
                dg.RunRequest(
                    run_key=f"{key}|{fingerprint}", partition_key=plan_month_key(plan, month)
                )
            )
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))
