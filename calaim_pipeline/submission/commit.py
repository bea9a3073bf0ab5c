"""One commit point for a plan-month's build: the ``submissions`` ledger partition's rename.

A build changes four things: the 837 files in the month's folder, the ``submitted_lines`` and
``submissions`` ledger partitions, and ``manifest.json``. They cannot change in one atomic step, so
a build writes them in an order where everything before the commit point can be undone and
everything after it only finishes (docs/decisions.md, "Crash-recovery order"):

1. the new 837 files, under new names (every build has new ISA13 numbers), beside the old ones;
2. an intent record (``.build-intent.json``: the new file names, which earlier ledger and manifest
   existed) and hard-linked backups of the earlier ``submitted_lines`` partition and manifest;
3. the new ``submitted_lines`` partition, then the new ``manifest.json``;
4. the new ``submissions`` partition: the commit point;
5. the earlier build's 837 files are removed, then the backups, then the intent record.

At every point the files either ledger partition names exist (nothing is removed until step 5,
and then only files the committed ledger no longer names). ``resolve`` finishes a build whose
``submissions`` names the intent's files, and otherwise puts the earlier ledger and manifest back:
the build's own ``finally``, the next build of the month and the start-up clean-up all call it,
always under the plan's ledger lock. While an intent record exists the month cannot be marked sent.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow.parquet as pq

from calaim_pipeline import lake
from calaim_pipeline.submission import ledger

MANIFEST = "manifest.json"
BUILD_INTENT = ".build-intent.json"
PREV_MANIFEST = ".manifest.prev.json"
PREV_LINES = "prev.parquet"  # beside the submitted_lines partition's data.parquet (not in views)
X12_SUFFIX = ".x12"


def _lines_files(lake_root: Path, plan: str, month: str) -> tuple[Path, Path]:
    current = lake.partition_file(lake_root, ledger.SUBMITTED_LINES, plan, month)
    return current, current.with_name(PREV_LINES)


def _backup(source: Path, backup: Path) -> None:
    backup.unlink(missing_ok=True)
    try:
        os.link(source, backup)  # a second name for the same file: instant, survives the rename
    except OSError:  # a file system without hard links: a copy, renamed into place when whole
        with lake.staged_path(backup) as staged:
            shutil.copyfile(source, staged)


def _ledger_file_names(lake_root: Path, plan: str, month: str) -> set[str] | None:
    path = lake.partition_file(lake_root, ledger.SUBMISSIONS, plan, month)
    if not path.is_file():
        return None
    return set(pq.read_table(path, columns=["file_name"]).column("file_name").to_pylist())


def _manifest_file_names(folder: Path) -> set[str]:
    path = folder / MANIFEST
    if not path.is_file():
        return set()
    return {f["file_name"] for f in json.loads(path.read_text(encoding="utf-8"))["files"]}


def remove_unnamed_files(lake_root: Path, folder: Path, plan: str, month: str) -> list[str]:
    """Remove 837 files of the folder that neither the manifest nor the ledger names (an
    interrupted build's new files, or an earlier build's files after a commit). Caller holds the
    plan's ledger lock. Returns the names removed."""
    if not folder.is_dir():
        return []
    named = _manifest_file_names(folder)
    candidates = [
        p
        for p in folder.iterdir()
        if p.suffix == X12_SUFFIX and not p.name.startswith(".") and p.name not in named
    ]
    if not candidates:
        return []
    named |= _ledger_file_names(lake_root, plan, month) or set()
    removed = []
    for path in candidates:
        if path.name not in named and path.is_file():
            path.unlink()
            removed.append(path.name)
    return removed


def _restore(backup: Path, target: Path, existed: bool) -> None:
    if backup.is_file():
        os.replace(backup, target)
    elif not existed:
        target.unlink(missing_ok=True)
    # else: the backup was already put back by an earlier (interrupted) resolve


def resolve(
    lake_root: Path, folder: Path, plan: str, month: str, *, sweep: bool = True
) -> str | None:
    """Finish or undo the month's interrupted build; "completed", "rolled back", or None when no
    build was in progress. Idempotent, so a crash while resolving is resolved the next time.
    ``sweep`` then removes 837 files nothing names. Caller holds the plan's ledger lock."""
    intent_path = folder / BUILD_INTENT
    lines, prev_lines = _lines_files(lake_root, plan, month)
    prev_manifest = folder / PREV_MANIFEST
    outcome = None
    if intent_path.is_file():
        intent = json.loads(intent_path.read_text(encoding="utf-8"))
        if _ledger_file_names(lake_root, plan, month) == set(intent["files"]):
            outcome = "completed"
        else:
            _restore(prev_lines, lines, intent["had_lines"])
            _restore(prev_manifest, folder / MANIFEST, intent["had_manifest"])
            outcome = "rolled back"
    prev_lines.unlink(missing_ok=True)
    prev_manifest.unlink(missing_ok=True)
    if sweep:
        remove_unnamed_files(lake_root, folder, plan, month)
    intent_path.unlink(missing_ok=True)
    return outcome


@contextmanager
def month_commit(
    lake_root: Path, folder: Path, plan: str, month: str, files: list[str]
) -> Iterator[None]:
    """Steps 2-5 around the block that writes ``submitted_lines``, the manifest and, last,
    ``submissions``. The caller holds the plan's ledger lock and has written ``files``."""
    # A crashed earlier build of this month first; its files (and the earlier build's) are swept
    # when this build resolves, not now: the new files are not named by anything yet.
    resolve(lake_root, folder, plan, month, sweep=False)
    lines, prev_lines = _lines_files(lake_root, plan, month)
    manifest = folder / MANIFEST
    intent = {
        "files": sorted(files),
        "had_lines": lines.is_file(),
        "had_manifest": manifest.is_file(),
    }
    lake.write_json_atomic(folder / BUILD_INTENT, intent)
    if intent["had_lines"]:
        _backup(lines, prev_lines)
    if intent["had_manifest"]:
        _backup(manifest, folder / PREV_MANIFEST)
    try:
        yield
    finally:
        resolve(lake_root, folder, plan, month)


def interrupted(folder: Path) -> bool:
    """Whether a build of the month was interrupted and not yet resolved."""
    return (folder / BUILD_INTENT).is_file()
