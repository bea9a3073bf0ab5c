"""What starts runs: a monthly schedule for last month (all plans) and a landing-folder sensor."""

import json
from datetime import date

import dagster as dg

from calaim_pipeline.due_months import months_to_run
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


@dg.sensor(
    job=plan_month_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING
)
def landing_sensor(context: dg.SensorEvaluationContext):
    """Start a plan-month's run when its files land or change; refuse unknown or unsafe folders
    and files. A month already judged on exactly these files does not run again."""
    requested: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    requests = []
    open_months = plan_month_partitions.get_partitions_def_for_dimension("month")
    for plan, month, fingerprint in months_to_run(
        data_paths(),
        load_plans().codes,
        set(open_months.get_partition_keys()),
        requested,
        context.log,
    ):
        requests.append(
            dg.RunRequest(
                run_key=f"{plan}|{month}|{fingerprint}", partition_key=plan_month_key(plan, month)
            )
        )
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(requested, sort_keys=True))
