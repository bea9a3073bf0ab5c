"""The data root on object storage (issue 16): a real S3-compatible server and a real PostgreSQL,
the real plan-month job, and a comparison with the same months run on local disk.

Each run of the object-storage side starts in its own empty folder, as a worker that shares no
disk would: whatever a step needs comes from the bucket and whatever it writes goes back there.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import time

import duckdb
import pytest

from calaim_pipeline import owner
from calaim_pipeline.due_months import months_to_run
from calaim_pipeline.lake import LAKE_TABLES, WAREHOUSE_TABLES
from calaim_pipeline.sample import generate_sample
from calaim_pipeline.settings import DataPaths, load_plans
from calaim_pipeline.storage import locks
from calaim_pipeline.storage.session import AREAS
from calaim_pipeline_tests.conftest import run_partition
from calaim_pipeline_tests.object_store_support import (
    download_tree,
    lake_rows,
    s3_server,
    upload_tree,
    x12_body,
)
from calaim_pipeline_tests.ops_support import output_dir, postgres_server

pytestmark = pytest.mark.slow

PLANS = {"CHG": 500, "HPSM": 500}
MONTHS = ("2026-08", "2026-09")


def _run_all(instance) -> None:
    for month in MONTHS:
        for plan in PLANS:
            result = run_partition(instance, plan, month)
            assert result.success, f"{plan} {month} failed"


def _hold_lock_then_die(dsn: str, held) -> None:
    with locks.plan_lock("CHG", dsn):
        held.set()
        time.sleep(600)  # killed long before


def test_the_plan_lock_holds_across_processes_and_dies_with_its_holder(tmp_path):
    """Two holders never overlap; a SIGKILLed holder's lock is free again at once (the server
    drops it with the connection), so a dead worker never blocks its plan."""
    with postgres_server(output_dir("ops", "object_store", "locks")) as pg:
        dsn = pg.dsn
        held = multiprocessing.Event()
        holder = multiprocessing.get_context("fork").Process(
            target=_hold_lock_then_die, args=(dsn, held)
        )
        holder.start()
        try:
            assert held.wait(30), "the first holder never got the lock"
            with (
                pytest.raises(locks.PlanLockError, match="still held"),
                locks.plan_lock("CHG", dsn, wait_seconds=1.5),
            ):
                pass
            with locks.plan_lock("HPSM", dsn, wait_seconds=1.5):  # another plan is not blocked
                pass
        finally:
            os.kill(holder.pid, 9)
            holder.join(10)
        started = time.monotonic()
        with locks.plan_lock("CHG", dsn, wait_seconds=30):
            assert time.monotonic() - started < 10


def _the_landing_sensor_reads_the_bucket(store, drop, worker: DataPaths) -> None:
    """The sensor's decision from the bucket: judged months are not due (a step downloads a file
    with its time, so the fingerprints agree); a re-upload of the same bytes is not due either;
    changed bytes are."""
    plans = load_plans().codes
    log = logging.getLogger("sensor-test")
    assert months_to_run(worker, plans, set(MONTHS), {}, log) == []
    key = f"landing/CHG/{MONTHS[-1]}/members.csv"
    store.upload(drop / key, key)  # the same bytes again, a new time
    assert months_to_run(worker, plans, set(MONTHS), {}, log) == []
    changed = drop / "changed.csv"
    changed.write_bytes((drop / key).read_bytes() + b"\n")
    store.upload(changed, key)
    due = months_to_run(worker, plans, set(MONTHS), {}, log)
    assert [(plan, month) for plan, month, _ in due] == [("CHG", MONTHS[-1])]


def test_a_data_root_on_object_storage_holds_what_local_disk_holds(tmp_path, instance, monkeypatch):
    logs = output_dir("ops", "object_store")
    local = DataPaths(tmp_path / "local")
    generate_sample(local.root, plan_lines=PLANS, months=MONTHS, defect_rate=0.02, seed=5)
    drop = tmp_path / "drop"
    shutil.copytree(local.landing, drop / "landing")
    monkeypatch.setenv("CALAIM_DATA_DIR", str(local.root))
    _run_all(instance)

    with s3_server(logs) as s3, postgres_server(logs) as pg:
        for key, value in {**s3.env("statewide"), "CALAIM_LOCK_DSN": pg.dsn}.items():
            monkeypatch.setenv(key, value)
        store = s3.store("statewide")
        assert upload_tree(store, drop, "landing") > 0
        worker = DataPaths(tmp_path / "worker")  # empty: everything comes from the bucket
        # What a killed step left on this worker (copies of member data, never published).
        dead = owner.current()._replace(pid=2**22 + 1, start=1)
        left = worker.work / f"step_{owner.token(dead)}_0badc0de"
        left.mkdir(parents=True)
        (left / "members.csv").write_text("copied by a step that died\n")
        monkeypatch.setenv("CALAIM_DATA_DIR", str(worker.root))
        _run_all(instance)

        # Nothing stays on the worker: each step's folder is gone (and the dead step's with them).
        assert not any((worker.root / area).exists() for area in AREAS)
        assert not any(worker.work.iterdir())

        _the_landing_sensor_reads_the_bucket(store, drop, worker)

        remote = DataPaths(tmp_path / "remote_copy")
        for area in ("lake", "submissions"):
            download_tree(store, remote.root, area)

        con = duckdb.connect()
        for table in LAKE_TABLES:
            assert lake_rows(con, remote.lake.as_posix(), table) == lake_rows(
                con, local.lake.as_posix(), table
            ), table
        built = sorted(p.relative_to(local.root) for p in local.submissions.rglob("*.x12"))
        assert built, "the local months built no 837"
        for name in built:
            assert x12_body(remote.root / name) == x12_body(local.root / name), name

        # Report authors' warehouse on their own machine: views that read the bucket.
        reader = DataPaths(tmp_path / "reader")
        from calaim_pipeline import reports, warehouse

        assert warehouse.ensure_views(reader)
        monkeypatch.setenv("CALAIM_DATA_DIR", str(reader.root))
        with reports.connect() as remote_con:
            views = dict(
                remote_con.execute(
                    "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal"
                ).fetchall()
            )
            assert "s3://calaim/statewide/lake/encounter_lines/" in views["encounter_lines"]
            with duckdb.connect(str(local.warehouse), read_only=True) as local_con:
                for table in WAREHOUSE_TABLES:
                    if table not in views:
                        continue
                    query = f"SELECT count(*) FROM {table}"
                    assert (
                        remote_con.execute(query).fetchone() == local_con.execute(query).fetchone()
                    ), table
