"""Start-up clean-up (recovery.py), owner tokens (owner.py), the build's commit point
(submission/commit.py) and failing the runs of dead `calaim` processes (stale_runs.py), each on
hand-made crash states. test_crash_recovery.py kills real `calaim run` processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster._core.storage.dagster_run import DagsterRun

from calaim_pipeline import lake, owner, recovery
from calaim_pipeline.settings import DataPaths
from calaim_pipeline.stale_runs import OWNER_TAG, fail_dead_runs
from calaim_pipeline.submission import commit, ledger
from calaim_pipeline.submission.build import SUBMISSIONS_SCHEMA

PLAN, MONTH = "CHG", "2026-09"


def _dead_owner() -> owner.Owner:
    """A process of this host that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    here = owner.current()
    start = owner._start_time(child.pid) or 0  # read while it runs (or right after: may be None)
    child.wait()
    return owner.Owner(child.pid, start or 1, here.host, here.boot)


def test_owner_tokens_tell_live_from_dead_processes(tmp_path):
    me = owner.current()
    assert owner.parse_token(owner.token()) == me
    assert owner.is_alive(me) is True
    dead = _dead_owner()
    assert owner.is_alive(dead) is False
    assert owner.is_alive(me._replace(start=me.start + 1)) is False  # a reused pid is not the owner
    assert owner.is_alive(me._replace(boot="ffffff" if me.boot != "ffffff" else "eeeeee")) is False
    foreign = me._replace(host="ffffff" if me.host != "ffffff" else "eeeeee")
    assert owner.is_alive(foreign) is None

    name = f"{owner.temp_prefix()}abc.parquet"
    assert owner.temp_owner(name) == owner.temp_owner(f"tmp_{name}") == me
    assert owner.folder_owner(owner.folder_name("CHG_2026-09")) == me
    fresh = tmp_path / "x"
    fresh.touch()
    assert owner.left_behind(fresh, None)  # a name from before owner tokens
    assert not owner.left_behind(fresh, foreign)  # another host's, and recent
    os.utime(fresh, (time.time() - owner.FOREIGN_GRACE_SECONDS - 60,) * 2)
    assert owner.left_behind(fresh, foreign)


def test_recover_removes_only_what_dead_processes_left(tmp_path):
    paths = DataPaths(tmp_path / "data")
    part = lake.partition_dir(paths.lake, "encounter_lines", PLAN, MONTH)
    part.mkdir(parents=True)
    (part / "data.parquet").write_bytes(b"published")
    dead = owner.token(_dead_owner())
    debris = [
        part / f".tmp-{dead}-a1b2c3.parquet",
        part / f"tmp_.tmp-{dead}-a1b2c3.parquet",  # DuckDB's own temporary beside ours
        part / ".tmp-k3j2h1g0.parquet",  # made before owner tokens
        paths.submissions / PLAN / MONTH / f".tmp-{dead}-zz.x12",
        paths.submissions / PLAN / MONTH / f".tmp-{dead}-zz.x12.part0001",
        paths.submissions / "_control" / f".tmp-{dead}-CHG-x.tmp",
        paths.scorecards / PLAN / MONTH / f".tmp-{dead}-q.html",
    ]
    live = [part / f"{owner.temp_prefix()}mine.parquet", part / f"tmp_{owner.temp_prefix()}m.pq"]
    for path in [*debris, *live]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    dead_folder = paths.work / f"CHG_2026-09_{dead}_0123abcd"
    legacy_folder = paths.work / "submission_CHG_2026-09_89abcdef"
    for folder in (dead_folder, legacy_folder):
        (folder / "spill").mkdir(parents=True)
        (folder / "members.parquet").write_bytes(b"staged")
    mine = recovery.WorkFolder(paths, "CHG_2026-09")
    assert (mine.path.stat().st_mode & 0o777, paths.work.stat().st_mode & 0o777) == (0o700, 0o700)

    found = recovery.recover(paths)

    assert not any(p.exists() for p in debris) and all(p.exists() for p in live)
    assert not dead_folder.exists() and not legacy_folder.exists() and mine.path.is_dir()
    assert (part / "data.parquet").read_bytes() == b"published"
    assert len(found.temp_files) == len(debris) and len(found.work_folders) == 2
    assert recovery.recover(paths).anything is False  # nothing left to do
    mine.remove()
    assert not mine.path.exists()


