"""Clean up what a crashed run left under the data root, before a run starts.

A process killed mid-run (kill -9, OOM, a lost node) runs no ``finally``: it leaves temporary files
beside lake partitions, submission files and scorecards, a staging folder under ``work/`` holding
member CINs and names, and possibly a half-finished submission build. ``recover`` removes and
resolves all of it, and is called at the start of ``calaim run`` and of every plan-month run (the
validating asset), so debris lives at most until the next run.

Runs are concurrent (the daemon runs two at once; ``calaim run`` may run beside it), so only what a
*dead* process left is touched: temporary names and staging folders carry their creator's owner
token (owner.py), and a submission folder is resolved only under its plan's ledger lock, taken
without waiting (a live build holds it). Nothing here imports Dagster: failing the Dagster runs of
dead processes is stale_runs.py.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from calaim_pipeline import filemodes, owner
from calaim_pipeline.settings import MONTH_PATTERN, PLAN_CODE_PATTERN, DataPaths
from calaim_pipeline.submission import commit, ledger

DUCKDB_TEMP_PREFIX = "tmp_"  # DuckDB's COPY writes tmp_<name> and renames it onto <name>


class WorkFolder:
    """A private (0700) staging folder ``<data root>/work/<label>_<owner token>_<random>``.

    Staging holds member data, so it is never group- or world-readable, and it is removed by
    ``remove()`` in the creator's ``finally``; if the creator dies first, ``recover`` removes it
    once the token's process is gone. A ``spill`` subfolder is there for DuckDB."""

    def __init__(self, paths: DataPaths, label: str) -> None:
        filemodes.ensure_dir(paths.work, private=True)
        self.path = paths.work / owner.folder_name(label)
        self.path.mkdir(mode=0o700)
        os.chmod(self.path, 0o700)
        (self.path / "spill").mkdir(mode=0o700)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


@dataclass
class Recovered:
    """What ``recover`` did: paths relative to the data root, never file contents."""

    temp_files: list[str] = field(default_factory=list)
    work_folders: list[str] = field(default_factory=list)
    builds: list[str] = field(default_factory=list)  # "<plan> <month>: completed|rolled back"
    unnamed_files: list[str] = field(default_factory=list)
    busy_plans: list[str] = field(default_factory=list)  # ledger locked by a live process

    @property
    def anything(self) -> bool:
        return bool(self.temp_files or self.work_folders or self.builds or self.unnamed_files)

    def summary(self) -> str:
        parts = [
            f"{len(self.work_folders)} staging folder(s)",
            f"{len(self.temp_files)} temporary file(s)",
            f"{len(self.unnamed_files)} unlisted 837 file(s) removed",
        ]
        parts += [f"interrupted build {b}" for b in self.builds]
        return "; ".join(parts)


def _is_temp_name(name: str) -> bool:
    return name.startswith(owner.TEMP_PREFIX) or name.startswith(
        DUCKDB_TEMP_PREFIX + owner.TEMP_PREFIX
    )


def _remove_work_folders(paths: DataPaths, out: Recovered) -> None:
    if not paths.work.is_dir():
        return
    for entry in paths.work.iterdir():
        if entry.is_symlink() or not owner.left_behind(entry, owner.folder_owner(entry.name)):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        out.work_folders.append(entry.relative_to(paths.root).as_posix())


def _remove_temp_files(paths: DataPaths, area: Path, out: Recovered) -> None:
    if not area.is_dir():
        return
    for folder, _dirs, files in os.walk(area):
        for name in files:
            if not _is_temp_name(name):
                continue
            path = Path(folder) / name
            if owner.left_behind(path, owner.temp_owner(name)):
                path.unlink(missing_ok=True)
                out.temp_files.append(path.relative_to(paths.root).as_posix())


def _resolve_builds(paths: DataPaths, out: Recovered) -> None:
    if not paths.submissions.is_dir():
        return
    for plan_dir in sorted(paths.submissions.iterdir()):
        if not (plan_dir.is_dir() and PLAN_CODE_PATTERN.fullmatch(plan_dir.name)):
            continue
        plan = plan_dir.name
        with ledger.try_ledger_lock(paths.lake, plan) as locked:
            if not locked:
                out.busy_plans.append(plan)
                continue
            for month_dir in sorted(plan_dir.iterdir()):
                if not (month_dir.is_dir() and MONTH_PATTERN.fullmatch(month_dir.name)):
                    continue
                month = month_dir.name
                outcome = commit.resolve(paths.lake, month_dir, plan, month, sweep=False)
                if outcome:
                    out.builds.append(f"{plan} {month}: {outcome}")
                removed = commit.remove_unnamed_files(paths.lake, month_dir, plan, month)
                out.unnamed_files += [f"submissions/{plan}/{month}/{name}" for name in removed]


def recover(paths: DataPaths) -> Recovered:
    """Remove dead processes' staging folders and temporary files, and finish or undo their
    interrupted submission builds. Safe beside live runs; cheap when there is nothing to do."""
    out = Recovered()
    _remove_work_folders(paths, out)
    for area in (paths.lake, paths.submissions, paths.scorecards, paths.warehouse.parent):
        _remove_temp_files(paths, area, out)
    _resolve_builds(paths, out)
    return out


def tighten_modes(paths: DataPaths) -> int:
    """Bring what an earlier version wrote (0644 files in 0755 folders) to the file-mode policy
    (filemodes.py). Landing files are the plans' drop, not the pipeline's, and are left alone."""
    changed = filemodes.tighten_tree(paths.work, private=True)
    for area in (
        paths.lake,
        paths.warehouse.parent,
        paths.submissions,
        paths.scorecards,
        paths.root / "dagster_home",
    ):
        changed += filemodes.tighten_tree(area)
    return changed
