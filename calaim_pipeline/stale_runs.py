"""Fail the Dagster runs of `calaim` processes that died, so no run stays STARTED forever.

`calaim run` and `calaim mark-sent` execute runs in their own process (``execute_in_process``): no
run launcher or code server watches them, so when the process is killed its run stays STARTED in the
instance. Each such run carries the process's owner token as a tag (owner.py: pid, process start
time, host and boot), and the next `calaim run` marks every unfinished run whose token names a
process that is gone as failed. Runs launched by the daemon are watched by Dagster itself (the code
server notices a dead run worker; run monitoring in dagster.yaml fails runs that never start, never
finish cancelling, or exceed the maximum runtime) and carry no token, so they are left alone here.
"""

from __future__ import annotations

import dagster as dg

from calaim_pipeline import owner

OWNER_TAG = "calaim/owner"
UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def owner_tags() -> dict[str, str]:
    """Tags for a run this process executes in-process."""
    return {OWNER_TAG: owner.token()}


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark unfinished in-process runs of dead `calaim` processes failed; returns their run ids."""
    failed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED)):
        parsed = owner.parse_token(run.tags.get(OWNER_TAG, ""))
        if parsed is None or owner.is_alive(parsed) is not False:
            continue  # not ours, or made on another host: its own process or Dagster decides
        instance.report_run_failed(
            run,
            f"the calaim process that ran it (pid {parsed.pid}) ended without finishing it "
            "(killed or crashed); marked failed by a later `calaim run`",
        )
        failed.append(run.run_id)
    return failed