# --- the build's commit point, on hand-made crash states ------------------------------------


def _x12(paths: DataPaths, name: str) -> Path:
    return paths.submissions / PLAN / MONTH / name


JUDGEMENT = "j-test"


def _judged_and_passed(paths: DataPaths) -> None:
    """The gate's records of a month whose checks passed on judgement JUDGEMENT (gate.py)."""
    from calaim_pipeline import gate
    from calaim_pipeline_tests.records import record_dict

    record = record_dict(plan=PLAN, month=MONTH, judgement_id=JUDGEMENT)
    lake.write_json_atomic(lake.metrics_path(paths.lake, PLAN, MONTH), record)
    gate.record_checks(paths.lake, PLAN, MONTH, JUDGEMENT, [])


def _write_build(paths: DataPaths, names: list[str], tag: str, *, commit_point: bool) -> None:
    """What a build writes: 837 files, submitted_lines, manifest, and (commit) submissions."""
    for name in names:
        _x12(paths, name).parent.mkdir(parents=True, exist_ok=True)
        _x12(paths, name).write_text(tag)
    lines = pa.table({"file_name": names, "tag": [tag] * len(names)})
    lake.write_partition(paths.lake, ledger.SUBMITTED_LINES, PLAN, MONTH, lines)
    manifest = {"files": [{"file_name": n} for n in names], "tag": tag}
    lake.write_json_atomic(_x12(paths, commit.MANIFEST), manifest)
    if commit_point:
        rows = pa.Table.from_pylist(
            [
                {
                    "file_name": n,
                    "status": ledger.BUILT,
                    "sha256": ledger.sha256_of(_x12(paths, n)),
                    "created_at": "2026-10-01T00:00:00+00:00",
                    "judgement_id": JUDGEMENT,
                }
                for n in names
            ],
            SUBMISSIONS_SCHEMA,
        )
        lake.write_partition(paths.lake, ledger.SUBMISSIONS, PLAN, MONTH, rows)


def _state(paths: DataPaths) -> dict:
    folder = paths.submissions / PLAN / MONTH
    lines = lake.partition_file(paths.lake, ledger.SUBMITTED_LINES, PLAN, MONTH)
    ledger_file = lake.partition_file(paths.lake, ledger.SUBMISSIONS, PLAN, MONTH)
    manifest = folder / commit.MANIFEST
    return {
        "folder": sorted(p.name for p in folder.iterdir()) if folder.is_dir() else [],
        "lines": sorted(pq.read_table(lines)["tag"].to_pylist()) if lines.is_file() else None,
        "submissions": sorted(pq.read_table(ledger_file)["file_name"].to_pylist())
        if ledger_file.is_file()
        else None,
        "manifest": json.loads(manifest.read_text())["tag"] if manifest.is_file() else None,
        "backups": sorted(p.name for p in lines.parent.glob("prev*"))
        if lines.parent.is_dir()
        else [],
    }


OLD, NEW = ["CHG_2026-09_837P_000000001.x12"], ["CHG_2026-09_837P_000000002.x12"]


def _crash_during_rebuild(paths: DataPaths, *, committed: bool, earlier: bool = True) -> object:
    """Leave the files as a build killed inside commit.month_commit would: the block is entered
    and never left (the caller keeps it referenced, so its ``finally`` does not run)."""
    if earlier:
        _write_build(paths, OLD, "old", commit_point=True)
    for name in NEW:
        _x12(paths, name).parent.mkdir(parents=True, exist_ok=True)
        _x12(paths, name).write_text("new")
    folder = paths.submissions / PLAN / MONTH
    block = commit.month_commit(paths.lake, folder, PLAN, MONTH, NEW)
    block.__enter__()  # intent record and backups written
    _write_build(paths, NEW, "new", commit_point=committed)
    return block  # the process "dies" here


