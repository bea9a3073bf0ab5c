"""Finding a plan-month's files under the landing folder, refusing anything unsafe or unknown."""

from __future__ import annotations

import hashlib
import json
import stat
from dataclasses import dataclass
from pathlib import Path

from calaim_pipeline.settings import MONTH_PATTERN, PLAN_CODE_PATTERN, DataPaths

ENCOUNTER_SUFFIXES = (".csv", ".csv.gz", ".parquet")
ROSTER_FILES = ("members.csv", "providers.csv")


class LandingError(ValueError):
    """The landing folder holds something the input contract does not allow."""


@dataclass(frozen=True)
class PlanMonthDrop:
    plan: str
    month: str
    folder: Path
    encounter_files: tuple[Path, ...]
    members_file: Path
    providers_file: Path

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file the plan-month's judgement reads."""
        return (*self.encounter_files, self.members_file, self.providers_file)


def _check_plan_code(plan: str, known_plans: list[str]) -> None:
    if not PLAN_CODE_PATTERN.fullmatch(plan):
        raise LandingError(f"plan folder {plan!r} is not a valid plan code (2-12 of A-Z 0-9 _)")
    if plan not in known_plans:
        raise LandingError(f"plan folder {plan!r} is not a configured plan (plans.yaml)")


def _check_month(month: str) -> None:
    if not MONTH_PATTERN.fullmatch(month):
        raise LandingError(f"month folder {month!r} is not YYYY-MM")


def plan_month_folder(paths: DataPaths, plan: str, month: str, known_plans: list[str]) -> Path:
    """The landing folder of one plan-month, guaranteed to sit inside the data root."""
    _check_plan_code(plan, known_plans)
    _check_month(month)
    landing = paths.landing.resolve()
    folder = (landing / plan / month).resolve()
    if landing not in folder.parents:
        raise LandingError(f"{plan}/{month} resolves outside the landing folder")
    return folder


def is_encounter_name(name: str) -> bool:
    return name.startswith("encounters") and name.endswith(ENCOUNTER_SUFFIXES)


def unsafe_reason(path: Path, root: Path) -> str | None:
    """Why landing must not read ``path`` (None when it may): only regular files that resolve
    inside the data root are read, so a link cannot pull a file from elsewhere into the lake."""
    try:
        target = path.resolve(strict=True)
        mode = target.stat().st_mode
    except (OSError, RuntimeError):
        return "a broken link or unreadable entry"
    if root.resolve() not in target.parents:
        return "a link to a file outside the data root"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    return None


def _safe_file(path: Path, root: Path) -> Path:
    reason = unsafe_reason(path, root)
    if reason is not None:
        raise LandingError(
            f"{path.parent.parent.name}/{path.parent.name}/{path.name}: refused, {reason}; "
            "copy the file itself into the landing folder"
        )
    return path


def landing_fingerprint(files: tuple[Path, ...] | list[Path]) -> str:
    """Names, sizes and modification times of a plan-month's files: changes when a file lands or
    changes. Cheap enough for the sensor's every tick; the judgement id holds the content digest."""
    entries = []
    for path in files:
        try:
            info = path.stat()
        except OSError:  # a broken link: still an entry, refused when the month runs
            info = path.lstat()
        entries.append((path.name, info.st_size, info.st_mtime_ns))
    return fingerprint_of(entries)


def fingerprint_of(entries: list[tuple[str, int, int]]) -> str:
    """The fingerprint of (name, size, mtime_ns) entries, wherever they were listed (a folder, or
    a bucket whose objects a step downloads with their modification times)."""
    return hashlib.sha256(json.dumps(sorted(entries)).encode()).hexdigest()[:16]


def is_landed_name(name: str) -> bool:
    """A file of a month folder that landing reads: an encounter file or a roster."""
    return is_encounter_name(name) or name in ROSTER_FILES


def landed_files(folder: Path) -> list[Path]:
    """The entries of a month folder that landing would read (encounter files and rosters)."""
    return sorted(p for p in folder.iterdir() if is_landed_name(p.name))


def find_drop(paths: DataPaths, plan: str, month: str, known_plans: list[str]) -> PlanMonthDrop:
    """The files of one plan-month; a missing folder, roster or extract, or a file that is not a
    regular file inside the data root, is a clear error and nothing is read."""
    folder = plan_month_folder(paths, plan, month, known_plans)
    if not folder.is_dir():
        raise LandingError(f"no landing folder for {plan} {month}: expected {folder}")
    candidates = landed_files(folder)
    for path in candidates:
        _safe_file(path, paths.root)
    encounter_files = tuple(p for p in candidates if is_encounter_name(p.name))
    if not encounter_files:
        raise LandingError(f"{folder}: no encounters*.csv, *.csv.gz or *.parquet file")
    for required in ROSTER_FILES:
        if not (folder / required).is_file():
            raise LandingError(f"{folder}: {required} is missing")
    return PlanMonthDrop(
        plan=plan,
        month=month,
        folder=folder,
        encounter_files=encounter_files,
        members_file=folder / "members.csv",
        providers_file=folder / "providers.csv",
    )


def landed_plan_months(
    paths: DataPaths, known_plans: list[str]
) -> tuple[list[tuple[str, str]], list[str]]:
    """(plan, month) pairs that have files, and messages for folders that are refused."""
    found: list[tuple[str, str]] = []
    refused: list[str] = []
    if not paths.landing.is_dir():
        return found, refused
    for plan_dir in sorted(paths.landing.iterdir()):
        if not plan_dir.is_dir():
            continue
        try:
            _check_plan_code(plan_dir.name, known_plans)
        except LandingError as exc:
            refused.append(str(exc))
            continue
        for month_dir in sorted(plan_dir.iterdir()):
            if not month_dir.is_dir():
                continue
            if not MONTH_PATTERN.fullmatch(month_dir.name):
                refused.append(f"{plan_dir.name}/{month_dir.name}: month folder is not YYYY-MM")
                continue
            entries = landed_files(month_dir)
            for path in entries:
                reason = unsafe_reason(path, paths.root)
                if reason is not None:
                    refused.append(f"{plan_dir.name}/{month_dir.name}/{path.name}: {reason}")
            if any(is_encounter_name(p.name) for p in entries):
                found.append((plan_dir.name, month_dir.name))
    return found, refused
