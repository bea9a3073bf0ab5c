"""Versioned reference code lists for the 837I situational rules (issue #14), as data.

* ``nubc_codes.csv``: the NUBC UB-04 value lists the 837I ``CL1`` carries: priority (type) of
  admission (FL14, CL101), point of origin (FL15, CL102) and patient discharge status (FL17,
  CL103), each code with its effective dates and source.
* ``hcpcs_revenue_codes.csv``: outpatient revenue-code ranges whose lines must carry a HCPCS/CPT
  code (assumed from CMS's outpatient billing rules until the DHCS companion guide says otherwise).

The rules read them as SQL lists (``sql_values``); a code's effective dates are kept for review and
for the catalog fingerprint, and a code whose ``effective_to`` has passed is no longer valid.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from datetime import date
from functools import cache
from pathlib import Path

from calaim_pipeline.sqltext import sql_list

CATALOG_DIR = Path(__file__).resolve().parent
NUBC_LISTS = ("admission_type", "point_of_origin", "patient_status")
# Patient status 30 "still patient": the stay continues, so the bill cannot be admit-through-discharge.
STILL_PATIENT = "30"


@dataclass(frozen=True)
class NubcCode:
    list: str
    code: str
    description: str
    effective_from: str
    effective_to: str | None
    source: str


@dataclass(frozen=True)
class RevenueRange:
    first_code: str
    last_code: str
    description: str
    effective_from: str
    effective_to: str | None
    source: str


def _rows(name: str) -> list[dict[str, str]]:
    with (CATALOG_DIR / name).open(newline="", encoding="utf-8") as handle:
        return [
            {**row, "effective_to": row["effective_to"] or None} for row in csv.DictReader(handle)
        ]


@cache
def nubc_codes() -> tuple[NubcCode, ...]:
    """Every NUBC code of the three CL1 lists, with effective dates."""
    codes = tuple(NubcCode(**row) for row in _rows("nubc_codes.csv"))
    unknown = {c.list for c in codes} - set(NUBC_LISTS)
    if unknown:
        raise ValueError(f"nubc_codes.csv: unknown lists {sorted(unknown)}")
    return codes


@cache
def hcpcs_revenue_ranges() -> tuple[RevenueRange, ...]:
    """Outpatient revenue-code ranges (inclusive, 4-digit) that require a HCPCS/CPT code."""
    return tuple(RevenueRange(**row) for row in _rows("hcpcs_revenue_codes.csv"))


def _current(effective_to: str | None, today: date) -> bool:
    return effective_to is None or date.fromisoformat(effective_to) >= today


def sql_values(today: date) -> dict[str, str]:
    """The rules' placeholders: ``{nubc_admission_type}``, ``{nubc_point_of_origin}``,
    ``{nubc_patient_status}`` (SQL lists of codes) and ``{hcpcs_revenue_codes}`` (a condition on
    ``revenue_code``)."""
    values = {
        f"nubc_{name}": sql_list(
            [c.code for c in nubc_codes() if c.list == name and _current(c.effective_to, today)]
        )
        for name in NUBC_LISTS
    }
    ranges = [r for r in hcpcs_revenue_ranges() if _current(r.effective_to, today)]
    values["hcpcs_revenue_codes"] = (
        "("
        + " OR ".join(f"revenue_code BETWEEN '{r.first_code}' AND '{r.last_code}'" for r in ranges)
        + ")"
    )
    return values


def fingerprint_payload() -> dict[str, list[dict]]:
    """What of these lists decides a verdict, for ``catalog_fingerprint``."""
    return {
        "nubc_codes": [asdict(c) for c in nubc_codes()],
        "hcpcs_revenue_codes": [asdict(r) for r in hcpcs_revenue_ranges()],
    }