@pytest.mark.parametrize("committed", [False, True])
def test_interrupted_rebuild_ends_as_one_whole_build(tmp_path, committed):
    paths = DataPaths(tmp_path / "data")
    _killed = _crash_during_rebuild(paths, committed=committed)
    folder = paths.submissions / PLAN / MONTH
    assert commit.interrupted(folder)
    before = _state(paths)
    # The warehouse never names a missing file: both ledger partitions name files that exist.
    assert set(before["submissions"]) <= set(before["folder"])
    with pytest.raises(ledger.LedgerError, match="interrupted"):
        ledger.mark_sent(paths.lake, paths.submissions, PLAN, MONTH, "reviewer")

    found = recovery.recover(paths)

    kept, tag = (NEW, "new") if committed else (OLD, "old")
    assert found.builds == [f"{PLAN} {MONTH}: {'completed' if committed else 'rolled back'}"]
    assert _state(paths) == {
        "folder": sorted([*kept, commit.MANIFEST]),
        "lines": [tag],
        "submissions": kept,
        "manifest": tag,
        "backups": [],
    }
    _judged_and_passed(paths)
    ledger.mark_sent(paths.lake, paths.submissions, PLAN, MONTH, "reviewer")  # now allowed


def test_interrupted_first_build_leaves_no_build(tmp_path):
    paths = DataPaths(tmp_path / "data")
    _killed = _crash_during_rebuild(paths, committed=False, earlier=False)
    recovery.recover(paths)
    assert _state(paths) == {
        "folder": [],
        "lines": None,
        "submissions": None,
        "manifest": None,
        "backups": [],
    }


def test_files_written_before_the_intent_are_removed_unless_named(tmp_path):
    """A build killed while writing its 837 files (before the intent record): the new files are
    named by nothing and go; the earlier build's stay; a non-837 file is not touched."""
    paths = DataPaths(tmp_path / "data")
    _write_build(paths, OLD, "old", commit_point=True)
    _x12(paths, NEW[0]).write_text("new")
    _x12(paths, "README.txt").write_text("note")
    found = recovery.recover(paths)
    assert found.unnamed_files == [f"submissions/{PLAN}/{MONTH}/{NEW[0]}"]
    assert _state(paths)["folder"] == sorted([*OLD, "README.txt", commit.MANIFEST])


def test_recover_leaves_a_plan_whose_ledger_a_live_process_holds(tmp_path):
    paths = DataPaths(tmp_path / "data")
    _write_build(paths, OLD, "old", commit_point=True)
    _x12(paths, NEW[0]).write_text("being written")
    with ledger.ledger_lock(paths.lake, PLAN):
        # flock is per open file: a second open in this process counts as another holder.
        found = recovery.recover(paths)
    assert found.busy_plans == [PLAN] and _x12(paths, NEW[0]).exists()


# --- runs of dead `calaim` processes ---------------------------------------------------------


def test_runs_of_dead_calaim_processes_are_failed(instance):
    dead, me = owner.token(_dead_owner()), owner.token()
    runs = {
        "dead": DagsterRun(
            "plan_month_job", status=dg.DagsterRunStatus.STARTED, tags={OWNER_TAG: dead}
        ),
        "live": DagsterRun(
            "plan_month_job", status=dg.DagsterRunStatus.STARTED, tags={OWNER_TAG: me}
        ),
        "daemon": DagsterRun("plan_month_job", status=dg.DagsterRunStatus.STARTED),
    }
    for run in runs.values():
        instance.add_run(run)
    assert fail_dead_runs(instance) == [runs["dead"].run_id]
    status = {k: instance.get_run_by_id(r.run_id).status for k, r in runs.items()}
    assert status == {
        "dead": dg.DagsterRunStatus.FAILURE,
        "live": dg.DagsterRunStatus.STARTED,
        "daemon": dg.DagsterRunStatus.STARTED,
    }
    assert fail_dead_runs(instance) == []
