"""PHI at rest: nothing the pipeline creates under the data root is world-readable; it is
owner-only by default and group-readable (never world) with CALAIM_SHARE_GROUP (filemodes.py)."""

from __future__ import annotations

import grp
import os
import stat
import subprocess
from pathlib import Path

import pytest

from calaim_pipeline import filemodes, lake
from calaim_pipeline.settings import DataPaths
from calaim_pipeline_tests.conftest import PROJECT_DIR
from calaim_pipeline_tests.ops_support import venv_command


def _own_group() -> str:
    return grp.getgrgid(os.getegid()).gr_name


def _modes(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under root (not root itself): relative path -> (mode, gid)."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            info = (Path(folder) / name).lstat()
            if not stat.S_ISLNK(info.st_mode):
                found[(Path(folder) / name).relative_to(root).as_posix()] = (
                    stat.S_IMODE(info.st_mode),
                    info.st_gid,
                )
    return found


def test_writers_make_owner_only_files_and_folders(tmp_path, monkeypatch):
    monkeypatch.delenv(filemodes.SHARE_GROUP_ENV, raising=False)
    previous = os.umask(0o022)  # a usual login umask: the writers must not depend on it
    try:
        paths = DataPaths(tmp_path / "data")
        path = lake.write_partition(paths.lake, "members", "CHG", "2026-09", _one_row())
        lake.write_json_atomic(paths.scorecards / "CHG" / "2026-09" / "scorecard.json", {})
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    modes = _modes(paths.root)
    assert {m for m, _ in modes.values()} == {0o600, 0o700}, modes


def test_tighten_brings_an_earlier_versions_files_to_the_policy(tmp_path, monkeypatch):
    monkeypatch.delenv(filemodes.SHARE_GROUP_ENV, raising=False)
    folder = tmp_path / "lake" / "members" / "plan_code=CHG"
    folder.mkdir(parents=True, mode=0o755)
    (folder / "data.parquet").write_bytes(b"x")
    os.chmod(folder / "data.parquet", 0o644)
    for made in (folder, folder.parent, folder.parent.parent):  # whatever the umask made
        os.chmod(made, 0o755)
    assert filemodes.tighten_tree(tmp_path / "lake") == 4  # lake, members, plan folder, file
    assert {m for m, _ in _modes(tmp_path / "lake").values()} == {0o600, 0o700}
    assert filemodes.tighten_tree(tmp_path / "lake") == 0

    monkeypatch.setenv(filemodes.SHARE_GROUP_ENV, _own_group())
    filemodes.tighten_tree(tmp_path / "lake")
    modes = _modes(tmp_path / "lake")
    assert modes["members/plan_code=CHG/data.parquet"] == (0o640, os.getegid())
    assert modes["members/plan_code=CHG"] == (0o2750, os.getegid())


def test_share_group_must_exist_and_hold_this_account(monkeypatch):
    monkeypatch.setenv(filemodes.SHARE_GROUP_ENV, "no-such-group-calaim")
    with pytest.raises(filemodes.ShareGroupError, match="no such group"):
        filemodes.policy()
    mine = {os.getegid(), *os.getgroups()}
    other = next((g for g in grp.getgrall() if g.gr_gid not in mine), None)
    if other is not None:
        monkeypatch.setenv(filemodes.SHARE_GROUP_ENV, other.gr_name)
        with pytest.raises(filemodes.ShareGroupError, match="not a member"):
            filemodes.policy()


def _one_row():
    import pyarrow as pa

    return pa.table({"member_cin": ["X"]})


def _make_run(root: Path, extra_env: dict[str, str]) -> None:
    """`make run`'s equivalent in a fresh process with a permissive login umask (0022)."""
    env = {
        **os.environ,
        "CALAIM_DATA_DIR": str(root),
        "DAGSTER_HOME": str(root / "dagster_home"),
        **extra_env,
    }
    env.pop(filemodes.SHARE_GROUP_ENV, None) if not extra_env else None
    calaim = venv_command("calaim")
    for args in (
        ["generate", "--lines", "300", "--plans", "CHG", "--months", "2026-09"],
        ["run", "--month", "ALL", "--plan", "ALL"],
    ):
        result = subprocess.run(
            [calaim, *args],
            env=env,
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=600,
            preexec_fn=lambda: os.umask(0o022),
        )
        assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("shared", [False, True], ids=["owner-only", "share-group"])
def test_nothing_under_the_data_root_is_world_readable_after_a_run(tmp_path, shared):
    root = tmp_path / "data"
    group = _own_group()
    _make_run(root, {filemodes.SHARE_GROUP_ENV: group} if shared else {})
    modes = _modes(root)
    # Everything a run makes is there: lake tables with member data, warehouse, 837 files,
    # scorecards, the Dagster instance, the sample drop.
    for expected in (
        "lake/members/plan_code=CHG/extract_month=2026-09/data.parquet",
        "lake/encounter_lines/plan_code=CHG/extract_month=2026-09/data.parquet",
        "lake/encounter_rejects/plan_code=CHG/extract_month=2026-09/data.parquet",
        "warehouse/calaim.duckdb",
        "submissions/CHG/2026-09/manifest.json",
        "scorecards/index.html",
        "dagster_home/history/runs.db",
        "landing/CHG/2026-09/members.csv",
    ):
        assert expected in modes, expected
    assert any(p.endswith(".x12") for p in modes)
    world = sorted(p for p, (mode, _) in modes.items() if mode & 0o007)
    assert world == [], world[:20]
    work = {p: m for p, (m, _) in modes.items() if p == "work" or p.startswith("work/")}
    assert all(m & 0o077 == 0 for m in work.values()), work
    if not shared:
        assert sorted({m for m, _ in modes.values()}) == [0o600, 0o700]
        return
    gid = os.getegid()
    readable = {p for p, (mode, g) in modes.items() if mode & 0o040 and g == gid}
    for table in ("members", "encounter_lines", "encounter_rejects"):
        part = f"lake/{table}/plan_code=CHG/extract_month=2026-09"
        assert {part, f"{part}/data.parquet"} <= readable, table
    assert {"warehouse", "warehouse/calaim.duckdb", "scorecards/index.html"} <= readable
    folders = [m for p, (m, _) in modes.items() if (root / p).is_dir() and p not in work]
    assert all(m & 0o2000 for m in folders)  # setgid: what is created later keeps the group
