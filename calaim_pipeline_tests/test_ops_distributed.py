"""Runs on a distributed engine, for real: PostgreSQL (the instance), Redis (the Celery broker and
result backend), a gRPC code server started the way deploy/workspace.yaml expects, the daemon, and
two Celery workers of calaim_pipeline.celery_app, each in its own empty working directory. A
backfill of 3 plans x 2 months runs with CALAIM_EXECUTOR=celery (every step a Celery task) and
must leave exactly what the same backfill leaves run in-process: every warehouse view's rows, every
lake file's rows and every 837's content (control numbers and creation times aside). Then the same
backfill again on a fresh data root while one worker is SIGKILLed in the middle of a step: Redis
hands the step to the surviving worker after the visibility timeout, every run succeeds, and the
outcome is again the in-process one, so nothing was lost or done twice.

The workers share no disk: each has its own empty CALAIM_DATA_DIR, and the data root of a
scenario is a prefix in a bucket of a real S3-compatible server (`rclone serve s3`, loopback),
with the plan locks in the same PostgreSQL (CALAIM_LAKE_URI, CALAIM_LOCK_DSN; docs/deploy.md).
The plans' landing files are uploaded there first; what the workers left is downloaded from
there to compare. The orchestrating side (code server, daemon, run workers) gets a data root of
its own and no bucket: it stays empty, because plan-month files are only touched by the workers.
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.events import DagsterEventType
from dagster._core.storage.tags import BACKFILL_ID_TAG

from calaim_pipeline import warehouse
from calaim_pipeline.defs.encounters import STAGE_LOG_PREFIX
from calaim_pipeline.sample import generate_sample
from calaim_pipeline.settings import DataPaths
from calaim_pipeline.storage.object_store import ObjectStore
from calaim_pipeline_tests.conftest import PROJECT_DIR, run_partition
from calaim_pipeline_tests.object_store_support import download_tree, s3_server, upload_tree
from calaim_pipeline_tests.ops_engine import (
    differences,
    engine_env,
    outcome,
    redis_server,
    start_celery_worker,
)
from calaim_pipeline_tests.ops_support import (
    LOOPBACK,
    Proc,
    dagster_env,
    free_port,
    output_dir,
    postgres_server,
    run_checked,
    running,
    start_process,
    stop_process,
    venv_command,
    wait_for,
)
from calaim_pipeline_tests.test_ops_phi import phi_in, roster_phi

PLANS = {"CHG": 200, "HPSM": 200, "LACARE": 200}
MONTHS = ("2026-08", "2026-09")
VALIDATE_STEP = "validate_plan_month"  # the longest step: the one the worker is killed in
# Seconds before Redis gives a dead worker's step to another one. Steps here take 2-21 s on the
# shared 2-core machine (21 s at a load average of 8), below it, so no running step is handed out
# twice (checked below: a step longer than this would run twice, which is why production uses 1 h).
VISIBILITY_TIMEOUT = 40
SENSORS = ("landing_sensor", "scorecard_index_automation", "dhcs_response_sensor")

# ---- Workers share no disk: the data root is a bucket prefix per scenario ------------------


def publish_landing(source: Path, store: ObjectStore) -> None:
    """The plans' landing files into the bucket, where the workers' steps read them."""
    assert upload_tree(store, source, "landing") > 0


def collect_outcome(store: ObjectStore, folder: Path) -> Path:
    """A local copy of what the workers left in the bucket (lake, submissions) with warehouse
    views over it, to compare with the in-process data root the same way."""
    for area in ("lake", "submissions"):
        download_tree(store, folder, area)
    assert warehouse.ensure_views(DataPaths(folder))
    return folder


def worker_env(base: dict[str, str], worker_dir: Path, storage: dict[str, str]) -> dict[str, str]:
    """The one environment every Celery worker gets: its own DAGSTER_HOME, compute logs, cwd and
    empty data root (scratch only), and the bucket and lock settings of the scenario."""
    home = worker_dir / "dagster_home"
    home.mkdir(parents=True)
    shutil.copyfile(PROJECT_DIR / "deploy" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **base,
        **storage,
        "DAGSTER_HOME": str(home),
        "CALAIM_DATA_DIR": str(worker_dir / "data"),
    }
    env["DAGSTER_COMPUTE_LOG_DIR"] = str(worker_dir / "compute_logs")
    return env


# ---------------------------------------------------------------------------------------------


def _local_backfill(source: Path, root: Path, home: Path, monkeypatch) -> None:
    """The reference: the same partitions in-process, each plan's months oldest first."""
    shutil.copytree(source / "landing", root / "landing")
    home.mkdir()
    with monkeypatch.context() as patch:
        patch.setenv("CALAIM_DATA_DIR", str(root))
        with dg.instance_for_test(temp_dir=str(home)) as instance:
            for month in MONTHS:
                for plan in PLANS:
                    assert run_partition(instance, plan, month).success, (plan, month)


