"""Finding a plan-month's files under the landing folder, refusing anything unsafe or unknown."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from calaim_pipeline.settings import MONTH_PATTERN, PLAN_CODE_PATTERN, DataPaths

ENCOUNTER_SUFFIXES = (".csv", ".csv.gz", ".parquet")


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


def is_encounter_file(path: Path) -> bool:
    name = path.name
    return name.startswith("encounters") and name.endswith(ENCOUNTER_SUFFIXES) and path.is_file()


def find_drop(paths: DataPaths, plan: str, month: str, known_plans: list[str]) -> PlanMonthDrop:
    """The files of one plan-month; a missing folder, roster or extract is a clear error."""
    folder = plan_month_folder(paths, plan, month, known_plans)
    if not folder.is_dir():
        raise LandingError(f"no landing folder for {plan} {month}: expected {folder}")
    encounter_files = tuple(sorted(p for p in folder.iterdir() if is_encounter_file(p)))
    if not encounter_files:
        raise LandingError(f"{folder}: no encounters*.csv, *.csv.gz or *.parquet file")
    for required in ("members.csv", "providers.csv"):
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
            if any(is_encounter_file(p) for p in month_dir.iterdir()):
                found.append((plan_dir.name, month_dir.name))
    return found, refused
