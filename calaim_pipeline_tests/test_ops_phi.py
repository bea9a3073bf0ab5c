"""No member PHI in the Dagster instance: after sample data runs through the job, both in-process
(`calaim run`) and through the daemon (the landing sensor launching run workers), no member CIN,
name or birth date from the rosters is in the event log storage, the run storage, the compute logs
or any other file of the instance, nor in the daemon's own log."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import dagster as dg
import pytest

from calaim_pipeline.sample import generate_sample
from calaim_pipeline.settings import DataPaths
from calaim_pipeline_tests.conftest import PROJECT_DIR
from calaim_pipeline_tests.ops_support import (
    dagster_env,
    output_dir,
    running,
    start_process,
    venv_command,
    wait_for,
)
from calaim_pipeline_tests.profiled import read_roster

PLANS = {"CHG": 400, "HPSM": 400}
MONTH = "2026-09"
# Names shorter than this are left out: two- and three-letter names of the sample rosters (Le, Li,
# Kim, Lee, Ana...) are also ordinary tokens of logs, JSON and SQLite pages, so matching them would
# report noise, not PHI. Every CIN and birth date is searched, and names of 4+ letters are.
MIN_NAME_LENGTH = 4
TOKEN = re.compile(rb"[0-9]{4}-[0-9]{2}-[0-9]{2}|[A-Za-z0-9]+")


def roster_phi(landing: Path) -> dict[str, set[str]]:
    """Every CIN, name and birth date of every roster under landing/, upper-cased."""
    found: dict[str, set[str]] = {"cin": set(), "name": set(), "birth_date": set()}
    for roster in landing.glob("*/*/members.csv"):
        for row in read_roster(roster):  # through the plan's ingest profile (HPSM's own shape)
            found["cin"].add(row["member_cin"].strip().upper())
            found["birth_date"] |= {row["birth_date"].strip(), row["birth_date_iso"].strip()}
            for column in ("first_name", "last_name"):
                for part in re.split(r"[^A-Za-z]+", row[column]):
                    if len(part) >= MIN_NAME_LENGTH:
                        found["name"].add(part.upper())
    for values in found.values():
        values.discard("")
    return found


def phi_in(path: Path, phi: dict[str, set[str]]) -> dict[str, set[str]]:
    """PHI values found in the file as whole tokens (case-insensitive), by kind."""
    tokens = {t.decode("ascii").upper() for t in TOKEN.findall(path.read_bytes())}
    return {kind: values & tokens for kind, values in phi.items() if values & tokens}


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_no_member_phi_in_event_logs_or_compute_logs(tmp_path):
    paths = DataPaths(tmp_path / "data")
    generate_sample(paths.root, plan_lines=PLANS, months=(MONTH,), defect_rate=0.05, seed=9)
    phi = roster_phi(paths.landing)
    assert len(phi["cin"]) > 100 and len(phi["name"]) > 20 and len(phi["birth_date"]) > 100
    # The search finds PHI where it is: the rosters themselves.
    roster = next(paths.landing.glob("*/*/members.csv"))
    assert set(phi_in(roster, phi)) == {"cin", "name", "birth_date"}

    home = paths.root / "dagster_home"
    home.mkdir(parents=True)
    shutil.copyfile(PROJECT_DIR / "dagster.yaml", home / "dagster.yaml")  # local profile
    env = dagster_env(home, paths.root)
    logs = output_dir("ops", "phi")

    # 1. In-process, as `make run` does (its exit code depends on the checks: not asserted here),
    # for the first plan; the sensor runs the others (it never re-runs a month judged on the same
    # files, however that run was started).
    cli_plan, *sensor_plans = PLANS
    subprocess.run(
        [venv_command("calaim"), "run", "--month", MONTH, "--plan", cli_plan, "--verbose"],
        env=env,
        capture_output=True,
        timeout=240,
        check=False,
    )
    # 2. Through the daemon: the landing sensor launches a run worker per landed plan-month.
    procs = []
    workspace = ["-w", str(PROJECT_DIR / "workspace.yaml")]
    with running(procs), dg.DagsterInstance.from_config(str(home)) as instance:
        procs.append(
            start_process("daemon", [venv_command("dagster-daemon"), "run", *workspace], env, logs)
        )
        sensor_runs = dg.RunsFilter(tags={"dagster/sensor_name": "landing_sensor"})

        def finished():
            runs = instance.get_runs(filters=sensor_runs)
            done = len(runs) == len(sensor_plans) and all(r.is_finished for r in runs)
            return runs if done else None

        runs = wait_for("the landing sensor's runs", finished, 300, 2.0, procs)
        assert sorted(r.tags["dagster/partition/plan"] for r in runs) == sorted(sensor_plans)
        # Plan-month runs only: the statewide index's automation may have run too.
        all_runs = [r for r in instance.get_runs() if r.job_name == "plan_month_job"]
        assert len(all_runs) == len(PLANS)
        # The instance recorded real work: materializations, check results, compute logs.
        events = sum(
            len(instance.all_logs(r.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION))
            for r in all_runs
        )
        assert events >= 5 * len(all_runs)
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), [r.status for r in runs]

    # The local (sqlite) instance: runs and per-run event logs under history/, compute logs
    # (the ops' stdout/stderr) under storage/<run id>/compute_logs/.
    databases = list((home / "history").rglob("*.db"))
    compute_logs = list((home / "storage").rglob("compute_logs/*.*"))
    assert any(p.name == "runs.db" for p in databases)
    run_ids = {r.run_id for r in all_runs}
    assert run_ids <= {p.stem for p in databases}  # one event log per run
    assert run_ids <= {p.parent.parent.name for p in compute_logs}
    assert any(p.suffix == ".err" and p.stat().st_size > 0 for p in compute_logs), compute_logs

    scanned = [p for p in home.rglob("*") if p.is_file()] + [p.log for p in procs]
    leaks = {str(p): found for p in scanned if (found := phi_in(p, phi))}
    assert leaks == {}, f"member PHI in the Dagster instance: {leaks}"
    print(f"scanned {len(scanned)} files ({len(compute_logs)} compute logs); no member PHI")