def _deliveries(instance: dg.DagsterInstance, run_ids) -> tuple[list, collections.Counter]:
    """(run, step, worker) of every step a Celery worker took, and STEP_SUCCESS per (run, step)."""
    taken, succeeded = [], collections.Counter()
    for run_id in run_ids:
        for entry in instance.all_logs(
            run_id, of_type={DagsterEventType.ENGINE_EVENT, DagsterEventType.STEP_SUCCESS}
        ):
            event = entry.dagster_event
            if event.event_type == DagsterEventType.STEP_SUCCESS:
                succeeded[(run_id, event.step_key)] += 1
            elif "Executing steps" in (event.message or ""):  # "[CeleryExecutor] Executing..."
                worker = event.engine_event_data.metadata["Celery worker"].value
                taken.append((run_id, event.step_key, worker))
    return taken, succeeded


def _validation_in_flight(instance: dg.DagsterInstance, run_id: str):
    """(run, worker, stage) while a worker is inside the validation step past its staging (its
    files staged, the lake being judged or written), else None."""
    worker, started, stage = None, False, None
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if entry.step_key != VALIDATE_STEP:
            continue
        if event is None:
            if entry.user_message.startswith(STAGE_LOG_PREFIX):
                stage = entry.user_message[len(STAGE_LOG_PREFIX) :]
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            return None
        elif event.event_type == DagsterEventType.STEP_START:
            started = True
        elif "Executing steps" in (event.message or ""):
            worker = event.engine_event_data.metadata["Celery worker"].value
    if worker and started and stage in ("judging", "writing"):
        return run_id, worker, stage
    return None


def _backfill(env, workspace, instance, procs, workers: dict[str, Proc], spawn, kill: bool):
    """Launch the backfill; with `kill`, SIGKILL the worker inside a validation step and start a
    replacement (`spawn`), as a platform restarting a lost machine would; wait for the runs."""
    keys = [f"{month}|{plan}" for month in MONTHS for plan in PLANS]
    launched = run_checked(
        [venv_command("dagster"), "job", "backfill", "-j", "plan_month_job", "--noprompt",
         "--partitions", ",".join(keys), *workspace],
        env,
        180,
    )  # fmt: skip
    backfill_id = re.search(r"Launched backfill job `(\w+)`", launched.stdout).group(1)
    runs_filter = dg.RunsFilter(tags={BACKFILL_ID_TAG: backfill_id})
    alive = [*procs, *workers.values()]
    killed = None
    if kill:

        def in_flight():
            started = dg.RunsFilter(tags=runs_filter.tags, statuses=[dg.DagsterRunStatus.STARTED])
            for run in instance.get_runs(filters=started):
                found = _validation_in_flight(instance, run.run_id)
                if found:
                    return found
            return None

        run_id, worker, stage = wait_for("a worker mid-validation", in_flight, 240, 0.2, alive)
        name = worker.split("@")[0]
        os.killpg(workers[name].popen.pid, signal.SIGKILL)  # the whole machine, as it were
        workers[name].popen.wait(timeout=10)
        killed = (run_id, VALIDATE_STEP, worker, time.monotonic(), stage)
        del workers[name]
        workers["w5"] = spawn("w5")  # a fresh machine: its own empty working directory
        alive = [*procs, *workers.values()]

    def finished():
        runs = instance.get_runs(filters=runs_filter)
        return runs if len(runs) == len(keys) and all(r.is_finished for r in runs) else None

    runs = wait_for("the backfill's runs", finished, 480, 1.0, alive)
    return runs, killed


