"""The production profile end to end: a real PostgreSQL server (Debian package, loopback), the
instance configured by deploy/dagster.yaml, `dagster-daemon run`, and a backfill of 2 plans x 2
months launched the way a data engineer would (`dagster job backfill`)."""

from __future__ import annotations

import re
import shutil
import time
from itertools import combinations

import dagster as dg
import duckdb
import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config
from dagster._core.storage.tags import BACKFILL_ID_TAG

from calaim_pipeline.sample import generate_sample
from calaim_pipeline.settings import DataPaths
from calaim_pipeline.warehouse import writer_journal
from calaim_pipeline_tests.conftest import PROJECT_DIR
from calaim_pipeline_tests.ops_support import (
    dagster_env,
    output_dir,
    overlapping_sessions,
    postgres_server,
    run_checked,
    running,
    start_process,
    venv_command,
    wait_for,
    writer_sessions,
)

PLANS = {"CHG": 600, "HPSM": 600}
MONTHS = ("2026-08", "2026-09")
PLAN_TAG = "dagster/partition/plan"  # what Dagster 1.13 tags a run of a plan x month partition
MONTH_TAG = "dagster/partition/month"


def test_instance_profiles_are_valid_and_agree(tmp_path, monkeypatch):
    """Local and production profiles load, and share the run queue's per-plan rule."""
    for key in ("DAGSTER_PG_HOST", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):
        monkeypatch.setenv(key, "x")
    monkeypatch.setenv("DAGSTER_PG_PORT", "5432")
    monkeypatch.setenv("DAGSTER_COMPUTE_LOG_DIR", str(tmp_path))
    profiles = {}
    for name in ("dagster.yaml", "deploy/dagster.yaml"):
        home = tmp_path / name.replace("/", "_")
        home.mkdir()
        shutil.copyfile(PROJECT_DIR / name, home / "dagster.yaml")
        dagster_instance_config(str(home))  # raises on any schema error
        profiles[name] = yaml.safe_load((PROJECT_DIR / name).read_text())
    limits = [p["concurrency"]["runs"]["tag_concurrency_limits"] for p in profiles.values()]
    assert (
        limits[0]
        == limits[1]
        == [{"key": PLAN_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
    )
    # Runs stuck STARTED/STARTING/CANCELING are failed the same way locally and in production.
    monitoring = [p["run_monitoring"] for p in profiles.values()]
    assert monitoring[0] == monitoring[1] and monitoring[0]["enabled"] is True
    assert monitoring[0]["max_runtime_seconds"] > 0
    assert profiles["deploy/dagster.yaml"]["storage"]["postgres"]["postgres_db"]["port"] == {
        "env": "DAGSTER_PG_PORT"
    }


def _overlap(a: dg.DagsterRun | object, b) -> bool:
    return a.start_time < b.end_time and b.start_time < a.end_time


@pytest.mark.slow
@pytest.mark.timeout(720)
def test_backfill_through_the_daemon_on_postgres(tmp_path, monkeypatch):
    started = time.monotonic()
    logs = output_dir("ops", "postgres")
    paths = DataPaths(tmp_path / "data")
    expected = generate_sample(
        paths.root, plan_lines=PLANS, months=MONTHS, defect_rate=0.01, seed=3
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_DIR / "deploy" / "dagster.yaml", home / "dagster.yaml")
    dagster = venv_command("dagster")

    with postgres_server(logs) as pg:
        extra = {**pg.env, "DAGSTER_COMPUTE_LOG_DIR": str(home / "compute_logs")}
        env = dagster_env(home, paths.root, extra)
        for key, value in extra.items():
            monkeypatch.setenv(key, value)
        procs = []
        with running(procs), dg.DagsterInstance.from_config(str(home)) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            # The landing sensor is on by default and would run these months itself.
            workspace = ["-w", str(PROJECT_DIR / "workspace.yaml")]
            run_checked([dagster, "sensor", "stop", "landing_sensor", *workspace], env, 180)
            procs.append(
                start_process(
                    "daemon", [venv_command("dagster-daemon"), "run", *workspace], env, logs
                )
            )
            # Listed newest first on purpose: Dagster orders them as the partitions definition does.
            keys = [f"{month}|{plan}" for month in reversed(MONTHS) for plan in PLANS]
            launched = run_checked(
                [
                    dagster,
                    "job",
                    "backfill",
                    "-j",
                    "plan_month_job",
                    "--partitions",
                    ",".join(keys),
                    "--noprompt",
                    *workspace,
                ],
                env,
                180,
            )
            backfill_id = re.search(r"Launched backfill job `(\w+)`", launched.stdout).group(1)
            backfill_runs = dg.RunsFilter(tags={BACKFILL_ID_TAG: backfill_id})

            def finished():
                runs = instance.get_runs(filters=backfill_runs)
                done = len(runs) == len(keys) and all(r.is_finished for r in runs)
                return runs if done else None

            runs = wait_for("the backfill's runs to finish", finished, 480, 1.0, procs)
            records = {
                r.dagster_run.run_id: r for r in instance.get_run_records(filters=backfill_runs)
            }

    failed = [(r.tags.get(PLAN_TAG), r.tags.get(MONTH_TAG), r.status) for r in runs]
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), failed

    # Each run carries one tag per partition dimension: the key the run queue limits per plan.
    by_plan: dict[str, list] = {}
    for run in runs:
        assert run.tags[MONTH_TAG] in MONTHS
        by_plan.setdefault(run.tags[PLAN_TAG], []).append(records[run.run_id])
    assert set(by_plan) == set(PLANS)
    # The queue received each plan's months oldest first (creation order = submission order) ...
    created = sorted(records.values(), key=lambda r: r.storage_id)
    for plan in PLANS:
        months = [
            r.dagster_run.tags[MONTH_TAG] for r in created if r.dagster_run.tags[PLAN_TAG] == plan
        ]
        assert months == list(MONTHS), (plan, months)
    # ... and ran them one at a time, in that order, while the plans ran in parallel.
    for plan, plan_records in by_plan.items():
        plan_records.sort(key=lambda r: r.start_time)
        assert [r.dagster_run.tags[MONTH_TAG] for r in plan_records] == list(MONTHS), plan
        for a, b in combinations(plan_records, 2):
            assert not _overlap(a, b), f"{plan}: two runs of one plan overlapped"
    first_chg, first_hpsm = by_plan["CHG"][0], by_plan["HPSM"][0]
    assert _overlap(first_chg, first_hpsm), "different plans should run at the same time"

    # The warehouse (opened read-only, as report authors do) holds every row read, once.
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        for plan in PLANS:
            for month in MONTHS:
                truth = expected[f"{plan}/{month}"]
                where = f"WHERE plan_code = '{plan}' AND extract_month = '{month}'"
                lines = con.execute(f"SELECT count(*) FROM encounter_lines {where}").fetchall()[0][
                    0
                ]
                rejects = con.execute(f"SELECT count(*) FROM encounter_rejects {where}").fetchall()[
                    0
                ][0]
                assert lines + rejects == truth["lines"] == PLANS[plan], (plan, month)
                assert rejects == truth["rows_rejected"] > 0, (plan, month)
    finally:
        con.close()

    # No two DuckDB writers ever held the warehouse at the same time.
    sessions = writer_sessions(writer_journal(paths.warehouse))
    assert sessions, "no write session was journaled"
    assert {s["pid"] for s in sessions}.isdisjoint({0}), sessions
    assert overlapping_sessions(sessions) == []

    elapsed = time.monotonic() - started
    (logs / "timing.txt").write_text(
        f"test_backfill_through_the_daemon_on_postgres {elapsed:.1f}s\n"
    )
    print(f"postgres backfill test: {elapsed:.1f}s, {len(sessions)} warehouse write session(s)")
