"""generate_sample: landing files plus a truth file for every plan-month.

Streams claim by claim: nothing grows with the number of lines except counters and the short list of
dedicated roster members. Every claim has its own random.Random seeded from (seed, plan, month, claim
index), so an earlier month's claim can be regenerated to serve as the original of a replacement or
void without keeping it in memory.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from calaim_pipeline.ingest.profiles import ActiveProfile

from .context import MonthCtx
from .defects_content import kinds_for
from .incidents import Incident, check_incidents
from .month_job import FILE_FORMATS, TRUTH_COLUMNS, MonthJob  # noqa: F401 (TRUTH_COLUMNS: the package exports it)
from .parallel import PARALLEL_MIN_LINES, make_executor, worker_count
from .people import EARLIEST_SERVICE, PlanPeople
from .profiled import configured_shapes, reshape_month
from .vocab import load_plans

DEFAULT_MONTHS = ("2026-06", "2026-07", "2026-08", "2026-09")
DEFAULT_PLAN_LINES = {"CHG": 2000, "HPSM": 6000, "LACARE": 20000}
_MONTH_RE = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_OLDEST_DAYS = 600  # oldest service date a month's lines can carry, in days before the month


def generate_sample(
    data_root: Path,
    *,
    seed: int = 42,
    months: Sequence[str] = DEFAULT_MONTHS,
    plan_lines: Mapping[str, int] | None = None,
    defect_rate: float = 0.02,
    file_format: str = "csv",
    files_per_month: int = 1,
    incidents: Mapping[str, Incident] | None = None,
    shapes: Mapping[str, ActiveProfile] | None = None,
) -> dict[str, Any]:
    """Write a deterministic synthetic extract (landing/) and its expected outcome (truth/).

    Why: the pipeline needs realistic volume to run on and an answer key to be tested against; both
    come from one seed. Months should lie fully before the day the pipeline runs (DATE_IN_FUTURE
    compares with the run date). Returns {"PLAN/YYYY-MM": stats}: files, lines, claims, roster
    members, replacements, voids, defective claims by rule id ("defects") and truth rows by rule id
    ("rule_rows").

    `incidents` ({"PLAN/YYYY-MM": Incident}, see incidents.py) breaks an extra share of a month's
    claims one way, so the month fails or warns for a realistic reason; its story is in the
    month's stats ("incident").

    `shapes` ({plan: profile}) writes a plan's files in its ingest profile's shape (profiled.py);
    by default each plan's configured profile (profiles.yaml), so `calaim run` can read them.
    """
    data_root = Path(data_root)
    months = tuple(months)
    _check_arguments(months, defect_rate, file_format, files_per_month)
    incidents = dict(incidents or {})
    check_incidents(incidents)
    plans = {p["code"]: (i, p) for i, p in enumerate(load_plans())}
    plan_lines = dict(DEFAULT_PLAN_LINES if plan_lines is None else plan_lines)
    for code, lines in plan_lines.items():
        if code not in plans:
            raise ValueError(f"unknown plan code {code!r}: not in plans.yaml")
        if int(lines) < 0:
            raise ValueError(f"plan_lines[{code!r}] must be >= 0")
    shapes = configured_shapes(plan_lines) if shapes is None else shapes
    kinds = kinds_for(file_format)
    summary: dict[str, Any] = {}
    workers = worker_count()
    big = max(plan_lines.values(), default=0) >= PARALLEL_MIN_LINES
    executor = make_executor(workers) if workers > 1 and big else None
    try:
        for code, lines in plan_lines.items():
            plan_index, plan = plans[code]
            people_args = (seed, plan, plan_index, int(lines))
            people = PlanPeople(*people_args)
            previous: tuple[MonthCtx, int, float] | None = None
            for run_index, month in enumerate(months):
                mc = MonthCtx.build(seed, code, month, run_index)
                job = MonthJob(
                    data_root,
                    seed,
                    people,
                    people_args,
                    mc,
                    int(lines),
                    defect_rate,
                    file_format,
                    files_per_month,
                    kinds,
                    previous,
                    executor if int(lines) >= PARALLEL_MIN_LINES else None,
                    incidents.get(f"{code}/{month}"),
                )
                stats = job.run()
                if code in shapes:
                    reshape_month(job.landing, shapes[code])
                previous = (mc, stats.claims, job.clean_from)
                summary[f"{code}/{month}"] = {"plan": code, "month": month, **stats.as_dict()}
                if code in shapes:
                    summary[f"{code}/{month}"]["profile"] = shapes[code].name
                if job.incident is not None:
                    summary[f"{code}/{month}"]["incident"] = job.incident.story
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
    return summary


def _check_arguments(
    months: tuple[str, ...], defect_rate: float, file_format: str, files_per_month: int
) -> None:
    if not months:
        raise ValueError("months must not be empty")
    for month in months:
        if not _MONTH_RE.fullmatch(month):
            raise ValueError(f"month {month!r} is not YYYY-MM")
        year, mon = (int(x) for x in month.split("-"))
        if (
            date(year, mon, 1).toordinal() - _OLDEST_DAYS
            < date.fromisoformat(EARLIEST_SERVICE).toordinal()
        ):
            raise ValueError(f"month {month!r} is too early for the sample enrollment spans")
    if list(months) != sorted(set(months)):
        raise ValueError("months must be distinct and in increasing order")
    if not 0.0 <= defect_rate <= 1.0:
        raise ValueError("defect_rate must be within [0, 1]")
    if file_format not in FILE_FORMATS:
        raise ValueError(f"file_format must be one of {sorted(FILE_FORMATS)}")
    if files_per_month < 1:
        raise ValueError("files_per_month must be >= 1")