def _assert_distributed(instance, runs, worker_names, killed=None) -> None:
    statuses = [(r.tags.get("dagster/partition/plan"), r.status.value) for r in runs]
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), statuses
    taken, succeeded = _deliveries(instance, [r.run_id for r in runs])
    per_step = collections.Counter((run_id, step) for run_id, step, _ in taken)
    # Every step of every run ran on a worker and succeeded once; both workers took steps.
    assert len(succeeded) == len(runs) * 4, succeeded
    assert set(succeeded.values()) == {1}, f"a step succeeded twice: {succeeded}"
    assert set(per_step) == set(succeeded)
    busy = {w.split("@")[0] for _, _, w in taken}
    assert len(busy) >= 2 and busy <= set(worker_names), taken  # steps spread over the workers
    redelivered = {key for key, count in per_step.items() if count > 1}
    if killed is None:
        assert not redelivered, (
            f"steps ran twice (longer than the visibility timeout?): {redelivered}"
        )
        return
    run_id, step, worker, *_ = killed
    assert redelivered == {(run_id, step)}, redelivered
    workers_of_step = [w for r, s, w in taken if (r, s) == (run_id, step)]
    assert workers_of_step[0] == worker and workers_of_step[1] != worker, workers_of_step


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_celery_backfill_equals_in_process_and_survives_a_killed_worker(tmp_path, monkeypatch):
    started = time.monotonic()
    logs = output_dir("ops", "distributed")
    for old in logs.glob("*.log"):
        old.unlink()
    source = tmp_path / "source"
    generate_sample(source, plan_lines=PLANS, months=MONTHS, defect_rate=0.01, seed=3)
    _local_backfill(source, tmp_path / "local", tmp_path / "local_home", monkeypatch)
    reference = outcome(tmp_path / "local")
    timings = {"in_process": time.monotonic() - started}
    killed_in = "no worker killed"

    orchestrator = tmp_path / "orchestrator"  # code server, daemon and run workers: no plan data
    home = orchestrator / "dagster_home"
    home.mkdir(parents=True)
    shutil.copyfile(PROJECT_DIR / "deploy" / "dagster.yaml", home / "dagster.yaml")
    with postgres_server(logs) as pg, redis_server(logs) as redis, s3_server(logs) as s3:
        # The orchestrating side gets no bucket: it must never touch plan data (checked below).
        extra = {
            **pg.env,
            **engine_env(redis, VISIBILITY_TIMEOUT),
            "DAGSTER_COMPUTE_LOG_DIR": str(orchestrator / "compute_logs"),
        }
        # This process uploads and downloads with the test server's keys, and reads no bucket
        # as its data root (no CALAIM_LAKE_URI here).
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"):
            monkeypatch.setenv(key, s3.env("")[key])
        env = dagster_env(home, orchestrator / "data", extra)
        for key, value in pg.env.items():
            monkeypatch.setenv(key, value)
        procs: list[Proc] = []
        with running(procs), dg.DagsterInstance.from_config(str(home)) as instance:
            port = free_port()
            procs.append(
                start_process(
                    "code-server",
                    [venv_command("dagster"), "code-server", "start", "-h", LOOPBACK, "-p",
                     str(port), "-m", "calaim_pipeline.definitions",
                     "--location-name", "calaim_pipeline"],
                    env,
                    logs,
                    cwd=orchestrator,
                )
            )  # fmt: skip
            # deploy/workspace.yaml as production uses it, pointed at this code server.
            workspace_doc = yaml.safe_load((PROJECT_DIR / "deploy" / "workspace.yaml").read_text())
            workspace_doc["load_from"][0]["grpc_server"].update(host=LOOPBACK, port=port)
            workspace_file = orchestrator / "workspace.yaml"
            workspace_file.write_text(yaml.safe_dump(workspace_doc))
            workspace = ["-w", str(workspace_file)]
            health = [venv_command("dagster"), "api", "grpc-health-check", "-p", str(port)]
            wait_for(
                "the code server",
                lambda: run_checked(health, env, 60).returncode == 0,
                180,
                2.0,
                procs,
            )
            # Only the backfill may start runs (the three CLI calls at once: each loads Dagster).
            stops = [
                subprocess.Popen(
                    [venv_command("dagster"), "sensor", "stop", sensor, *workspace],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for sensor in SENSORS
            ]
            try:
                assert [stop.wait(timeout=180) for stop in stops] == [0] * len(SENSORS)
            finally:
                for stop in stops:
                    stop.kill()  # no-op once it has exited
                    stop.wait()
            procs.append(
                start_process(
                    "daemon", [venv_command("dagster-daemon"), "run", *workspace], env, logs,
                    cwd=orchestrator,
                )
            )  # fmt: skip

            for scenario, names, kill in (("all-up", ("w1", "w2"), False),
                                          ("one-killed", ("w3", "w4"), True)):  # fmt: skip
                scenario_dir = tmp_path / scenario
                scenario_dir.mkdir()
                t0 = time.monotonic()
                # A fresh data root per scenario: its own prefix in the bucket.
                storage = {**s3.env(scenario), "CALAIM_LOCK_DSN": pg.dsn}
                store = s3.store(scenario)
                publish_landing(source, store)
                started_workers: list[Proc] = []

                def spawn(name, storage=storage, folder=scenario_dir, started=started_workers):
                    worker_dir = folder / name  # its own empty working directory
                    worker_dir.mkdir()
                    w_env = worker_env(env, worker_dir, storage)
                    started.append(start_celery_worker(name, w_env, worker_dir, logs))
                    return started[-1]

                try:
                    workers = {name: spawn(name) for name in names}
                    runs, killed = _backfill(env, workspace, instance, procs, workers, spawn, kill)
                finally:
                    for proc in started_workers:
                        stop_process(proc)
                _assert_distributed(instance, runs, [*names, *(["w5"] if kill else [])], killed)
                actual = outcome(collect_outcome(store, scenario_dir / "collected"))
                assert differences(reference, actual) == [], scenario
                assert actual == reference, scenario
                timings[scenario] = time.monotonic() - t0
                if killed:
                    timings["kill_to_done"] = time.monotonic() - killed[3]
                    killed_in = f"killed {killed[2]} in {killed[1]} at stage {killed[4]}"

    # The orchestrating side never held plan data; no member data in any log of any server.
    assert not (orchestrator / "data" / "lake").exists()
    phi = roster_phi(source / "landing")
    leaks = {log.name: phi_in(log, phi) for log in logs.glob("*.log")}
    assert not any(leaks.values()), {name: sorted(kinds) for name, kinds in leaks.items() if kinds}
    timings["total"] = time.monotonic() - started
    (logs / "timing.txt").write_text(
        "".join(f"{key} {value:.1f}s\n" for key, value in timings.items()) + killed_in + "\n"
    )
    print("distributed test:", {k: round(v, 1) for k, v in timings.items()}, killed_in)
