"""Starting the daemon after `calaim run` re-runs nothing: the landing sensor starts a run only for
a plan-month whose landed files changed since its last judgement, and a month re-run on unchanged
files keeps its 837 files byte for byte (issue 9, item 8). After the sensor's run, declarative
automation rebuilds the month's statewide scorecard index without `calaim run` (issue 10)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import dagster as dg
import pytest

from calaim_pipeline.sample import generate_sample
from calaim_pipeline.settings import DataPaths
from calaim_pipeline_tests.conftest import PROJECT_DIR
from calaim_pipeline_tests.ops_support import (
    SENSOR_IDLE,
    dagster_env,
    output_dir,
    running,
    start_process,
    venv_command,
    wait_for,
)

PLANS = {"CHG": 300, "HPSM": 300}
MONTH = "2026-09"


def _submission_bytes(paths: DataPaths, plan: str) -> dict[str, bytes]:
    folder = paths.submissions / plan / MONTH
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _calaim_run(env: dict, plan: str) -> None:
    done = subprocess.run(
        [venv_command("calaim"), "run", "--month", MONTH, "--plan", plan],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_daemon_after_calaim_run_runs_only_the_month_whose_files_changed(tmp_path: Path):
    paths = DataPaths(tmp_path / "data")
    generate_sample(paths.root, plan_lines=PLANS, months=(MONTH,), defect_rate=0.02, seed=3)
    home = paths.root / "dagster_home"
    home.mkdir(parents=True)
    shutil.copyfile(PROJECT_DIR / "dagster.yaml", home / "dagster.yaml")
    env = dagster_env(home, paths.root)
    _calaim_run(env, ",".join(PLANS))
    before = {plan: _submission_bytes(paths, plan) for plan in PLANS}
    assert all(before.values())

    # Re-running a month on unchanged files keeps its 837 files and control numbers.
    _calaim_run(env, "HPSM")
    assert _submission_bytes(paths, "HPSM") == before["HPSM"]

    logs = output_dir("ops", "sensor")
    procs = []
    workspace = ["-w", str(PROJECT_DIR / "workspace.yaml")]
    with running(procs), dg.DagsterInstance.from_config(str(home)) as instance:
        cli_runs = {r.run_id for r in instance.get_runs()}
        assert len(cli_runs) == len(PLANS) + 1
        procs.append(
            start_process("daemon", [venv_command("dagster-daemon"), "run", *workspace], env, logs)
        )

        # The sensor evaluated the landed months and asked for nothing.
        def idle_tick() -> bool:
            log = procs[0].tail(200000)
            return any(text in log for text in SENSOR_IDLE)

        wait_for("an idle landing_sensor tick", idle_tick, 240, 1.0, procs)
        plan_month_runs = {r.run_id for r in instance.get_runs() if r.job_name == "plan_month_job"}
        assert plan_month_runs == cli_runs

        # A corrected extract lands for CHG: exactly that plan-month runs.
        extract = next((paths.landing / "CHG" / MONTH).glob("encounters*.csv"))
        lines = extract.read_text(encoding="utf-8").splitlines(keepends=True)
        extract.write_text("".join(lines[:-1]), encoding="utf-8")

        def sensor_runs_finished():
            runs = [
                r
                for r in instance.get_runs()
                if r.run_id not in cli_runs and r.job_name == "plan_month_job"
            ]
            return runs if runs and all(r.is_finished for r in runs) else None

        runs = wait_for("the sensor's run", sensor_runs_finished, 480, 2.0, procs)
        runs = [r for r in runs if r.job_name == "plan_month_job"]
        assert [(r.tags.get("dagster/sensor_name"), r.tags["dagster/partition"]) for r in runs] == [
            ("landing_sensor", f"{MONTH}|CHG")
        ]
        assert runs[0].status == dg.DagsterRunStatus.SUCCESS

        # The statewide index of the month follows, through the daemon alone.
        index = dg.AssetKey("scorecard_index")
        # After the sensor's run started: its scorecard step may finish (and the index follow)
        # before the run's last step does.
        sensor_run_started = instance.get_run_record_by_id(runs[0].run_id).start_time

        def index_after_sensor_run():
            events = instance.fetch_materializations(index, limit=10).records
            after = [e for e in events if e.timestamp > sensor_run_started]
            return after or None

        built = wait_for("scorecard_index by automation", index_after_sensor_run, 300, 2.0, procs)
        assert built[0].partition_key == MONTH
        index_run = instance.get_run_by_id(built[0].run_id)
        assert index_run.tags.get("dagster/sensor_name") == "scorecard_index_automation"
    assert _submission_bytes(paths, "HPSM") == before["HPSM"]
    assert _submission_bytes(paths, "CHG") != before["CHG"]
